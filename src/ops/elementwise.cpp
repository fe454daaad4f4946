#include "recur/ops/elementwise.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernel_support.h"
#include "recur/ops/vmath.h"

namespace recur::ops {

using detail::for_each_element;
using detail::kMinElementsPerThread;

template <class T>
void add_forward(const T* a, const T* b, T* y, index_t n) {
  for_each_element(n, [=](index_t i) { y[i] = a[i] + b[i]; });
}

template <class T>
void sub_forward(const T* a, const T* b, T* y, index_t n) {
  for_each_element(n, [=](index_t i) { y[i] = a[i] - b[i]; });
}

template <class T>
void accumulate(const T* dy, T s, T* dx, index_t n) {
  if (!dx) return;
  for_each_element(n, [=](index_t i) { dx[i] += s * dy[i]; });
}

template <class T>
void scale_forward(const T* x, T c, T* y, index_t n) {
  for_each_element(n, [=](index_t i) { y[i] = c * x[i]; });
}

template <class T>
void mul_forward(const T* a, const T* b, T* y, index_t n) {
  for_each_element(n, [=](index_t i) { y[i] = a[i] * b[i]; });
}

template <class T>
void mul_backward(const T* a, const T* b, const T* dy, T* da, T* db, index_t n) {
  if (da) for_each_element(n, [=](index_t i) { da[i] += dy[i] * b[i]; });
  if (db) for_each_element(n, [=](index_t i) { db[i] += dy[i] * a[i]; });
}

template <class T>
void add_bias_forward(const T* x, const T* bias, T* y, index_t N, index_t C) {
  detail::for_row_blocks(N, C, [=](index_t r0, index_t r1) {
    for (index_t r = r0; r < r1; ++r)
      for (index_t c = 0; c < C; ++c) y[r * C + c] = x[r * C + c] + bias[c];
  });
}

template <class T>
void add_bias_backward(const T* dy, T* dx, T* dbias, index_t N, index_t C) {
  accumulate(dy, T(1), dx, N * C);
  if (!dbias) return;
  // Over all N rows, in double, rows in order; threads take column ranges, so the sums have the
  // same bits for any thread count.
  const index_t min_columns = std::max<index_t>(16, kMinElementsPerThread / std::max<index_t>(N, 1));
  std::vector<double> sums(static_cast<size_t>(C), 0.0);  // allocated outside the parallel region
  double* column_sums = sums.data();
  parallel_for(C, min_columns, [=](index_t c0, index_t c1) {
    for (index_t r = 0; r < N; ++r) {
      const T* row = dy + r * C;
      for (index_t c = c0; c < c1; ++c) column_sums[c] += row[c];
    }
    for (index_t c = c0; c < c1; ++c) dbias[c] += static_cast<T>(column_sums[c]);
  });
}

template <class T>
void tanh_forward(const T* x, T* y, index_t n) {
  parallel_for(n, kMinElementsPerThread, [=](index_t b, index_t e) { vmath::tanh(x + b, y + b, e - b); });
}

template <class T>
void tanh_backward(const T* y, const T* dy, T* dx, index_t n) {
  if (dx) for_each_element(n, [=](index_t i) { dx[i] += dy[i] * (T(1) - y[i] * y[i]); });
}

template <class T>
void sigmoid_forward(const T* x, T* y, index_t n) {
  parallel_for(n, kMinElementsPerThread, [=](index_t b, index_t e) { vmath::sigmoid(x + b, y + b, e - b); });
}

template <class T>
void sigmoid_backward(const T* y, const T* dy, T* dx, index_t n) {
  if (dx) for_each_element(n, [=](index_t i) { dx[i] += dy[i] * y[i] * (T(1) - y[i]); });
}

template <class T>
void relu_forward(const T* x, T* y, index_t n) {
  for_each_element(n, [=](index_t i) { y[i] = x[i] > T(0) ? x[i] : T(0); });
}

template <class T>
void relu_backward(const T* y, const T* dy, T* dx, index_t n) {
  if (dx) for_each_element(n, [=](index_t i) { dx[i] += y[i] > T(0) ? dy[i] : T(0); });
}

template <class T>
void dropout_forward(const T* x, const T* mask, T* y, index_t n) {
  mul_forward(x, mask, y, n);
}

template <class T>
void dropout_backward(const T* mask, const T* dy, T* dx, index_t n) {
  if (dx) for_each_element(n, [=](index_t i) { dx[i] += dy[i] * mask[i]; });
}

template <class T>
void dropout_mask(Rng& rng, T p, T* mask, index_t n) {
  RECUR_CHECK(p >= T(0) && p < T(1), "dropout probability must be in [0, 1), got " + std::to_string(p));
  const T keep_scale = T(1) / (T(1) - p);
  // One 32-bit draw per element, dropped below p·2^32 (p < 1: the threshold fits; p = 0 drops none).
  const auto threshold = static_cast<std::uint64_t>(std::ldexp(static_cast<double>(p), 32));
  // Branch-free: at p = 0.5 a branch on the draw is mispredicted every other element.
  for (index_t i = 0; i < n; ++i) mask[i] = static_cast<T>(rng.next_u32() >= threshold) * keep_scale;
}

#define RECUR_INSTANTIATE_ELEMENTWISE(T)                                        \
  template void add_forward<T>(const T*, const T*, T*, index_t);                \
  template void sub_forward<T>(const T*, const T*, T*, index_t);                \
  template void accumulate<T>(const T*, T, T*, index_t);                        \
  template void scale_forward<T>(const T*, T, T*, index_t);                     \
  template void mul_forward<T>(const T*, const T*, T*, index_t);                \
  template void mul_backward<T>(const T*, const T*, const T*, T*, T*, index_t); \
  template void add_bias_forward<T>(const T*, const T*, T*, index_t, index_t);  \
  template void add_bias_backward<T>(const T*, T*, T*, index_t, index_t);       \
  template void tanh_forward<T>(const T*, T*, index_t);                         \
  template void tanh_backward<T>(const T*, const T*, T*, index_t);              \
  template void sigmoid_forward<T>(const T*, T*, index_t);                      \
  template void sigmoid_backward<T>(const T*, const T*, T*, index_t);           \
  template void relu_forward<T>(const T*, T*, index_t);                         \
  template void relu_backward<T>(const T*, const T*, T*, index_t);              \
  template void dropout_forward<T>(const T*, const T*, T*, index_t);            \
  template void dropout_backward<T>(const T*, const T*, T*, index_t);           \
  template void dropout_mask<T>(Rng&, T, T*, index_t);
RECUR_INSTANTIATE_ELEMENTWISE(float)
RECUR_INSTANTIATE_ELEMENTWISE(double)

}  // namespace recur::ops
