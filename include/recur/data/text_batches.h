// TokenBatches: a token stream cut into batches the way char-rnn does it, for truncated BPTT.
//
// The N tokens give nb = (N − 1) / (B·T) batches. The stream is laid out as B rows of nb·T
// consecutive tokens (row b starts at token b·nb·T), and batch j is columns [j·T, (j+1)·T) of
// every row: so batch j+1 continues each row of batch j, and a model that carries its state from
// batch to batch reads B long stretches of text in parallel. Targets are the next token in the
// stream. Batches [0, n_train) are the training split, the next n_val validation, the rest test
// (n_train = ⌊nb·train⌋, n_test = ⌊nb·test⌋, n_val = nb − n_train − n_test: char-rnn's rule).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "recur/common.h"
#include "recur/data/token_ids.h"

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

class TokenBatches;

// A split's tokens, row by row (each row's stretch of the stream, in order), read in place: what
// TokenBatches::split_tokens copies, for a pass over a split of a long text.
class SplitTokens {
 public:
  index_t size() const { return rows_ * length_; }
  std::int32_t operator[](index_t i) const {
    return (*ids_)[(i / length_) * row_length_ + begin_ + i % length_];
  }

 private:
  friend class TokenBatches;
  SplitTokens(const TokenIds& ids, index_t rows, index_t row_length, index_t begin, index_t length)
      : ids_(&ids),
        rows_(rows),
        row_length_(row_length),
        begin_(begin),
        length_(std::max<index_t>(length, 1)) {
    if (length == 0) rows_ = 0;
  }
  const TokenIds* ids_;
  index_t rows_, row_length_, begin_, length_;
};

class TokenBatches {
 public:
  // `source` names the data in errors (a file path).
  TokenBatches(TokenIds tokens, index_t batch_size, index_t seq_length, const SplitFractions& fractions,
               std::string_view source);
  TokenBatches(const std::vector<std::int32_t>& tokens, index_t batch_size, index_t seq_length,
               const SplitFractions& fractions, std::string_view source)
      : TokenBatches(TokenIds::of(tokens), batch_size, seq_length, fractions, source) {}

  index_t count(Split split) const;
  TokenBatch get(Split split, index_t index) const;
  index_t batch_size() const { return B_; }
  index_t seq_length() const { return T_; }
  index_t tokens_per_batch() const { return B_ * T_; }
  // The split's tokens, row by row (each row's stretch of the stream, in order).
  std::vector<std::int32_t> split_tokens(Split split) const;
  SplitTokens split_view(Split split) const;  // the same, in place
  const TokenIds& tokens() const { return tokens_; }

 private:
  index_t first_batch(Split split) const;
  TokenIds tokens_;
  index_t B_, T_, batches_ = 0, n_train_ = 0, n_val_ = 0, n_test_ = 0;
};

}  // namespace recur::data
