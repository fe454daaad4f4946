// The per-line language model's pieces (models/lm_lines.h): the seeded split by lines, the n-gram
// floors by hand, and its loss against items run one at a time.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "recur/autograd/functions.h"
#include "recur/models/lm_lines.h"
#include "recur/models/lm_text.h"
#include "test_util.h"

namespace recur::models {
namespace {

std::vector<std::vector<std::int32_t>> numbered(int n) {
  std::vector<std::vector<std::int32_t>> items;
  for (int i = 0; i < n; ++i) items.push_back({i, i});
  return items;
}

TEST(SplitLines, SeededCompleteAndDisjoint) {
  const auto [train, val] = split_lines(numbered(50), 0.1, 7);
  EXPECT_EQ(val.size(), 5u);
  EXPECT_EQ(train.size(), 45u);
  std::vector<std::int32_t> seen;
  for (const auto& item : train) seen.push_back(item[0]);
  for (const auto& item : val) seen.push_back(item[0]);
  std::sort(seen.begin(), seen.end());
  for (int i = 0; i < 50; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], i);
  EXPECT_EQ(split_lines(numbered(50), 0.1, 7).second, val);  // the seed fixes it
  EXPECT_NE(split_lines(numbered(50), 0.1, 8).second, val);
  EXPECT_EQ(split_lines(numbered(50), 0.0, 7).second.size(), 1u);  // at least one each side
  EXPECT_TRUE(
      testing::throws_error_with([] { split_lines(numbered(1), 0.5, 1); }, {"1 item cannot be split"}));
}

data::Vocab letters() {  // <bos> <eos> a b
  return lm_vocabulary({"a", "b"}, data::TokenKind::kChar, 1, 0, /*lines=*/true);
}

TEST(LinesFloors, ByHand) {
  const data::Vocab v = letters();
  ASSERT_EQ(v.tokens(), (std::vector<std::string>{"<bos>", "<eos>", "a", "b"}));
  // Train "ab", "a": predictions (<bos>→a) (a→b) (b→<eos>) (<bos>→a) (a→<eos>); outcomes a, b, <eos>.
  const std::vector<std::vector<std::int32_t>> train = {{2, 3}, {2}}, held_out = {{3}};
  const data::NgramFloors f = lm_lines_floors(train, held_out, v);
  // Held out "b": (<bos>→b) (b→<eos>). Unigram counts a 2, b 1, <eos> 2 of 5.
  EXPECT_NEAR(f.unigram, -(std::log((1 + 1) / 8.0) + std::log((2 + 1) / 8.0)) / 2, 1e-12);
  // Bigram: <bos> is followed by a twice (b never); b by <eos> once.
  EXPECT_NEAR(f.bigram, -(std::log((0 + 1) / (2 + 3.0)) + std::log((1 + 1) / (1 + 3.0))) / 2, 1e-12);
}

TEST(LinesLoss, IsTheSumOfItsItemsRunAlone) {
  const data::Vocab v = letters();
  RnnLmConfig c;
  c.num_layers = 2;
  c.rnn_size = 6;
  c.embedding_size = 3;
  c.vocab_size = v.size();
  c.lines = true;
  RnnLm<float> model(c);
  Rng rng(2);
  model.init(rng);
  const std::vector<std::vector<std::int32_t>> items = {{2, 3, 3, 2}, {3}, {2, 2}};
  const LinesLoss batched = lm_lines_loss(model, v, items, 3);
  EXPECT_EQ(batched.predictions, 5 + 2 + 3);
  double alone = 0;
  for (const auto& item : items) {
    const LinesLoss one = lm_lines_loss(model, v, {item}, 1);
    // By hand: one unpadded forward of <bos> x… against x… <eos>.
    std::vector<std::int32_t> in{v.bos()}, target = item;
    in.insert(in.end(), item.begin(), item.end());
    target.push_back(v.eos());
    ag::Tape<float> tape;
    const auto out = model.forward(tape, in, static_cast<index_t>(in.size()), 1, {}, false, nullptr);
    ops::CrossEntropyOptions ce;
    ce.reduction = ops::Reduction::kSum;
    EXPECT_NEAR(one.total, ag::cross_entropy(out.logits, target, ce).item(), 1e-5);
    alone += one.total;
  }
  // Padding changes nothing but the order of float sums.
  EXPECT_NEAR(batched.total, alone, 1e-4);
}

}  // namespace
}  // namespace recur::models
