// TokenBatches: a token stream cut into batches the way char-rnn does it, for truncated BPTT.
//
// The N tokens give nb = (N − 1) / (B·T) batches. The stream is laid out as B rows of nb·T
// consecutive tokens (row b starts at token b·nb·T), and batch j is columns [j·T, (j+1)·T) of
// every row: so batch j+1 continues each row of batch j, and a model that carries its state from
// batch to batch reads B long stretches of text in parallel. Targets are the next token in the
// stream. Batches [0, n_train) are the training split, the next n_val validation, the rest test
// (n_train = ⌊nb·train⌋, n_test = ⌊nb·test⌋, n_val = nb − n_train − n_test: char-rnn's rule).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "recur/common.h"

namespace recur::data {

enum class Split { kTrain, kVal, kTest };

struct SplitFractions {
  double train = 0.95;
  double val = 0.05;
  double test = 0.0;
};

struct TokenBatch {
  index_t T = 0, B = 0;
  std::vector<std::int32_t> inputs;   // (T, B) time-major: inputs[t·B + b]
  std::vector<std::int32_t> targets;  // (T, B)
};

class TokenBatches {
 public:
  // `source` names the data in errors (a file path).
  TokenBatches(std::vector<std::int32_t> tokens, index_t batch_size, index_t seq_length,
               const SplitFractions& fractions, std::string_view source);

  index_t count(Split split) const;
  TokenBatch get(Split split, index_t index) const;
  index_t batch_size() const { return B_; }
  index_t seq_length() const { return T_; }
  index_t tokens_per_batch() const { return B_ * T_; }
  // The split's tokens, row by row (each row's stretch of the stream, in order).
  std::vector<std::int32_t> split_tokens(Split split) const;

 private:
  std::vector<std::int32_t> tokens_;
  index_t B_, T_, batches_ = 0, n_train_ = 0, n_val_ = 0, n_test_ = 0;
};

}  // namespace recur::data
