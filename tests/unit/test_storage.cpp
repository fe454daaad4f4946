// allocate_storage and its cache of large blocks: alignment, zeroing of reused blocks, reuse by exact
// size, no aliasing of live blocks, the idle-bytes limit and its eviction order, thread safety, and
// Tensor / ParameterTable on top of it. Under AddressSanitizer the cache is off by design
// (storage_cache_enabled() is false); the tests then check that nothing is ever cached.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "recur/nn/parameters.h"
#include "recur/storage.h"
#include "recur/tensor.h"
#include "test_util.h"

namespace recur {
namespace {

constexpr index_t kBig = 76800;  // floats: 300 KiB, above the cache threshold
// Its 307,200 bytes rounded up to their size class: 16 classes per power of two, so steps of 2^14
// between 2^18 and 2^19: 19 · 2^14.
constexpr std::size_t kBigBytes = 19 * (std::size_t(1) << 14);
constexpr index_t kOtherBig = 81920;  // floats: 320 KiB
static_assert(kBigBytes >= kStorageCacheMinBytes && kBigBytes % kStorageAlignBytes == 0);

bool aligned(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % kStorageAlignBytes == 0;
}

template <class T>
bool all_equal(const T* p, index_t n, T value) {
  return std::all_of(p, p + n, [&](T x) { return x == value; });
}

// Every test starts from an empty cache with the default limit and leaves the process as it found it.
class Storage : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_limit_ = storage_cache_limit();
    set_storage_cache_limit(kDefaultStorageCacheLimit);
    release_cached_storage();
  }
  void TearDown() override {
    release_cached_storage();
    set_storage_cache_limit(saved_limit_);
  }
  // Asserts the ASan behaviour: nothing is idle in the cache.
  static void expect_nothing_cached() {
    const StorageStats s = storage_stats();
    EXPECT_EQ(s.idle_bytes, 0u);
    EXPECT_EQ(s.idle_blocks, 0u);
  }

 private:
  std::size_t saved_limit_ = 0;
};

TEST_F(Storage, BytesAreRoundedToWholeCacheLinesWithAtLeastOneElement) {
  EXPECT_EQ(detail::storage_bytes(0, sizeof(float)), 64u);
  EXPECT_EQ(detail::storage_bytes(1, sizeof(double)), 64u);
  EXPECT_EQ(detail::storage_bytes(16, sizeof(float)), 64u);
  EXPECT_EQ(detail::storage_bytes(17, sizeof(float)), 128u);
  EXPECT_EQ(detail::storage_bytes(kBig, sizeof(float)), kBigBytes);
  EXPECT_TRUE(testing::throws_error_with([] { detail::storage_bytes(-1, 4); }, {"-1 elements"}));
  EXPECT_TRUE(testing::throws_error_with([] { detail::storage_bytes(index_t(1) << 62, 8); }, {"overflows"}));
}

// Large sizes fall in classes of 1/16 of their power of two, so shapes that differ a little share
// blocks; the unused tail of a block is at most 1/16 of it.
TEST_F(Storage, LargeSizesFallInSixteenClassesPerPowerOfTwo) {
  EXPECT_EQ(detail::storage_bytes(index_t(1) << 16, sizeof(float)), std::size_t(1) << 18);  // exact
  EXPECT_EQ(detail::storage_bytes((index_t(1) << 16) + 1, sizeof(float)), (std::size_t(1) << 18) + (1 << 14));
  for (index_t n = kBig - 1000; n <= kBig + 200; n += 100)
    EXPECT_EQ(detail::storage_bytes(n, sizeof(float)), kBigBytes) << n;
  for (index_t n : {index_t(70000), index_t(1) << 20, index_t(12345678)}) {
    const std::size_t bytes = detail::storage_bytes(n, sizeof(float));
    EXPECT_GE(bytes, std::size_t(n) * sizeof(float));
    EXPECT_LE(double(bytes), double(n) * sizeof(float) * (1.0 + 1.0 / 16) + 64) << n;
  }
  // A block of a slightly smaller shape in the same class is the cached one.
  const StorageStats before = storage_stats();
  { auto a = allocate_storage<float>(kBig, false); }
  { auto b = allocate_storage<float>(kBig - 500, false); }
  EXPECT_EQ(storage_stats().hits, before.hits + (storage_cache_enabled() ? 1 : 0));
}

TEST_F(Storage, SmallAndLargeBlocksAre64ByteAligned) {
  std::vector<std::shared_ptr<float[]>> floats;
  std::vector<std::shared_ptr<double[]>> doubles;
  for (index_t n :
       {index_t(0), index_t(1), index_t(3), index_t(17), index_t(1000), kBig, index_t(3) * kBig + 5}) {
    for (bool zeroed : {false, true}) {
      floats.push_back(allocate_storage<float>(n, zeroed));
      doubles.push_back(allocate_storage<double>(n, zeroed));
      EXPECT_TRUE(aligned(floats.back().get())) << "float, numel " << n << ", zeroed " << zeroed;
      EXPECT_TRUE(aligned(doubles.back().get())) << "double, numel " << n << ", zeroed " << zeroed;
      if (zeroed) {
        EXPECT_TRUE(all_equal(floats.back().get(), std::max<index_t>(n, 1), 0.0f)) << "numel " << n;
        EXPECT_TRUE(all_equal(doubles.back().get(), std::max<index_t>(n, 1), 0.0)) << "numel " << n;
      }
    }
  }
  // Reused blocks are aligned too.
  floats.clear();
  auto again = allocate_storage<float>(kBig, false);
  EXPECT_TRUE(aligned(again.get()));
}

TEST_F(Storage, SameSizeIsServedFromTheCacheAndCountedAsAHit) {
  auto first = allocate_storage<float>(kBig, false);
  float* const first_ptr = first.get();
  const StorageStats before = storage_stats();
  first.reset();  // back to the cache
  const StorageStats idle = storage_stats();
  auto second = allocate_storage<float>(kBig, false);
  const StorageStats after = storage_stats();
  if (storage_cache_enabled()) {
    EXPECT_EQ(idle.idle_bytes, before.idle_bytes + kBigBytes);
    EXPECT_EQ(idle.idle_blocks, before.idle_blocks + 1);
    EXPECT_EQ(second.get(), first_ptr);  // the very block, not a new mapping
    EXPECT_EQ(after.hits, before.hits + 1);
    EXPECT_EQ(after.misses, before.misses);
    EXPECT_EQ(after.idle_bytes, before.idle_bytes);
  } else {
    expect_nothing_cached();
    EXPECT_EQ(after.hits, before.hits);
    EXPECT_EQ(after.misses, before.misses + 1);
  }
  // Small blocks never touch the cache or its counters.
  const StorageStats small_before = storage_stats();
  { auto small = allocate_storage<float>(100, true); }
  const StorageStats small_after = storage_stats();
  EXPECT_EQ(small_after.hits, small_before.hits);
  EXPECT_EQ(small_after.misses, small_before.misses);
  EXPECT_EQ(small_after.idle_bytes, small_before.idle_bytes);
}

TEST_F(Storage, ZeroedAllocationOfADirtiedReusedBlockIsZero) {
  float* dirty_ptr = nullptr;
  {
    auto dirty = allocate_storage<float>(kBig, false);
    std::fill(dirty.get(), dirty.get() + kBig, 7.5f);
    dirty_ptr = dirty.get();
  }
  auto clean = allocate_storage<float>(kBig, true);
  if (storage_cache_enabled()) {
    EXPECT_EQ(clean.get(), dirty_ptr);  // so the zeroing was ours
  }
  const auto nonzero = std::count_if(clean.get(), clean.get() + kBig, [](float x) { return x != 0.0f; });
  EXPECT_EQ(nonzero, 0) << "of " << kBig << " elements";
}

TEST_F(Storage, LiveBlocksAndOtherSizesAreNeverHandedOut) {
  auto live = allocate_storage<float>(kBig, false);
  std::fill(live.get(), live.get() + kBig, 1.0f);
  float* other_ptr = nullptr;
  {
    auto other = allocate_storage<float>(kOtherBig, false);  // a different size, freed to the cache
    other_ptr = other.get();
  }
  // Several live blocks of the same size at once: all distinct, none is `live` or the other size.
  std::vector<std::shared_ptr<float[]>> blocks;
  std::set<float*> seen{live.get()};
  for (int i = 0; i < 4; ++i) {
    blocks.push_back(allocate_storage<float>(kBig, false));
    EXPECT_TRUE(seen.insert(blocks.back().get()).second) << "block " << i << " aliases a live block";
    EXPECT_NE(blocks.back().get(), other_ptr) << "a 320 KiB block was handed out for 300 KiB";
    std::fill(blocks.back().get(), blocks.back().get() + kBig, float(i + 2));
  }
  EXPECT_TRUE(all_equal(live.get(), kBig, 1.0f));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(all_equal(blocks[size_t(i)].get(), kBig, float(i + 2))) << i;
  if (storage_cache_enabled()) {
    EXPECT_EQ(storage_stats().idle_blocks, 1u);  // the 320 KiB block waits for its own size
    auto same_as_other = allocate_storage<float>(kOtherBig, false);
    EXPECT_EQ(same_as_other.get(), other_ptr);
  }
}

TEST_F(Storage, IdleBytesStayWithinTheLimitAndTheOldestGoFirst) {
  constexpr std::size_t kLimit = std::size_t(1) << 20;  // room for 3 blocks of 300 KiB, not 4
  set_storage_cache_limit(kLimit);
  std::vector<std::shared_ptr<float[]>> blocks;
  std::vector<float*> ptrs;
  for (int i = 0; i < 5; ++i) {
    blocks.push_back(allocate_storage<float>(kBig, false));
    ptrs.push_back(blocks.back().get());
  }
  for (auto& b : blocks) {
    b.reset();  // freed in order 0, 1, 2, 3, 4
    EXPECT_LE(storage_stats().idle_bytes, kLimit);
  }
  if (!storage_cache_enabled()) {
    expect_nothing_cached();
    return;
  }
  EXPECT_EQ(storage_stats().idle_blocks, 3u);
  EXPECT_EQ(storage_stats().idle_bytes, 3 * kBigBytes);
  // Blocks 0 and 1 were released; 4, 3, 2 come back, most recently cached first.
  const StorageStats before = storage_stats();
  std::vector<std::shared_ptr<float[]>> again;
  for (int i = 0; i < 3; ++i) again.push_back(allocate_storage<float>(kBig, false));
  EXPECT_EQ(again[0].get(), ptrs[4]);
  EXPECT_EQ(again[1].get(), ptrs[3]);
  EXPECT_EQ(again[2].get(), ptrs[2]);
  again.push_back(allocate_storage<float>(kBig, false));  // the cache is empty now
  const StorageStats after = storage_stats();
  EXPECT_EQ(after.hits, before.hits + 3);
  EXPECT_EQ(after.misses, before.misses + 1);
  EXPECT_EQ(after.idle_blocks, 0u);
  again.clear();
  EXPECT_EQ(storage_stats().idle_blocks, 3u);

  // A block larger than the whole limit is not kept at all.
  { auto huge = allocate_storage<float>(index_t(2) * kLimit / sizeof(float), false); }
  EXPECT_EQ(storage_stats().idle_bytes, 3 * kBigBytes);

  // Lowering the limit releases the oldest idle blocks at once.
  set_storage_cache_limit(kBigBytes + kBigBytes / 2);
  EXPECT_EQ(storage_stats().idle_blocks, 1u);
  EXPECT_EQ(storage_stats().idle_bytes, kBigBytes);
  release_cached_storage();
  expect_nothing_cached();
}

TEST_F(Storage, LimitZeroDisablesCachingAndReleasesEverything) {
  { auto b = allocate_storage<float>(kBig, false); }
  if (storage_cache_enabled()) {
    EXPECT_EQ(storage_stats().idle_blocks, 1u);
  }
  set_storage_cache_limit(0);
  EXPECT_FALSE(storage_cache_enabled());
  EXPECT_EQ(storage_cache_limit(), 0u);
  expect_nothing_cached();
  const StorageStats before = storage_stats();
  for (int i = 0; i < 3; ++i) {
    auto b = allocate_storage<float>(kBig, true);
    EXPECT_TRUE(all_equal(b.get(), kBig, 0.0f));
    std::fill(b.get(), b.get() + kBig, 3.0f);
  }
  const StorageStats after = storage_stats();
  EXPECT_EQ(after.hits, before.hits);
  EXPECT_EQ(after.misses, before.misses + 3);
  expect_nothing_cached();
}

TEST_F(Storage, ConcurrentAllocationAndFreeKeepContentsAndCounts) {
  constexpr int kThreads = 4, kIters = 300, kKeep = 3;
  const index_t sizes[] = {kBig, kOtherBig, 1000, kBig + 16, 70000};  // large and small, floats
  std::atomic<int> corrupted{0};
  std::atomic<std::uint64_t> large_allocations{0};
  const StorageStats before = storage_stats();
  std::vector<std::thread> threads;
  for (int id = 0; id < kThreads; ++id) {
    threads.emplace_back([&, id] {
      struct Held {
        std::shared_ptr<float[]> p;
        index_t n;
        float value;
      };
      std::vector<Held> held;  // a few live blocks per thread, so frees interleave with allocations
      for (int it = 0; it < kIters; ++it) {
        const index_t n = sizes[(id + it) % 5];
        const bool zeroed = it % 2 == 0;
        Held h{allocate_storage<float>(n, zeroed), n, float(id * 100000 + it)};
        if (n * index_t(sizeof(float)) >= index_t(kStorageCacheMinBytes)) ++large_allocations;
        if (zeroed && !all_equal(h.p.get(), n, 0.0f)) ++corrupted;
        std::fill(h.p.get(), h.p.get() + n, h.value);
        held.push_back(std::move(h));
        if (held.size() > kKeep) {
          for (const Held& x : held)
            if (!all_equal(x.p.get(), x.n, x.value)) ++corrupted;  // another thread wrote into it
          held.erase(held.begin());
        }
      }
      for (const Held& x : held)
        if (!all_equal(x.p.get(), x.n, x.value)) ++corrupted;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(corrupted.load(), 0);
  const StorageStats after = storage_stats();
  EXPECT_EQ((after.hits - before.hits) + (after.misses - before.misses), large_allocations.load());
  EXPECT_LE(after.idle_bytes, storage_cache_limit());
  if (storage_cache_enabled()) {
    // At most kThreads·(kKeep+1) blocks were live at once, so most allocations were reuses.
    EXPECT_GT(after.hits - before.hits, large_allocations.load() / 2);
    EXPECT_GT(after.idle_blocks, 0u);
  } else {
    EXPECT_EQ(after.hits, before.hits);
    expect_nothing_cached();
  }
}

// Many short critical sections: no filling, so threads meet inside the cache often. A block handed
// to two threads at once shows up as a changed marker or a mismatch in the counters.
TEST_F(Storage, ConcurrentTightLoopHandsEachBlockToOneOwner) {
  constexpr int kThreads = 4;
  const int kIters = storage_cache_enabled() ? 50000 : 2000;  // without the cache each one is an mmap
  std::atomic<int> aliased{0};
  const StorageStats before = storage_stats();
  std::vector<std::thread> threads;
  for (int id = 0; id < kThreads; ++id) {
    threads.emplace_back([&, id] {
      for (int it = 0; it < kIters; ++it) {
        const index_t n = it % 3 == 0 ? kOtherBig : kBig;
        auto a = allocate_storage<float>(n, false), b = allocate_storage<float>(n, false);
        const float marker = float(id * kIters + it);
        a[0] = a[n - 1] = marker;
        b[0] = b[n - 1] = -marker;
        if (a.get() == b.get() || a[0] != marker || a[n - 1] != marker || b[0] != -marker ||
            b[n - 1] != -marker)
          ++aliased;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(aliased.load(), 0);
  const StorageStats after = storage_stats();
  EXPECT_EQ((after.hits - before.hits) + (after.misses - before.misses),
            std::uint64_t(2) * kThreads * kIters);
  if (storage_cache_enabled()) {
    // Each thread holds at most two blocks, so idle blocks are bounded by 2 per thread and size.
    EXPECT_LE(after.idle_blocks, std::size_t(2) * kThreads * 2);
    EXPECT_GE(after.idle_blocks, 2u);
    EXPECT_EQ(after.idle_bytes % kStorageAlignBytes, 0u);
  } else {
    EXPECT_EQ(after.hits, before.hits);
    expect_nothing_cached();
  }
}

TEST_F(Storage, TensorsZeroReusedStorageAndKeepItWhileAViewLives) {
  const Shape shape{300, 256};  // 300 KiB of floats
  float* dirty_ptr = nullptr;
  {
    Tensor<float> t = Tensor<float>::uninitialized(shape);
    t.fill(-2.0f);
    dirty_ptr = t.data();
    EXPECT_TRUE(aligned(t.data()));
  }
  Tensor<float> z(shape);
  if (storage_cache_enabled()) {
    EXPECT_EQ(z.data(), dirty_ptr);
  }
  EXPECT_TRUE(all_equal(z.data(), z.numel(), 0.0f));
  EXPECT_TRUE(aligned(z.data()));

  // A view keeps the block owned: it goes back to the cache only when the view dies too.
  z.fill(4.0f);
  Tensor<float> view = z.narrow(10, 5);
  const std::size_t idle_before = storage_stats().idle_blocks;
  z = Tensor<float>();
  EXPECT_EQ(storage_stats().idle_blocks, idle_before);
  EXPECT_TRUE(all_equal(view.data(), view.numel(), 4.0f));
  view = Tensor<float>();
  EXPECT_EQ(storage_stats().idle_blocks, idle_before + (storage_cache_enabled() ? 1 : 0));

  // The rest of the API on cached storage: values, clone, cast, full.
  std::vector<double> values(static_cast<size_t>(shape.numel()));
  for (size_t i = 0; i < values.size(); ++i) values[i] = double(i) * 0.5;
  Tensor<double> d(shape, values);
  EXPECT_EQ(d.at({299, 255}), (299.0 * 256 + 255) * 0.5);
  Tensor<double> c = d.clone();
  EXPECT_NE(c.data(), d.data());
  EXPECT_EQ(c.to_vector(), values);
  Tensor<float> f = d.cast<float>();
  EXPECT_EQ(f.at({1, 3}), 129.5f);
  EXPECT_EQ(f.at({299, 255}), float((299.0 * 256 + 255) * 0.5));
  Tensor<float> full = Tensor<float>::full(shape, 1.25f);
  EXPECT_TRUE(all_equal(full.data(), full.numel(), 1.25f));
  Tensor<float> empty(Shape{0, 4});
  EXPECT_EQ(empty.numel(), 0);
  EXPECT_FALSE(empty.empty());
}

TEST_F(Storage, ParameterArenaIsZeroedAndAlignedOnReusedStorage) {
  // Two parameters of kBig / 2 floats: the arena is exactly kBigBytes, the size of the dirtied block.
  float* dirty_ptr = nullptr;
  {
    auto dirty = allocate_storage<float>(kBig, false);
    std::fill(dirty.get(), dirty.get() + kBig, 9.0f);
    dirty_ptr = dirty.get();
  }
  nn::ParameterTable<float> table;
  table.add("w", Shape{kBig / 4, 2});
  table.add("b", Shape{kBig / 2});  // offset kBig / 2 floats = 150 KiB, already 64-byte aligned
  table.freeze();
  EXPECT_EQ(table.numel(), kBig);
  if (storage_cache_enabled()) {
    EXPECT_EQ(table.flat_values().data(), dirty_ptr);
  }
  EXPECT_TRUE(aligned(table.flat_values().data()));
  EXPECT_TRUE(aligned(table.flat_grads().data()));
  EXPECT_TRUE(aligned(table.value(1).data()));
  EXPECT_TRUE(all_equal(table.flat_values().data(), table.numel(), 0.0f));
  EXPECT_TRUE(all_equal(table.flat_grads().data(), table.numel(), 0.0f));
}

}  // namespace
}  // namespace recur
