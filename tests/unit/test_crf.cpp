// The linear-chain CRF (ops/crf.h, autograd/crf.h) against brute force: on sentences short enough
// to list every path, log Z is the log-sum-exp of all path scores, the loss is log Z minus the gold
// path's score, and Viterbi's path is the best-scoring one. Padding never changes a result.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "recur/autograd/crf.h"
#include "recur/rng.h"
#include "test_util.h"

namespace recur::ag {
namespace {

struct Crf {
  index_t T, B, K;
  Tensor<double> E, A, start, end;
};

Crf random_crf(index_t T, index_t B, index_t K, std::uint64_t seed) {
  Rng rng(seed);
  Crf c{T,
        B,
        K,
        Tensor<double>(Shape{T, B, K}),
        Tensor<double>(Shape{K, K}),
        Tensor<double>(Shape{K}),
        Tensor<double>(Shape{K})};
  for (Tensor<double>* t : {&c.E, &c.A, &c.start, &c.end})
    for (index_t i = 0; i < t->numel(); ++i) (*t)[i] = rng.uniform<double>(-2.0, 2.0);
  return c;
}

// The score of `path` (length L) for sentence b.
double path_score(const Crf& c, index_t b, const std::vector<std::int32_t>& path) {
  const auto L = static_cast<index_t>(path.size());
  double s = c.start[path[0]] + c.end[path[static_cast<size_t>(L - 1)]];
  for (index_t t = 0; t < L; ++t) {
    s += c.E[(t * c.B + b) * c.K + path[static_cast<size_t>(t)]];
    if (t > 0) s += c.A[path[static_cast<size_t>(t - 1)] * c.K + path[static_cast<size_t>(t)]];
  }
  return s;
}

// Every path of length L over K tags, in order.
std::vector<std::vector<std::int32_t>> all_paths(index_t L, index_t K) {
  std::vector<std::vector<std::int32_t>> out;
  std::vector<std::int32_t> path(static_cast<size_t>(L), 0);
  while (true) {
    out.push_back(path);
    index_t i = L - 1;
    while (i >= 0 && path[static_cast<size_t>(i)] == K - 1) path[static_cast<size_t>(i--)] = 0;
    if (i < 0) return out;
    ++path[static_cast<size_t>(i)];
  }
}

constexpr double kExact = 1e-10;  // double sums of a few hundred terms

TEST(Crf, LossAndViterbiMatchBruteForce) {
  const Crf c = random_crf(5, 3, 3, 11);
  const std::vector<index_t> lengths = {5, 2, 1};
  std::vector<std::int32_t> gold(static_cast<size_t>(c.T * c.B), 0);
  Rng rng(12);
  for (auto& y : gold) y = static_cast<std::int32_t>(rng.below(3));
  double want = 0;
  std::vector<std::int32_t> best_tags(static_cast<size_t>(c.T * c.B), -1);
  for (index_t b = 0; b < c.B; ++b) {
    const index_t L = lengths[static_cast<size_t>(b)];
    double top = -std::numeric_limits<double>::infinity(), z = 0;
    std::vector<std::int32_t> best;
    for (const auto& path : all_paths(L, c.K)) {
      const double s = path_score(c, b, path);
      z += std::exp(s);
      if (s > top) {
        top = s;
        best = path;
      }
    }
    std::vector<std::int32_t> gold_path;
    for (index_t t = 0; t < L; ++t) gold_path.push_back(gold[static_cast<size_t>(t * c.B + b)]);
    want += std::log(z) - path_score(c, b, gold_path);
    for (index_t t = 0; t < L; ++t)
      best_tags[static_cast<size_t>(t * c.B + b)] = best[static_cast<size_t>(t)];
  }
  Tape<double> tape;
  const Var<double> nll = crf_nll(tape.constant(c.E), tape.constant(c.A), tape.constant(c.start),
                                  tape.constant(c.end), gold, lengths);
  EXPECT_NEAR(nll.item(), want, kExact);
  EXPECT_EQ(crf_decode(c.E, c.A, c.start, c.end, lengths), best_tags);
}

// What lies past a sentence's length (padding emissions, padding tags) changes nothing.
TEST(Crf, PaddingNeverChangesAResult) {
  Crf c = random_crf(4, 2, 4, 21);
  const std::vector<index_t> lengths = {4, 2};
  std::vector<std::int32_t> gold = {0, 1, 2, 3, 1, 0, 3, 2};
  const auto loss = [&](const Crf& x, const std::vector<std::int32_t>& tags) {
    Tape<double> tape;
    return crf_nll(tape.constant(x.E), tape.constant(x.A), tape.constant(x.start), tape.constant(x.end), tags,
                   lengths)
        .item();
  };
  const double before = loss(c, gold);
  const auto decoded = crf_decode(c.E, c.A, c.start, c.end, lengths);
  Crf padded = c;
  padded.E = c.E.clone();
  for (index_t t = 2; t < 4; ++t)
    for (index_t k = 0; k < 4; ++k) padded.E[(t * 2 + 1) * 4 + k] = 1e6;  // sentence 1 ends at t = 2
  std::vector<std::int32_t> other_gold = gold;
  other_gold[2 * 2 + 1] = 7;  // not even a tag: ignored past the length
  EXPECT_EQ(loss(padded, other_gold), before);
  EXPECT_EQ(crf_decode(padded.E, c.A, c.start, c.end, lengths), decoded);
  EXPECT_EQ(decoded[2 * 2 + 1], -1);
  // Sentence by sentence: the same numbers as in the batch.
  double apart = 0;
  for (index_t b = 0; b < 2; ++b) {
    const index_t L = lengths[static_cast<size_t>(b)];
    Crf one{L, 1, 4, Tensor<double>(Shape{L, 1, 4}), c.A, c.start, c.end};
    std::vector<std::int32_t> tags;
    for (index_t t = 0; t < L; ++t) {
      for (index_t k = 0; k < 4; ++k) one.E[t * 4 + k] = c.E[(t * 2 + b) * 4 + k];
      tags.push_back(gold[static_cast<size_t>(t * 2 + b)]);
    }
    Tape<double> tape;
    apart += crf_nll(tape.constant(one.E), tape.constant(one.A), tape.constant(one.start),
                     tape.constant(one.end), tags, {L})
                 .item();
  }
  EXPECT_NEAR(apart, before, kExact);
}

TEST(Crf, BadShapesAndTagsAreErrors) {
  const Crf c = random_crf(3, 2, 3, 5);
  Tape<double> tape;
  const auto E = tape.constant(c.E), A = tape.constant(c.A), s = tape.constant(c.start),
             e = tape.constant(c.end);
  EXPECT_TRUE(testing::throws_error_with(
      [&] {
        crf_nll(E, A, s, e, std::vector<std::int32_t>(6, 0), {3, 4});
      },
      {"sentence 1 has length 4, not in [1, 3]"}));
  EXPECT_TRUE(testing::throws_error_with(
      [&] {
        crf_nll(E, A, s, e, {0, 0, 3, 0, 0, 0}, {3, 3});
      },
      {"tag 3 at step 1 of sentence 0 is not in [0, 3)"}));
  EXPECT_TRUE(testing::throws_error_with(
      [&] {
        crf_nll(E, s, s, e, std::vector<std::int32_t>(6, 0), {3, 3});
      },
      {"transitions must be (3, 3)"}));
  EXPECT_TRUE(testing::throws_error_with([&] { crf_decode(c.E, c.A, c.start, c.end, {3}); },
                                         {"1 lengths for a batch of 2"}));
}

}  // namespace
}  // namespace recur::ag
