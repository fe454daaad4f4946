// TokenIds: a long stream of token ids held in the narrowest type their vocabulary allows: 1 byte
// for fewer than 256 tokens (characters), 2 for fewer than 65,536 (most word vocabularies), else 4.
// Stored in blocks of 2^20 ids, so appending never copies what is held (a growing std::vector
// briefly holds 3× its size) and the memory is the ids' bytes plus at most one block.
//
// A 200 MB character text is 200 MB of ids, not the 800 MB of int32 (nor the 6.4 GB of one
// std::string per character).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "recur/common.h"

namespace recur::data {

class TokenIds {
 public:
  // Ids in [0, vocab_size), 1 ≤ vocab_size ≤ 2^31 − 1.
  explicit TokenIds(std::int64_t vocab_size);
  // A copy of `ids`, in the width their largest id needs.
  static TokenIds of(std::span<const std::int32_t> ids);

  void append(std::span<const std::int32_t> ids);  // each in [0, vocab_size): else an error
  index_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::int32_t operator[](index_t i) const;
  // ids [begin, begin + count) into out[0 … count).
  void copy_to(index_t begin, index_t count, std::int32_t* out) const;
  std::vector<std::int32_t> slice(index_t begin, index_t count) const;
  std::vector<std::int32_t> to_vector() const { return slice(0, size_); }

  int bytes_per_id() const { return width_; }
  std::int64_t vocab_size() const { return vocab_size_; }
  // The bytes the ids take, blocks included (for the memory bound in docs/design.md).
  std::size_t capacity_bytes() const { return blocks_.size() * kBlockIds * static_cast<std::size_t>(width_); }

  static constexpr index_t kBlockIds = index_t(1) << 20;

 private:
  std::int64_t vocab_size_;
  int width_;
  index_t size_ = 0;
  std::vector<std::vector<std::byte>> blocks_;  // each kBlockIds · width_ bytes
};

}  // namespace recur::data
