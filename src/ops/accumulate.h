// Internal: row maxima, and sums and dot products accumulated in double over 8 independent lanes. The lanes
// break the serial add chain (a plain `double s += x[i]` loop runs at one add per 4 cycles and cannot be
// vectorized without -ffast-math); the result is deterministic: lane order is fixed.
#pragma once

#include "recur/common.h"

namespace recur::ops::detail {

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
