// The one thread pool: OpenMP. recur runs at most num_threads() compute threads at any moment.
//
// The rule (docs/design.md, "Threads"): OpenBLAS is pinned to a single thread, so its own pool
// (started idle when the library loads) never runs; the GEMM seam splits large products across the
// OpenMP threads itself, and
// elementwise kernels use the same OpenMP threads. So GEMM and elementwise phases alternate on
// the same num_threads() threads and can never oversubscribe the cores (the failure measured for
// PyTorch when its OpenMP pool and OpenBLAS's pthread pool both spin on 2 cores).
//
// num_threads() defaults to RECUR_NUM_THREADS from the environment, or else the number of cores.
#pragma once

#include "recur/common.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace recur {

int num_threads();
void set_num_threads(int n);  // n >= 1; also applies to OpenMP parallel regions started by recur

// Runs body(begin, end) over [0, n) split into contiguous chunks, in parallel when
// n >= min_per_thread * 2. Chunks never straddle thread boundaries; body must be thread-safe.
template <class Body>
void parallel_for(index_t n, index_t min_per_thread, Body&& body);

// parallel_for over N rows of C elements each, splitting only when every thread gets at least
// min_elements_per_thread elements: body(row_begin, row_end).
template <class Body>
void parallel_for_rows(index_t N, index_t C, index_t min_elements_per_thread, Body&& body) {
  const index_t min_rows = C > 0 ? (min_elements_per_thread + C - 1) / C : N;
  parallel_for(N, min_rows > 0 ? min_rows : 1, static_cast<Body&&>(body));
}

namespace detail {
int threads_for(index_t n, index_t min_per_thread);
}

template <class Body>
void parallel_for(index_t n, index_t min_per_thread, Body&& body) {
  const int threads = detail::threads_for(n, min_per_thread);
  if (threads <= 1) {
    if (n > 0) body(index_t(0), n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
#ifdef _OPENMP
    const int t = omp_get_thread_num();
    const int nt = omp_get_num_threads();
#else
    const int t = 0, nt = 1;
#endif
    const index_t begin = n * t / nt, end = n * (t + 1) / nt;
    if (begin < end) body(begin, end);
  }
}

}  // namespace recur
