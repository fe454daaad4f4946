// The thread rule's building blocks: parallel_for covers every index exactly once with contiguous
// chunks, stays serial for small work and inside a parallel region, and thread counts are checked.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <utility>
#include <vector>

#include "recur/threads.h"
#include "test_util.h"

namespace recur {
namespace {

// Every test starts from, and restores, the process's thread count.
class ThreadCount : public ::testing::Test {
 private:
  recur::testing::ThreadCountGuard guard_{num_threads()};
};

std::vector<std::pair<index_t, index_t>> chunks_of(index_t n, index_t min_per_thread) {
  std::mutex mutex;
  std::vector<std::pair<index_t, index_t>> chunks;
  parallel_for(n, min_per_thread, [&](index_t begin, index_t end) {
    std::lock_guard<std::mutex> lock(mutex);
    chunks.emplace_back(begin, end);
  });
  std::sort(chunks.begin(), chunks.end());
  return chunks;
}

TEST_F(ThreadCount, ParallelForCoversEveryIndexOnceWithContiguousChunks) {
  set_num_threads(2);
  for (index_t n : {index_t(0), index_t(1), index_t(7), index_t(100), index_t(100001)}) {
    const auto chunks = chunks_of(n, 10);
    index_t next = 0;
    for (const auto& [begin, end] : chunks) {
      EXPECT_EQ(begin, next) << "n " << n;
      EXPECT_LT(begin, end) << "n " << n;
      next = end;
    }
    EXPECT_EQ(next, n);
    EXPECT_LE(chunks.size(), 2u) << "at most one chunk per thread";
  }
}

TEST_F(ThreadCount, SmallWorkStaysOnOneThread) {
  set_num_threads(2);
  EXPECT_EQ(chunks_of(19, 10).size(), 1u);  // fewer than 2 x min_per_thread
  EXPECT_EQ(chunks_of(20, 10).size(), 2u);
  set_num_threads(1);
  EXPECT_EQ(chunks_of(1000000, 1).size(), 1u);
}

TEST_F(ThreadCount, NoNestingInsideAParallelRegion) {
  set_num_threads(2);
  std::atomic<int> outer_chunks{0}, inner_threads_max{0};
  parallel_for(100, 10, [&](index_t, index_t) {
    ++outer_chunks;
    // recur's own guard must say "one thread" here, whatever OpenMP's nesting settings are.
    const int inner = detail::threads_for(1000000, 10);
    int seen = inner_threads_max.load();
    while (inner > seen && !inner_threads_max.compare_exchange_weak(seen, inner)) {
    }
  });
  EXPECT_EQ(outer_chunks.load(), 2);
  EXPECT_EQ(inner_threads_max.load(), 1);
  EXPECT_EQ(detail::threads_for(1000000, 10), 2);  // and two outside
}

TEST_F(ThreadCount, RejectsNonPositiveCounts) {
  EXPECT_THROW(set_num_threads(0), Error);
  EXPECT_THROW(set_num_threads(-3), Error);
  set_num_threads(3);
  EXPECT_EQ(num_threads(), 3);
}

}  // namespace
}  // namespace recur
