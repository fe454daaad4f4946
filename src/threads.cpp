#include "recur/threads.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>

namespace recur {

namespace {

int threads_from_environment() {
  if (const char* env = std::getenv("RECUR_NUM_THREADS")) {
    char* end = nullptr;
    long n = std::strtol(env, &end, 10);
    RECUR_CHECK(end != env && *end == '\0' && n >= 1 && n <= 1024,
                std::string("RECUR_NUM_THREADS must be an integer in [1, 1024], got '") + env + "'");
    return static_cast<int>(n);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

std::atomic<int>& thread_count() {
  static std::atomic<int> count{threads_from_environment()};
  return count;
}

}  // namespace

int num_threads() {
  return thread_count().load(std::memory_order_relaxed);
}

void set_num_threads(int n) {
  RECUR_CHECK(n >= 1, "set_num_threads: need at least 1 thread, got " + std::to_string(n));
  thread_count().store(n, std::memory_order_relaxed);
}

namespace detail {
int threads_for(index_t n, index_t min_per_thread) {
  const int limit = num_threads();
  if (limit <= 1 || n < 2 * min_per_thread) return 1;
#ifdef _OPENMP
  if (omp_in_parallel()) return 1;  // never nest: the caller already uses the threads
#endif
  return static_cast<int>(std::min<index_t>(limit, n / std::max<index_t>(min_per_thread, 1)));
}
}  // namespace detail

}  // namespace recur
