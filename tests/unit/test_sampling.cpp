// models::sample_token: argmax, temperature, top-k and top-p against the distributions they define.
//
// Statistical checks draw N = 20000 tokens with a fixed seed and compare each token's frequency
// with its probability p: the count is Binomial(N, p), so its frequency has standard deviation
// σ = √(p(1 − p)/N) and the test allows 5σ (plus 1e-12 for p = 0 or 1, where σ = 0). A correct
// sampler fails one token's check with probability < 6e-7, and with the seed fixed the outcome
// cannot change from run to run; a sampler with a wrong temperature or renormalization is off by
// many σ at these N (e.g. 0.5 vs 0.625 is 35σ).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "recur/models/sampling.h"
#include "test_util.h"

namespace recur::models {
namespace {

using testing::throws_error_with;

constexpr int kDraws = 20000;

std::vector<double> softmax(const std::vector<double>& logits, double temperature) {
  double top = logits[0];
  for (double l : logits) top = std::max(top, l);
  std::vector<double> p;
  double total = 0;
  for (double l : logits) total += p.emplace_back(std::exp((l - top) / temperature));
  for (double& v : p) v /= total;
  return p;
}

std::vector<int> counts_of(const std::vector<double>& logits, const SamplingOptions& options,
                           std::uint64_t seed, int draws = kDraws) {
  std::vector<int> counts(logits.size(), 0);
  Rng rng(seed);
  for (int i = 0; i < draws; ++i) {
    const std::int32_t token = sample_token(logits.data(), static_cast<index_t>(logits.size()), options, rng);
    EXPECT_GE(token, 0);
    EXPECT_LT(token, static_cast<std::int32_t>(logits.size()));
    if (token >= 0 && token < static_cast<std::int32_t>(logits.size())) ++counts[static_cast<size_t>(token)];
  }
  return counts;
}

// Every token's frequency within 5 binomial standard deviations of its probability.
::testing::AssertionResult frequencies_match(const std::vector<int>& counts, const std::vector<double>& p,
                                             int draws = kDraws) {
  for (size_t i = 0; i < p.size(); ++i) {
    const double frequency = static_cast<double>(counts[i]) / draws;
    const double sigma = std::sqrt(p[i] * (1 - p[i]) / draws);
    if (std::abs(frequency - p[i]) > 5 * sigma + 1e-12)
      return ::testing::AssertionFailure()
             << "token " << i << ": frequency " << frequency << " vs probability " << p[i] << " ("
             << std::abs(frequency - p[i]) / sigma << " σ)";
  }
  return ::testing::AssertionSuccess();
}

TEST(Sampling, ArgmaxTakesTheFirstMaximum) {
  Rng rng(1);
  SamplingOptions o;
  o.argmax = true;
  const std::vector<double> logits = {1.0, 3.0, 2.0, 3.0, -5.0};
  EXPECT_EQ(sample_token(logits.data(), 5, o, rng), 1);
  const std::vector<float> f = {-1.0f, -1.0f, -2.0f};
  EXPECT_EQ(sample_token(f.data(), 3, o, rng), 0);
  const std::vector<float> last = {0.0f, 1.0f, 2.0f, 2.5f};
  EXPECT_EQ(sample_token(last.data(), 4, o, rng), 3);
  // Argmax ignores temperature, top-k and top-p, and does not consume randomness.
  o.temperature = 100.0;
  o.top_k = 2;
  o.top_p = 0.1;
  const Rng::State before = rng.state();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(sample_token(logits.data(), 5, o, rng), 1);
  EXPECT_EQ(rng.state().state, before.state);
}

TEST(Sampling, FrequenciesMatchSoftmaxAtSeveralTemperatures) {
  const std::vector<double> logits = {0.5, -1.0, 2.0, 0.0, 1.2};
  for (double temperature : {1.0, 0.5, 2.0}) {
    SCOPED_TRACE("temperature " + std::to_string(temperature));
    SamplingOptions o;
    o.temperature = temperature;
    const std::vector<double> p = softmax(logits, temperature);
    EXPECT_TRUE(frequencies_match(counts_of(logits, o, 42), p));
  }
  // The temperature really changes the distribution: at 0.5 token 2 has p ≈ 0.786, at 1 ≈ 0.538.
  EXPECT_NEAR(softmax(logits, 0.5)[2], 0.7859, 1e-4);
  EXPECT_NEAR(softmax(logits, 1.0)[2], 0.5383, 1e-4);
}

TEST(Sampling, FloatLogitsGiveTheSameDistribution) {
  const std::vector<float> logits = {0.3f, 1.1f, -0.4f};
  const std::vector<double> p = softmax({0.3, 1.1, -0.4}, 1.0);
  std::vector<int> counts(3, 0);
  Rng rng(8);
  for (int i = 0; i < kDraws; ++i) ++counts[static_cast<size_t>(sample_token(logits.data(), 3, {}, rng))];
  EXPECT_TRUE(frequencies_match(counts, p));
}

TEST(Sampling, TopKNeverLeavesTheKLargestAndRenormalizes) {
  // Largest two: token 1 (2.0) and token 3 (1.5).
  const std::vector<double> logits = {0.1, 2.0, -1.0, 1.5, 0.3};
  SamplingOptions o;
  o.top_k = 2;
  const std::vector<int> counts = counts_of(logits, o, 7);
  EXPECT_EQ(counts[0] + counts[2] + counts[4], 0);
  const double p1 = std::exp(2.0) / (std::exp(2.0) + std::exp(1.5));
  EXPECT_TRUE(frequencies_match(counts, {0, p1, 0, 1 - p1, 0}));
  // k = 1 is greedy; k ≥ V keeps everything.
  o.top_k = 1;
  EXPECT_EQ(counts_of(logits, o, 7, 500)[1], 500);
  o.top_k = 9;
  EXPECT_TRUE(frequencies_match(counts_of(logits, o, 7), softmax(logits, 1.0)));
  // Ties at the cut go to the lower ids: of the three 1.0s, tokens 1 and 2 are kept with 0.
  const std::vector<double> tied = {2.0, 1.0, 1.0, 1.0};
  o.top_k = 3;
  const std::vector<int> c = counts_of(tied, o, 3);
  EXPECT_EQ(c[3], 0);
  const double z = std::exp(2.0) + 2 * std::exp(1.0);
  EXPECT_TRUE(frequencies_match(c, {std::exp(2.0) / z, std::exp(1.0) / z, std::exp(1.0) / z, 0}));
}

TEST(Sampling, TopPKeepsTheSmallestPrefixWithEnoughMass) {
  // Probabilities 0.15, 0.5, 0.05, 0.3 (out of order): sorted 0.5 (token 1), 0.3 (3), 0.15 (0), 0.05 (2).
  const std::vector<double> p = {0.15, 0.5, 0.05, 0.3};
  std::vector<double> logits;
  for (double v : p) logits.push_back(std::log(v));
  SamplingOptions o;
  // p = 0.4: token 1 alone has 0.5 ≥ 0.4.
  o.top_p = 0.4;
  EXPECT_EQ(counts_of(logits, o, 9, 500)[1], 500);
  // p = 0.75: 0.5 < 0.75, 0.5 + 0.3 = 0.8 ≥ 0.75 → {1, 3}, renormalized to 0.625 / 0.375.
  o.top_p = 0.75;
  std::vector<int> counts = counts_of(logits, o, 9);
  EXPECT_EQ(counts[0] + counts[2], 0);
  EXPECT_TRUE(frequencies_match(counts, {0, 0.625, 0, 0.375}));
  // p = 0.9: 0.8 < 0.9, 0.95 ≥ 0.9 → {1, 3, 0}.
  o.top_p = 0.9;
  counts = counts_of(logits, o, 9);
  EXPECT_EQ(counts[2], 0);
  EXPECT_TRUE(frequencies_match(counts, {0.15 / 0.95, 0.5 / 0.95, 0, 0.3 / 0.95}));
  // p = 0.97: everything.
  o.top_p = 0.97;
  EXPECT_TRUE(frequencies_match(counts_of(logits, o, 9), p));
  // Top-k first, then top-p on the renormalized k: k = 2 gives 0.625 / 0.375; p = 0.6 keeps token 1.
  o.top_k = 2;
  o.top_p = 0.6;
  EXPECT_EQ(counts_of(logits, o, 9, 500)[1], 500);
  // Top-p after temperature: at T = 0.5 the probabilities are ∝ p², 0.25 / 0.09 / 0.0225 / 0.0025,
  // so token 1 holds 0.25 / 0.365 ≈ 0.685 ≥ 0.65 alone.
  o.top_k = 0;
  o.top_p = 0.65;
  o.temperature = 0.5;
  EXPECT_EQ(counts_of(logits, o, 9, 500)[1], 500);
}

TEST(Sampling, SameSeedSameDraws) {
  const std::vector<double> logits = {0.2, 0.1, 0.0, -0.1, -0.2, 0.3};
  SamplingOptions o;
  o.top_k = 4;
  o.top_p = 0.9;
  o.temperature = 1.3;
  const auto draws = [&](std::uint64_t seed) {
    Rng rng(seed);
    std::vector<std::int32_t> out;
    for (int i = 0; i < 200; ++i) out.push_back(sample_token(logits.data(), 6, o, rng));
    return out;
  };
  const std::vector<std::int32_t> a = draws(123);
  EXPECT_EQ(a, draws(123));
  EXPECT_NE(a, draws(124));
}

TEST(Sampling, RejectsInvalidOptions) {
  const std::vector<double> logits = {0.0, 1.0};
  const auto check = [&](const SamplingOptions& o, std::string_view part) {
    Rng rng(1);
    EXPECT_TRUE(throws_error_with([&] { validate(o); }, {part}));
    EXPECT_TRUE(throws_error_with([&] { sample_token(logits.data(), 2, o, rng); }, {part}));
  };
  for (double t : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    SCOPED_TRACE(t);
    check({.temperature = t}, "--temperature must be positive and finite (--argmax for greedy decoding)");
  }
  check({.top_k = -1}, "--top-k must be ≥ 0 (0 keeps all tokens), got -1");
  for (double p : {0.0, -0.1, 1.5, 1.0000001, std::nan("")}) {
    SCOPED_TRACE(p);
    check({.top_p = p}, "--top-p must be in (0, 1]");
  }
  EXPECT_NO_THROW(validate({.temperature = 1e-3, .top_k = 0, .top_p = 1.0}));
  EXPECT_NO_THROW(validate({.temperature = 50.0, .top_k = 1, .top_p = 1e-9}));
}

TEST(Sampling, RejectsNonFiniteLogitsAndAnEmptyVocabulary) {
  Rng rng(1);
  for (double bad :
       {std::nan(""), std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}) {
    SCOPED_TRACE(bad);
    const std::vector<double> logits = {0.0, 1.0, bad, 2.0};
    EXPECT_TRUE(
        throws_error_with([&] { sample_token(logits.data(), 4, {}, rng); }, {"of token 2 is not finite"}));
    EXPECT_TRUE(throws_error_with([&] { sample_token(logits.data(), 4, {.argmax = true}, rng); },
                                  {"of token 2 is not finite"}));
  }
  const std::vector<float> f = {std::numeric_limits<float>::quiet_NaN()};
  EXPECT_TRUE(throws_error_with([&] { sample_token(f.data(), 1, {}, rng); }, {"of token 0 is not finite"}));
  EXPECT_TRUE(throws_error_with([&] { sample_token(f.data(), 0, {}, rng); }, {"empty vocabulary"}));
}

}  // namespace
}  // namespace recur::models
