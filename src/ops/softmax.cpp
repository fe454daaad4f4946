#include "recur/ops/softmax.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernel_support.h"
#include "recur/ops/vmath.h"

namespace recur::ops {

namespace {
template <class Body>
void for_rows(index_t N, index_t C, Body&& body) {
  detail::for_row_blocks(N, C, [&](index_t r0, index_t r1) {
    for (index_t r = r0; r < r1; ++r) body(r);
  });
}

// y = exp(x - max(x)) for one row of C; returns Σ y (accumulated in double).
template <class T>
double shifted_exp(const T* x, T* y, index_t C) {
  const T m = detail::max_lanes(x, C);
  for (index_t c = 0; c < C; ++c) y[c] = x[c] - m;
  vmath::exp(y, y, C);
  return detail::sum_lanes(y, C);
}
}  // namespace

template <class T>
void softmax_forward(const T* x, T* y, index_t N, index_t C) {
  if (C == 0) return;
  for_rows(N, C, [=](index_t r) {
    const T inv = static_cast<T>(1.0 / shifted_exp(x + r * C, y + r * C, C));
    for (index_t c = 0; c < C; ++c) y[r * C + c] *= inv;
  });
}

template <class T>
void softmax_backward(const T* y, const T* dy, T* dx, index_t N, index_t C) {
  if (!dx) return;
  for_rows(N, C, [=](index_t r) {
    const T *yr = y + r * C, *gr = dy + r * C;
    const double dot = detail::dot_lanes(gr, yr, C);
    for (index_t c = 0; c < C; ++c) dx[r * C + c] += yr[c] * (gr[c] - static_cast<T>(dot));
  });
}

template <class T>
void log_softmax_forward(const T* x, T* y, index_t N, index_t C) {
  if (C == 0) return;
  detail::for_row_blocks(N, C, [=](index_t r0, index_t r1) {
    std::vector<T> exps(static_cast<size_t>(C));  // scratch, so that y may alias x
    for (index_t r = r0; r < r1; ++r) {
      const T* xr = x + r * C;
      T* yr = y + r * C;
      const T m = detail::max_lanes(xr, C);
      // (x - m) - log Σ exp(x - m): never form m + log Σ, which would round to the precision of the
      // largest logit (an error of ulp(1000) ≈ 6e-5 in float for logits near 1000).
      const T log_sum = static_cast<T>(std::log(shifted_exp(xr, exps.data(), C)));
      for (index_t c = 0; c < C; ++c) yr[c] = (xr[c] - m) - log_sum;
    }
  });
}

template <class T>
void log_softmax_backward(const T* y, const T* dy, T* dx, index_t N, index_t C) {
  if (!dx) return;
  detail::for_row_blocks(N, C, [=](index_t r0, index_t r1) {
    std::vector<T> probs(static_cast<size_t>(C));
    for (index_t r = r0; r < r1; ++r) {
      const T *yr = y + r * C, *gr = dy + r * C;
      const double total = detail::sum_lanes(gr, C);
      vmath::exp(yr, probs.data(), C);
      for (index_t c = 0; c < C; ++c) dx[r * C + c] += gr[c] - probs[c] * static_cast<T>(total);
    }
  });
}

#define RECUR_INSTANTIATE_SOFTMAX(T)                                           \
  template void softmax_forward<T>(const T*, T*, index_t, index_t);            \
  template void softmax_backward<T>(const T*, const T*, T*, index_t, index_t); \
  template void log_softmax_forward<T>(const T*, T*, index_t, index_t);        \
  template void log_softmax_backward<T>(const T*, const T*, T*, index_t, index_t);
RECUR_INSTANTIATE_SOFTMAX(float)
RECUR_INSTANTIATE_SOFTMAX(double)

}  // namespace recur::ops
