#include "recur/data/token_ids.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace recur::data {

namespace {

int width_for(std::int64_t vocab_size) {
  return vocab_size <= 256 ? 1 : vocab_size <= 65536 ? 2 : 4;
}

}  // namespace

TokenIds::TokenIds(std::int64_t vocab_size) : vocab_size_(vocab_size), width_(width_for(vocab_size)) {
  RECUR_CHECK(vocab_size >= 1 && vocab_size <= INT32_MAX,
              fmt::format("token ids: vocabulary size {} is not in [1, 2^31 - 1]", vocab_size));
}

TokenIds TokenIds::of(std::span<const std::int32_t> ids) {
  std::int32_t largest = 0;
  for (std::int32_t id : ids) largest = std::max(largest, id);
  TokenIds out(std::int64_t(largest) + 1);
  out.append(ids);
  return out;
}

void TokenIds::append(std::span<const std::int32_t> ids) {
  for (std::int32_t id : ids)
    RECUR_CHECK(id >= 0 && id < vocab_size_,
                fmt::format("token ids: id {} is outside a vocabulary of {}", id, vocab_size_));
  size_t done = 0;
  while (done < ids.size()) {
    const index_t offset = size_ % kBlockIds;
    if (offset == 0) blocks_.emplace_back(static_cast<size_t>(kBlockIds * width_));
    const size_t n = std::min(ids.size() - done, static_cast<size_t>(kBlockIds - offset));
    std::byte* out = blocks_.back().data() + offset * width_;
    for (size_t i = 0; i < n; ++i) {
      const std::int32_t id = ids[done + i];
      if (width_ == 1) {
        out[i] = static_cast<std::byte>(id);
      } else if (width_ == 2) {
        const auto v = static_cast<std::uint16_t>(id);
        std::memcpy(out + 2 * i, &v, 2);
      } else {
        std::memcpy(out + 4 * i, &id, 4);
      }
    }
    done += n;
    size_ += static_cast<index_t>(n);
  }
}

std::int32_t TokenIds::operator[](index_t i) const {
  RECUR_CHECK(i >= 0 && i < size_, fmt::format("token ids: index {} of {}", i, size_));
  const std::byte* at = blocks_[static_cast<size_t>(i / kBlockIds)].data() + (i % kBlockIds) * width_;
  if (width_ == 1) return static_cast<std::int32_t>(*at);
  if (width_ == 2) {
    std::uint16_t v;
    std::memcpy(&v, at, 2);
    return v;
  }
  std::int32_t v;
  std::memcpy(&v, at, 4);
  return v;
}

void TokenIds::copy_to(index_t begin, index_t count, std::int32_t* out) const {
  RECUR_CHECK(begin >= 0 && count >= 0 && begin + count <= size_,
              fmt::format("token ids: [{}, {}) of {}", begin, begin + count, size_));
  while (count > 0) {
    const index_t offset = begin % kBlockIds, n = std::min(count, kBlockIds - offset);
    const std::byte* in = blocks_[static_cast<size_t>(begin / kBlockIds)].data() + offset * width_;
    for (index_t i = 0; i < n; ++i) {
      if (width_ == 1) {
        out[i] = static_cast<std::int32_t>(in[i]);
      } else if (width_ == 2) {
        std::uint16_t v;
        std::memcpy(&v, in + 2 * i, 2);
        out[i] = v;
      } else {
        std::memcpy(out + i, in + 4 * i, 4);
      }
    }
    out += n;
    begin += n;
    count -= n;
  }
}

std::vector<std::int32_t> TokenIds::slice(index_t begin, index_t count) const {
  std::vector<std::int32_t> out(static_cast<size_t>(count));
  copy_to(begin, count, out.data());
  return out;
}

}  // namespace recur::data
