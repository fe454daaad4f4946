// data::SequenceBatches: seeded shuffling that visits every item once per epoch, length bucketing,
// padding with lengths and masks (by hand), and its errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "recur/data/sequence_batches.h"
#include "test_util.h"

namespace recur::data {
namespace {

using testing::throws_error_with;

// Item i has length 1 + (i·7 mod 11) and holds the ids 1000·i + t, so a mix-up shows.
std::vector<std::vector<std::int32_t>> items_of(int n) {
  std::vector<std::vector<std::int32_t>> items;
  for (int i = 0; i < n; ++i) {
    std::vector<std::int32_t> item;
    for (int t = 0; t < 1 + (i * 7) % 11; ++t) item.push_back(1000 * i + t);
    items.push_back(item);
  }
  return items;
}

// Every batch of `epoch`, item indices in order.
std::vector<index_t> epoch_order(const SequenceBatches& d, long epoch) {
  std::vector<index_t> all;
  for (index_t b = 0; b < d.batches_per_epoch(); ++b) {
    const std::vector<index_t> items = d.batch_items(epoch, b);
    all.insert(all.end(), items.begin(), items.end());
  }
  return all;
}

TEST(SequenceBatches, ShufflingIsSeededAndVisitsEveryItemOncePerEpoch) {
  SequenceBatchOptions o;
  o.batch_size = 4;
  o.seed = 17;
  const SequenceBatches d(items_of(23), o);
  EXPECT_EQ(d.batches_per_epoch(), 6);
  EXPECT_EQ(d.batch_items(0, 5).size(), 3u);  // the last batch holds the rest
  std::vector<index_t> identity(23);
  for (index_t i = 0; i < 23; ++i) identity[static_cast<size_t>(i)] = i;
  for (long epoch : {0L, 1L, 7L}) {
    std::vector<index_t> order = epoch_order(d, epoch);
    EXPECT_NE(order, identity) << epoch;  // shuffled
    std::sort(order.begin(), order.end());
    EXPECT_EQ(order, identity) << epoch;  // each item exactly once
  }
  EXPECT_NE(epoch_order(d, 0), epoch_order(d, 1));  // a new order each epoch
  // The order is a function of (seed, epoch) alone: another object, or the epochs asked out of
  // order, give the same batches (what an exact resume needs).
  const SequenceBatches again(items_of(23), o);
  const std::vector<index_t> e1 = epoch_order(d, 1);
  EXPECT_EQ(epoch_order(again, 1), e1);
  EXPECT_EQ(epoch_order(again, 0), epoch_order(d, 0));
  EXPECT_EQ(epoch_order(again, 1), e1);
  o.seed = 18;
  EXPECT_NE(epoch_order(SequenceBatches(items_of(23), o), 1), e1);
  o.shuffle = false;
  EXPECT_EQ(epoch_order(SequenceBatches(items_of(23), o), 3), identity);  // file order
}

TEST(SequenceBatches, BucketingGroupsSimilarLengthsAndStaysComplete) {
  SequenceBatchOptions o;
  o.batch_size = 8;
  o.seed = 3;
  const auto items = items_of(200);
  const SequenceBatches plain(items, o);
  o.bucket = 4;
  const SequenceBatches bucketed(items, o);
  std::int64_t padded_plain = 0, padded_bucketed = 0;
  for (index_t b = 0; b < plain.batches_per_epoch(); ++b) {
    const PaddedBatch p = plain.get(2, b, -1), q = bucketed.get(2, b, -1);
    padded_plain += p.T * p.B;
    padded_bucketed += q.T * q.B;
  }
  EXPECT_EQ(bucketed.total_elements(), plain.total_elements());
  // Lengths 1…11 at random: a batch of 8 is padded to nearly 11; sorted windows of 32 pad far less.
  EXPECT_LT(padded_bucketed, padded_plain * 3 / 4) << padded_bucketed << " vs " << padded_plain;
  std::vector<index_t> order = epoch_order(bucketed, 2);
  std::sort(order.begin(), order.end());
  EXPECT_EQ(order.size(), 200u);
  EXPECT_EQ(std::set<index_t>(order.begin(), order.end()).size(), 200u);
  EXPECT_NE(epoch_order(bucketed, 2), epoch_order(bucketed, 3));
}

TEST(SequenceBatches, PaddingByHand) {
  const std::vector<std::vector<std::int32_t>> items = {{5, 6, 7}, {8}, {9, 10}};
  const PaddedBatch b = pad_batch(items, {2, 0, 1}, -1);
  EXPECT_EQ(b.T, 3);
  EXPECT_EQ(b.B, 3);
  // Time-major (T, B): row t holds step t of items 2, 0, 1.
  EXPECT_EQ(b.ids, (std::vector<std::int32_t>{9, 5, 8, 10, 6, -1, -1, 7, -1}));
  EXPECT_EQ(b.mask, (std::vector<float>{1, 1, 1, 1, 1, 0, 0, 1, 0}));
  EXPECT_EQ(b.lengths, (std::vector<index_t>{2, 3, 1}));
  EXPECT_EQ(b.items, (std::vector<index_t>{2, 0, 1}));
}

TEST(SequenceBatches, ErrorsSayWhatIsWrong) {
  SequenceBatchOptions o;
  EXPECT_TRUE(throws_error_with([&] { SequenceBatches({}, o); }, {"the data set has no items"}));
  EXPECT_TRUE(throws_error_with([&] { SequenceBatches({{1}, {}}, o); }, {"item 1 is empty"}));
  o.batch_size = 0;
  EXPECT_TRUE(
      throws_error_with([&] { SequenceBatches({{1}}, o); }, {"batch size must be at least 1, got 0"}));
}

}  // namespace
}  // namespace recur::data
