// Padding never leaks into a loss or a gradient: a padded batch of variable-length sequences
// (data::pad_batch) through a bidirectional 2-layer LSTM tagger gives the summed loss and every
// parameter's gradient of its items run one at a time, unpadded, in double precision.
#include <gtest/gtest.h>

#include <vector>

#include "recur/autograd/functions.h"
#include "recur/data/sequence_batches.h"
#include "recur/layers/embedding.h"
#include "recur/layers/linear.h"
#include "recur/layers/rnn.h"

namespace recur::layers {
namespace {

constexpr index_t kVocab = 9, kWidth = 4, kHidden = 3, kTags = 5;
constexpr std::int32_t kIgnore = -100;

struct Tagger {
  nn::ParameterTable<double> params;
  Embedding<double> embedding{params, "embedding.", kVocab, kWidth};
  Rnn<double> rnn{params, {nn::CellKind::kLstm, kWidth, kHidden, 2, true}, "rnn."};
  Linear<double> output{params, "output.", 2 * kHidden, kTags};
  Tagger() {
    params.freeze();
    Rng rng(21);
    embedding.init(rng);
    rnn.init(rng);
    output.init(rng);
  }
  // Σ of the cross-entropies of every real step of the batch.
  ag::Var<double> loss(ag::Tape<double>& tape, const data::PaddedBatch& words,
                       const data::PaddedBatch& tags) {
    const ag::Var<double> x =
        ag::reshape(embedding.forward(tape, words.ids), Shape{words.T, words.B, kWidth});
    const RnnResult<double> r = rnn.forward(x, words.lengths);
    const ag::Var<double> logits =
        output.forward(ag::reshape(r.output, Shape{words.T * words.B, 2 * kHidden}));
    ops::CrossEntropyOptions ce;
    ce.ignore_index = kIgnore;
    ce.reduction = ops::Reduction::kSum;
    return ag::cross_entropy(logits, tags.ids, ce);
  }
};

const std::vector<std::vector<std::int32_t>> kWords = {{1, 4, 2, 3, 3}, {7}, {5, 5, 0}, {6, 2}};
const std::vector<std::vector<std::int32_t>> kTagsOf = {{0, 1, 2, 3, 4}, {2}, {4, 4, 1}, {3, 0}};

// In any order (lengths 3 5 2 1), and longest first (5 3 2 1), where each step's products skip the
// rows whose sequence has ended.
class Padding : public ::testing::TestWithParam<std::vector<index_t>> {};

TEST_P(Padding, APaddedBatchIsItsItemsOneByOne) {
  const auto& words = kWords;
  const auto& tags = kTagsOf;
  Tagger m;
  const std::vector<index_t> order = GetParam();
  // Words are padded with id 8, which no item uses, so its row of the table must get no gradient.
  constexpr std::int32_t kPadWord = 8;
  const data::PaddedBatch w = data::pad_batch(words, order, kPadWord),
                          t = data::pad_batch(tags, order, kIgnore);
  ASSERT_EQ(w.T, 5);
  m.params.zero_grad();
  ag::Tape<double> tape;
  const ag::Var<double> batch_loss = m.loss(tape, w, t);
  tape.backward(batch_loss);
  const std::vector<double> batch_grads(m.params.flat_grads().data(),
                                        m.params.flat_grads().data() + m.params.numel());

  double items_loss = 0;
  m.params.zero_grad();  // each item's backward adds into the same gradients
  for (index_t i = 0; i < 4; ++i) {
    ag::Tape<double> one;
    const ag::Var<double> l =
        m.loss(one, data::pad_batch(words, {i}, kPadWord), data::pad_batch(tags, {i}, kIgnore));
    items_loss += l.item();
    one.backward(l);
  }
  // The same sums in another order: equal to rounding.
  constexpr double kReorderedSumTolerance = 1e-12;
  EXPECT_NEAR(batch_loss.item(), items_loss, kReorderedSumTolerance);
  EXPECT_GT(items_loss, 1.0);
  const Tensor<double> g = m.params.flat_grads();
  double norm = 0;
  for (index_t i = 0; i < m.params.numel(); ++i) {
    ASSERT_NEAR(batch_grads[static_cast<size_t>(i)], g[i], kReorderedSumTolerance)
        << "gradient element " << i;
    norm += g[i] * g[i];
  }
  EXPECT_GT(norm, 1e-6);
  // The padding's row of the table, looked up 9 times in the batch, gets exactly nothing; a real
  // word's row does.
  const index_t table = m.params.entry(m.embedding.weight_id()).offset;
  for (index_t e = 0; e < kWidth; ++e) {
    EXPECT_EQ(batch_grads[static_cast<size_t>(table + kPadWord * kWidth + e)], 0.0) << e;
    EXPECT_NE(batch_grads[static_cast<size_t>(table + 5 * kWidth + e)], 0.0) << e;
  }
}

INSTANTIATE_TEST_SUITE_P(Orders, Padding,
                         ::testing::Values(std::vector<index_t>{2, 0, 3, 1},
                                           std::vector<index_t>{0, 2, 3, 1}));

// Inference: a batch sorted longest first (finished rows skipped) gives each sequence the same bits
// as the same batch in another order (every row computed).
TEST(PaddingInference, SortedLengthsGiveTheSameBits) {
  Tagger m;
  const auto outputs = [&](const std::vector<index_t>& order) {
    const data::PaddedBatch w = data::pad_batch(kWords, order, 8);
    ag::Tape<double> tape;
    ag::NoGrad<double> no_grad(tape);
    const ag::Var<double> x = ag::reshape(m.embedding.forward(tape, w.ids), Shape{w.T, w.B, kWidth});
    const RnnResult<double> r = m.rnn.forward(x, w.lengths);
    // Item i's outputs, step by step.
    std::vector<std::vector<double>> by_item(kWords.size());
    for (index_t b = 0; b < w.B; ++b)
      for (index_t t = 0; t < w.lengths[static_cast<size_t>(b)]; ++t)
        for (index_t j = 0; j < 2 * kHidden; ++j)
          by_item[static_cast<size_t>(order[static_cast<size_t>(b)])].push_back(
              r.output.value()[(t * w.B + b) * 2 * kHidden + j]);
    return by_item;
  };
  const auto sorted = outputs({0, 2, 3, 1}), unsorted = outputs({2, 0, 3, 1});
  for (size_t i = 0; i < kWords.size(); ++i) {
    ASSERT_EQ(sorted[i].size(), kWords[i].size() * 2 * kHidden);
    EXPECT_EQ(sorted[i], unsorted[i]) << "item " << i;
  }
}

// Every cell, both directions, lengths 0 to T: a batch sorted longest first (finished rows skipped by
// the products and the row kernels) gives each sequence the outputs and final states, bit for bit,
// of the same batch in another order.
TEST(PaddingInference, EveryCellsFinalStatesToo) {
  const index_t T = 6, B = 5, I = 3, H = 4;
  const std::vector<index_t> lengths = {6, 4, 4, 1, 0};  // sorted; `shuffled` reorders the rows
  const std::vector<index_t> shuffled = {3, 0, 4, 2, 1};
  for (const nn::CellKind kind : {nn::CellKind::kLstm, nn::CellKind::kGru, nn::CellKind::kGruResetBefore,
                                  nn::CellKind::kRnnTanh, nn::CellKind::kJordan}) {
    SCOPED_TRACE(nn::cell_name(kind));
    nn::ParameterTable<double> params;
    Rnn<double> rnn(params, {kind, I, H, 1, true}, "rnn.");
    params.freeze();
    Rng rng(5);
    rnn.init(rng);
    Tensor<double> x(Shape{T, B, I});
    for (index_t i = 0; i < x.numel(); ++i) x[i] = rng.uniform<double>(-1, 1);
    const auto run = [&](const std::vector<index_t>& rows) {  // rows[b]: which sequence is row b
      Tensor<double> xs(Shape{T, B, I});
      std::vector<index_t> ls(B);
      for (index_t b = 0; b < B; ++b) {
        ls[size_t(b)] = lengths[size_t(rows[size_t(b)])];
        for (index_t t = 0; t < T; ++t)
          for (index_t i = 0; i < I; ++i) xs[(t * B + b) * I + i] = x[(t * B + rows[size_t(b)]) * I + i];
      }
      ag::Tape<double> tape;
      ag::NoGrad<double> no_grad(tape);
      const RnnResult<double> r = rnn.forward(tape.constant(xs), ls);
      // Per sequence: its outputs at every step, then each final state.
      std::vector<std::vector<double>> by_sequence(B);
      for (index_t b = 0; b < B; ++b) {
        auto& out = by_sequence[size_t(rows[size_t(b)])];
        for (index_t t = 0; t < T; ++t)
          for (index_t j = 0; j < 2 * H; ++j) out.push_back(r.output.value()[(t * B + b) * 2 * H + j]);
        for (const auto* states : {&r.final_state.h, &r.final_state.c})
          for (const ag::Var<double>& s : *states)
            for (index_t j = 0; j < H; ++j) out.push_back(s.value()[b * H + j]);
      }
      return by_sequence;
    };
    std::vector<index_t> identity(B);
    for (index_t b = 0; b < B; ++b) identity[size_t(b)] = b;
    const auto sorted = run(identity), other = run(shuffled);
    for (index_t b = 0; b < B; ++b) EXPECT_EQ(sorted[size_t(b)], other[size_t(b)]) << "sequence " << b;
  }
}

}  // namespace
}  // namespace recur::layers
