#include "recur/data/text_batches.h"

#include <fmt/format.h>

#include <cmath>

namespace recur::data {

TokenBatches::TokenBatches(TokenIds tokens, index_t batch_size, index_t seq_length, const SplitFractions& f,
                           std::string_view source)
    : tokens_(std::move(tokens)), B_(batch_size), T_(seq_length) {
  RECUR_REQUIRE(
      B_ >= 1 && T_ >= 1,
      fmt::format("{}: batch size ({}) and sequence length ({}) must be at least 1", source, B_, T_));
  for (double v : {f.train, f.val, f.test})
    RECUR_REQUIRE(v >= 0.0 && v <= 1.0,
                  fmt::format("{}: split fractions must lie in [0, 1], got train {} val {} test {}", source,
                              f.train, f.val, f.test));
  RECUR_REQUIRE(
      f.train > 0.0 && f.train + f.val + f.test <= 1.0 + 1e-9,
      fmt::format("{}: split fractions train {} + val {} + test {} must be positive for train and add up "
                  "to at most 1",
                  source, f.train, f.val, f.test));
  const index_t N = tokens_.size();
  RECUR_REQUIRE(
      N >= B_ * T_ + 1,
      fmt::format("{}: {} tokens are too few for one batch of {} streams × {} steps (needs {}): use a "
                  "smaller --batch-size or --seq-length, or more data",
                  source, N, B_, T_, B_ * T_ + 1));
  batches_ = (N - 1) / (B_ * T_);
  n_train_ = static_cast<index_t>(std::floor(static_cast<double>(batches_) * f.train));
  n_test_ = static_cast<index_t>(std::floor(static_cast<double>(batches_) * f.test));
  n_val_ = batches_ - n_train_ - n_test_;
  RECUR_REQUIRE(n_train_ >= 1,
                fmt::format("{}: {} batches of {}×{} leave none for training at train fraction {}", source,
                            batches_, B_, T_, f.train));
  RECUR_REQUIRE(
      f.val <= 0.0 || n_val_ >= 1,
      fmt::format("{}: {} batches of {}×{} leave none for validation at val fraction {} (use a smaller "
                  "batch size or sequence length, or more data)",
                  source, batches_, B_, T_, f.val));
}

index_t TokenBatches::count(Split split) const {
  switch (split) {
    case Split::kTrain:
      return n_train_;
    case Split::kVal:
      return n_val_;
    default:
      return n_test_;
  }
}

index_t TokenBatches::first_batch(Split split) const {
  return split == Split::kTrain ? 0 : split == Split::kVal ? n_train_ : n_train_ + n_val_;
}

TokenBatch TokenBatches::get(Split split, index_t index) const {
  RECUR_CHECK(index >= 0 && index < count(split),
              fmt::format("batch {} of a split with {} batches", index, count(split)));
  const index_t column = (first_batch(split) + index) * T_, row_length = batches_ * T_;
  TokenBatch batch;
  batch.T = T_;
  batch.B = B_;
  batch.inputs.resize(static_cast<size_t>(B_ * T_));
  batch.targets.resize(static_cast<size_t>(B_ * T_));
  std::vector<std::int32_t> row(static_cast<size_t>(T_ + 1));  // a row's T inputs and the next token
  for (index_t b = 0; b < B_; ++b) {
    tokens_.copy_to(b * row_length + column, T_ + 1, row.data());
    for (index_t t = 0; t < T_; ++t) {
      batch.inputs[static_cast<size_t>(t * B_ + b)] = row[static_cast<size_t>(t)];
      batch.targets[static_cast<size_t>(t * B_ + b)] = row[static_cast<size_t>(t + 1)];
    }
  }
  return batch;
}

SplitTokens TokenBatches::split_view(Split split) const {
  return SplitTokens(tokens_, B_, batches_ * T_, first_batch(split) * T_, count(split) * T_);
}

std::vector<std::int32_t> TokenBatches::split_tokens(Split split) const {
  const SplitTokens view = split_view(split);
  std::vector<std::int32_t> out(static_cast<size_t>(view.size()));
  const index_t row_length = batches_ * T_, begin = first_batch(split) * T_, length = count(split) * T_;
  for (index_t b = 0; b < B_ && length > 0; ++b)
    tokens_.copy_to(b * row_length + begin, length, out.data() + b * length);
  return out;
}

}  // namespace recur::data
