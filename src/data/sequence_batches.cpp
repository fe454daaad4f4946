#include "recur/data/sequence_batches.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "recur/rng.h"

namespace recur::data {

namespace {

// Fisher–Yates with recur's Rng (std::shuffle's draws differ between standard libraries).
void shuffle(std::vector<index_t>& v, Rng& rng) {
  for (size_t i = v.size(); i > 1; --i) {
    const size_t j = rng.below(static_cast<std::uint32_t>(i));
    std::swap(v[i - 1], v[j]);
  }
}

}  // namespace

SequenceBatches::SequenceBatches(std::vector<std::vector<std::int32_t>> items, const SequenceBatchOptions& o)
    : items_(std::move(items)), B_(o.batch_size), options_(o) {
  RECUR_REQUIRE(B_ >= 1, fmt::format("the batch size must be at least 1, got {}", B_));
  RECUR_REQUIRE(!items_.empty(), "the data set has no items");
  RECUR_REQUIRE(o.bucket >= 0, fmt::format("bucket must be at least 0, got {}", o.bucket));
  RECUR_CHECK(items_.size() < (size_t(1) << 31), "more than 2^31 items");
  for (size_t i = 0; i < items_.size(); ++i) {
    RECUR_CHECK(!items_[i].empty(), fmt::format("item {} is empty", i));
    total_ += static_cast<std::int64_t>(items_[i].size());
  }
}

const std::vector<index_t>& SequenceBatches::order(long epoch) const {
  if (epoch == cached_epoch_) return cached_order_;
  std::vector<index_t> order(items_.size());
  std::iota(order.begin(), order.end(), index_t(0));
  if (options_.shuffle) {
    Rng rng(options_.seed, static_cast<std::uint64_t>(epoch));
    shuffle(order, rng);
    if (options_.bucket > 0) {
      const auto window = static_cast<size_t>(options_.bucket * B_);
      const auto longer = [&](index_t a, index_t b) { return item(a).size() < item(b).size(); };
      for (size_t begin = 0; begin < order.size(); begin += window)
        std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(begin),
                         order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), begin + window)),
                         longer);
      // Shuffle whole batches (the short last batch stays last, so every other batch is full).
      const index_t full = size() / B_;
      std::vector<index_t> batches(static_cast<size_t>(full));
      std::iota(batches.begin(), batches.end(), index_t(0));
      shuffle(batches, rng);
      std::vector<index_t> regrouped;
      regrouped.reserve(order.size());
      for (index_t b : batches)
        regrouped.insert(regrouped.end(), order.begin() + b * B_, order.begin() + (b + 1) * B_);
      regrouped.insert(regrouped.end(), order.begin() + full * B_, order.end());
      order = std::move(regrouped);
    }
  }
  cached_epoch_ = epoch;
  cached_order_ = std::move(order);
  return cached_order_;
}

std::vector<index_t> SequenceBatches::batch_items(long epoch, index_t index) const {
  RECUR_CHECK(index >= 0 && index < batches_per_epoch(),
              fmt::format("batch {} of an epoch of {} batches", index, batches_per_epoch()));
  const std::vector<index_t>& o = order(epoch);
  const index_t begin = index * B_, end = std::min(size(), begin + B_);
  return {o.begin() + begin, o.begin() + end};
}

PaddedBatch SequenceBatches::get(long epoch, index_t index, std::int32_t pad_id) const {
  return pad_batch(items_, batch_items(epoch, index), pad_id);
}

PaddedBatch pad_batch(const std::vector<std::vector<std::int32_t>>& items, const std::vector<index_t>& which,
                      std::int32_t pad) {
  PaddedBatch batch;
  batch.B = static_cast<index_t>(which.size());
  batch.items = which;
  for (index_t i : which) {
    RECUR_CHECK(i >= 0 && i < static_cast<index_t>(items.size()),
                fmt::format("pad_batch: item {} of {}", i, items.size()));
    batch.T = std::max(batch.T, static_cast<index_t>(items[static_cast<size_t>(i)].size()));
  }
  const auto n = static_cast<size_t>(batch.T * batch.B);
  batch.ids.assign(n, pad);
  batch.mask.assign(n, 0.0f);
  for (index_t b = 0; b < batch.B; ++b) {
    const std::vector<std::int32_t>& seq = items[static_cast<size_t>(which[static_cast<size_t>(b)])];
    const auto len = static_cast<index_t>(seq.size());
    batch.lengths.push_back(len);
    for (index_t t = 0; t < len; ++t) {
      batch.ids[static_cast<size_t>(t * batch.B + b)] = seq[static_cast<size_t>(t)];
      batch.mask[static_cast<size_t>(t * batch.B + b)] = 1.0f;
    }
  }
  return batch;
}

}  // namespace recur::data
