#include "recur/storage.h"

#include <fmt/format.h>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <list>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define RECUR_STORAGE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RECUR_STORAGE_ASAN 1
#endif
#endif
#ifndef RECUR_STORAGE_ASAN
#define RECUR_STORAGE_ASAN 0
#endif

namespace recur {

namespace {

constexpr bool kCacheBuiltIn = !RECUR_STORAGE_ASAN;

std::size_t limit_from_environment() {
  const char* env = std::getenv("RECUR_STORAGE_CACHE_MB");
  if (!env) return kDefaultStorageCacheLimit;
  char* end = nullptr;
  const unsigned long long mb = std::strtoull(env, &end, 10);
  RECUR_CHECK(end != env && *end == '\0' && env[0] != '-' && mb <= (std::size_t(-1) >> 20),
              fmt::format("RECUR_STORAGE_CACHE_MB must be a non-negative integer (MiB), got '{}'", env));
  return static_cast<std::size_t>(mb) << 20;
}

void* aligned_block(std::size_t bytes) {
  void* p = std::aligned_alloc(kStorageAlignBytes, bytes);
  if (!p) throw std::bad_alloc();
  return p;
}

// Idle large blocks, in the order they were cached (front = oldest), with an index by size. The
// per-size lists are in caching order too, so the oldest idle block is also the first of its size.
class Cache {
 public:
  Cache() : limit_(limit_from_environment()) {}

  // An idle block of exactly `bytes`, or nullptr; counts the hit or the miss.
  void* take(std::size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto same = by_size_.find(bytes);
    if (same == by_size_.end()) {
      ++stats_.misses;
      return nullptr;
    }
    const auto block = same->second.back();  // the most recently cached: likeliest still in cache
    same->second.pop_back();
    if (same->second.empty()) by_size_.erase(same);
    void* p = block->ptr;
    stats_.idle_bytes -= bytes;
    --stats_.idle_blocks;
    idle_.erase(block);
    ++stats_.hits;
    return p;
  }

  // A large block handed out (by the cache or fresh): counted in use until it is given back.
  void note_in_use(std::size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    in_use_ += bytes;
    peak_in_use_ = std::max(peak_in_use_, in_use_);
  }

  // Keeps the block when the limit allows, releasing the oldest idle blocks to make room. Idle
  // bytes stay within the limit and within the most bytes ever in use at once: a loop whose shapes
  // repeat finds all it needs, and one whose shapes vary (batches of sentences) keeps at most one
  // working set of blocks it may never ask for again.
  void give(void* p, std::size_t bytes) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    in_use_ -= std::min(in_use_, bytes);
    const std::size_t cap = std::min(limit_, peak_in_use_);
    if (!enabled() || bytes > cap) {
      std::free(p);
      return;
    }
    while (stats_.idle_bytes + bytes > cap) evict_oldest();
    try {
      auto& same = by_size_[bytes];
      same.reserve(same.size() + 1);
      idle_.push_back({p, bytes});
      same.push_back(std::prev(idle_.end()));  // cannot throw after the reserve
    } catch (...) {  // no memory for the bookkeeping (nothing was added): let the block go instead
      if (auto it = by_size_.find(bytes); it != by_size_.end() && it->second.empty()) by_size_.erase(it);
      std::free(p);
      return;
    }
    stats_.idle_bytes += bytes;
    ++stats_.idle_blocks;
  }

  void set_limit(std::size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    limit_ = bytes;
    while (stats_.idle_bytes > limit_) evict_oldest();
  }

  std::size_t limit() {
    std::lock_guard<std::mutex> lock(mutex_);
    return limit_;
  }

  void release_all() {
    std::lock_guard<std::mutex> lock(mutex_);
    while (!idle_.empty()) evict_oldest();
  }

  StorageStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  bool enabled_locked() {
    std::lock_guard<std::mutex> lock(mutex_);
    return enabled();
  }

 private:
  struct Block {
    void* ptr;
    std::size_t bytes;
  };
  using BlockIt = std::list<Block>::iterator;

  bool enabled() const { return kCacheBuiltIn && limit_ > 0; }

  // Frees the oldest idle block (the caller holds the lock; the cache is not empty). Rare in a
  // steady training loop, so the free (possibly an munmap) under the lock is acceptable.
  void evict_oldest() {
    const Block block = idle_.front();
    auto same = by_size_.find(block.bytes);
    same->second.erase(same->second.begin());  // the oldest of its size, as idle_ is in caching order
    if (same->second.empty()) by_size_.erase(same);
    idle_.pop_front();
    stats_.idle_bytes -= block.bytes;
    --stats_.idle_blocks;
    std::free(block.ptr);
  }

  std::mutex mutex_;
  std::size_t limit_;
  std::size_t in_use_ = 0, peak_in_use_ = 0;  // large blocks handed out
  StorageStats stats_;
  std::list<Block> idle_;
  std::unordered_map<std::size_t, std::vector<BlockIt>> by_size_;
};

// Never destroyed: tensors owned by other static objects may be freed after this file's statics
// would have been destroyed, and their deleters still come here.
Cache& cache() {
  static Cache* c = new Cache;
  return *c;
}

}  // namespace

namespace detail {

std::size_t storage_bytes(index_t numel, std::size_t elem_size) {
  RECUR_CHECK(numel >= 0, fmt::format("storage for {} elements requested", numel));
  std::size_t bytes = 0;
  RECUR_CHECK(
      !__builtin_mul_overflow(static_cast<std::size_t>(std::max<index_t>(numel, 1)), elem_size, &bytes) &&
          bytes <= std::size_t(-1) - kStorageAlignBytes,
      fmt::format("storage for {} elements of {} bytes overflows", numel, elem_size));
  bytes = (bytes + kStorageAlignBytes - 1) / kStorageAlignBytes * kStorageAlignBytes;
  if (bytes < kStorageCacheMinBytes) return bytes;
  // A cached size is one of 16 classes per power of two (at most 1/16 = 6.25% unused), so that
  // batches of varying shape (sentences of different lengths) reuse each other's blocks: with exact
  // sizes every new length was a miss, and the cache filled to its limit with blocks never reused
  // (a tagger's inference: 1.4 GB resident for 0.17 GB in use).
  const int top = 63 - __builtin_clzll(bytes);  // 2^top <= bytes < 2^(top+1)
  const std::size_t step = std::size_t(1) << (top - 4);
  return (bytes + step - 1) / step * step;
}

void* acquire_storage(std::size_t bytes, bool zeroed) {
  Cache& c = cache();  // also reads RECUR_STORAGE_CACHE_MB on first use, whatever the size
  if (bytes < kStorageCacheMinBytes) {
    void* p = aligned_block(bytes);
    if (zeroed) std::memset(p, 0, bytes);
    return p;
  }
  void* p = c.take(bytes);
  if (!p) p = aligned_block(bytes);
  c.note_in_use(bytes);
  // A fresh block from mmap is already zero, but we cannot tell it from one glibc reused.
  if (zeroed) std::memset(p, 0, bytes);
  return p;
}

void release_storage(void* p, std::size_t bytes) noexcept {
  if (!p) return;
  if (bytes < kStorageCacheMinBytes) {
    std::free(p);
    return;
  }
  cache().give(p, bytes);
}

}  // namespace detail

void set_storage_cache_limit(std::size_t bytes) {
  cache().set_limit(bytes);
}

std::size_t storage_cache_limit() {
  return cache().limit();
}

void release_cached_storage() {
  cache().release_all();
}

StorageStats storage_stats() {
  return cache().stats();
}

bool storage_cache_enabled() {
  return cache().enabled_locked();
}

}  // namespace recur
