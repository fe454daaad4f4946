#include "recur/ops/reduce.h"

#include "kernel_support.h"

namespace recur::ops {

template <class T>
T sum_forward(const T* x, index_t n) {
  return static_cast<T>(detail::sum_lanes(x, n));
}

template <class T>
void sum_backward(T dy, T* dx, index_t n) {
  if (dx)
    for (index_t i = 0; i < n; ++i) dx[i] += dy;
}

template <class T>
T mean_forward(const T* x, index_t n) {
  return n > 0 ? static_cast<T>(detail::sum_lanes(x, n) / double(n)) : T(0);
}

template <class T>
void mean_backward(T dy, T* dx, index_t n) {
  if (n > 0) sum_backward(static_cast<T>(double(dy) / double(n)), dx, n);
}

#define RECUR_INSTANTIATE_REDUCE(T)              \
  template T sum_forward<T>(const T*, index_t);  \
  template void sum_backward<T>(T, T*, index_t); \
  template T mean_forward<T>(const T*, index_t); \
  template void mean_backward<T>(T, T*, index_t);
RECUR_INSTANTIATE_REDUCE(float)
RECUR_INSTANTIATE_REDUCE(double)

}  // namespace recur::ops
