// Storage for Tensor buffers and the parameter arena: 64-byte aligned blocks, with a process-wide
// cache of large blocks so that a training loop, which allocates the same shapes every iteration,
// stops asking the OS for memory after its first iteration.
//
// Why: glibc serves blocks above its mmap threshold (128 KiB rising to 32 MiB) with mmap and gives
// them back with munmap, so without a cache every activation buffer of every step is faulted in and
// zeroed by the kernel again (measured: ~9% of LSTM training time in page faults).
//
// Policy: blocks of at least kStorageCacheMinBytes are sized in classes (16 per power of two, at
// most 6.25% unused) and go back to the cache when their last owner lets go; an allocation of a
// class takes the most recently cached block of it, so batches whose shapes vary a little (sentences
// of different lengths) reuse each other's blocks. Idle (cached) bytes stay within a limit (default
// 1 GiB, environment variable RECUR_STORAGE_CACHE_MB read once at first use, or
// set_storage_cache_limit()) and within the most bytes ever in use at once; past either the least
// recently cached blocks are released first. Smaller blocks go straight to aligned_alloc / free.
// Under AddressSanitizer nothing is cached, so use-after-free of a tensor buffer is still reported.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

#include "recur/common.h"

namespace recur {

inline constexpr std::size_t kStorageAlignBytes = 64;  // whole cache lines, aligned vector loads
inline constexpr std::size_t kStorageCacheMinBytes = std::size_t(256) << 10;
inline constexpr std::size_t kDefaultStorageCacheLimit = std::size_t(1) << 30;

struct StorageStats {
  std::size_t idle_bytes = 0;  // held by the cache, owned by no tensor
  std::size_t idle_blocks = 0;
  std::uint64_t hits = 0;    // large allocations served from the cache
  std::uint64_t misses = 0;  // large allocations that went to aligned_alloc
};

namespace detail {
// Bytes of a block for numel elements of elem_size: at least one element, rounded up to a multiple
// of kStorageAlignBytes. Throws recur::Error for negative numel or overflow.
std::size_t storage_bytes(index_t numel, std::size_t elem_size);
// bytes must come from storage_bytes. Zeroed means all bits zero, over the whole block.
void* acquire_storage(std::size_t bytes, bool zeroed);
void release_storage(void* p, std::size_t bytes) noexcept;
}  // namespace detail

// A buffer of numel elements (at least one), 64-byte aligned, zero-filled when `zeroed`, otherwise
// with unspecified contents. The shared_ptr's deleter hands the block back to the cache.
template <class T>
std::shared_ptr<T[]> allocate_storage(index_t numel, bool zeroed) {
  static_assert(std::is_trivial_v<T> && alignof(T) <= kStorageAlignBytes,
                "storage holds trivial types whose all-zero bits are their zero");
  const std::size_t bytes = detail::storage_bytes(numel, sizeof(T));
  T* p = static_cast<T*>(detail::acquire_storage(bytes, zeroed));
  // If the control block cannot be allocated, shared_ptr calls the deleter on p itself.
  return std::shared_ptr<T[]>(p, [bytes](T* q) { detail::release_storage(q, bytes); });
}

// Limit on idle cached bytes; lowering it releases the oldest idle blocks now, 0 disables caching.
void set_storage_cache_limit(std::size_t bytes);
std::size_t storage_cache_limit();
// Releases every idle block to the OS (live buffers are unaffected).
void release_cached_storage();
StorageStats storage_stats();
// False when built with AddressSanitizer or when the limit is 0: then no block is ever cached.
bool storage_cache_enabled();

}  // namespace recur
