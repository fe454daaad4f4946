// SequenceBatches: a data set of variable-length sequences (one item per line, a sentence, an
// image read as rows) cut into padded batches, once per epoch.
//
// Each epoch visits every item exactly once. With shuffling, epoch e's order is a permutation
// drawn from Rng(seed, e) alone, so any batch of any epoch can be rebuilt from (seed, epoch,
// index) — a resumed run sees the same batches as one trained straight through. With bucketing
// (bucket = k ≥ 1), the shuffled items are cut into windows of k·B, each window is sorted by
// length (stable) and cut into batches, and the batches of the epoch are shuffled again: batches of
// similar lengths waste less padding, and the order is still random. The last batch of an epoch
// may be smaller than B. Without shuffling, items stay in file order (validation, evaluation).
//
// A batch is time-major: ids (T, B) with T the longest item in it, padded with `pad` after each
// item's end; lengths (B); mask (T, B) = 1 at real steps, 0 at padding.
#pragma once

#include <cstdint>
#include <vector>

#include "recur/common.h"

namespace recur::data {

struct PaddedBatch {
  index_t T = 0, B = 0;
  std::vector<std::int32_t> ids;  // (T, B) time-major: ids[t·B + b]
  std::vector<index_t> lengths;   // (B)
  std::vector<float> mask;        // (T, B)
  std::vector<index_t> items;     // (B) which items, by index into the data set
};

// Items `which` of `items` (in that order) padded with `pad` after each item's end: for a task's
// inputs, and for its per-element targets (pad = ignore_index) with the same `which`.
PaddedBatch pad_batch(const std::vector<std::vector<std::int32_t>>& items, const std::vector<index_t>& which,
                      std::int32_t pad);

struct SequenceBatchOptions {
  index_t batch_size = 32;
  bool shuffle = true;
  index_t bucket = 0;  // 0: no bucketing; k: sort windows of k·B items by length
  std::uint64_t seed = 0;
};

class SequenceBatches {
 public:
  // Every item must have at least one element.
  SequenceBatches(std::vector<std::vector<std::int32_t>> items, const SequenceBatchOptions& options);

  index_t size() const { return static_cast<index_t>(items_.size()); }
  const std::vector<std::int32_t>& item(index_t i) const { return items_[static_cast<size_t>(i)]; }
  index_t batches_per_epoch() const { return (size() + B_ - 1) / B_; }
  index_t batch_size() const { return B_; }
  // The items of batch `index` of epoch `epoch` (0-based), in batch order.
  std::vector<index_t> batch_items(long epoch, index_t index) const;
  // Those items padded with `pad`.
  PaddedBatch get(long epoch, index_t index, std::int32_t pad) const;
  const std::vector<std::vector<std::int32_t>>& items() const { return items_; }
  std::int64_t total_elements() const { return total_; }

 private:
  const std::vector<index_t>& order(long epoch) const;  // the epoch's item order, batch by batch

  std::vector<std::vector<std::int32_t>> items_;
  index_t B_;
  SequenceBatchOptions options_;
  std::int64_t total_ = 0;
  mutable long cached_epoch_ = -1;
  mutable std::vector<index_t> cached_order_;
};

}  // namespace recur::data
