// Internal helpers shared by the kernels in src/ops/:
// - how elementwise and row-wise work is split over recur's threads;
// - row maxima, sums and dot products over 8 fixed lanes (sums in double). The lanes break the
//   serial chain of a plain `s += x[i]` loop (one add per 4 cycles, not vectorizable without
//   -ffast-math) while keeping the result deterministic: the lane order is fixed.
#pragma once

#include "recur/common.h"
#include "recur/threads.h"

namespace recur::ops::detail {

// Elementwise and row passes are memory-bound: split them only when each thread gets this much.
constexpr index_t kMinElementsPerThread = index_t(1) << 14;

// body(i) for every i in [0, n), in parallel for large n.
template <class Body>
void for_each_element(index_t n, Body&& body) {
  parallel_for(n, kMinElementsPerThread, [&](index_t begin, index_t end) {
    for (index_t i = begin; i < end; ++i) body(i);
  });
}

// body(row_begin, row_end) over N rows of C elements, in parallel for large N·C.
template <class Body>
void for_row_blocks(index_t N, index_t C, Body&& body) {
  parallel_for_rows(N, C, kMinElementsPerThread, static_cast<Body&&>(body));
}

constexpr int kLanes = 8;

template <class T>
double sum_lanes(const T* x, index_t n) {
  double lane[kLanes] = {};
  index_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) lane[l] += double(x[i + l]);
  for (; i < n; ++i) lane[0] += double(x[i]);
  double s = 0;
  for (double v : lane) s += v;
  return s;
}

template <class T>
double dot_lanes(const T* a, const T* b, index_t n) {
  double lane[kLanes] = {};
  index_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) lane[l] += double(a[i + l]) * double(b[i + l]);
  for (; i < n; ++i) lane[0] += double(a[i]) * double(b[i]);
  double s = 0;
  for (double v : lane) s += v;
  return s;
}

// max over x[0, n), n >= 1 (a NaN element is skipped here; it still poisons softmax through exp).
template <class T>
T max_lanes(const T* x, index_t n) {
  T lane[kLanes];
  for (int l = 0; l < kLanes; ++l) lane[l] = x[0];
  index_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) lane[l] = x[i + l] > lane[l] ? x[i + l] : lane[l];
  for (; i < n; ++i) lane[0] = x[i] > lane[0] ? x[i] : lane[0];
  T m = lane[0];
  for (int l = 1; l < kLanes; ++l) m = lane[l] > m ? lane[l] : m;
  return m;
}

}  // namespace recur::ops::detail
