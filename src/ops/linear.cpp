#include "recur/ops/linear.h"

#include "recur/ops/elementwise.h"
#include "recur/ops/gemm.h"

namespace recur::ops {

template <class T>
void linear_forward(const T* x, const T* W, const T* b, T* y, index_t N, index_t I, index_t O) {
  gemm(Trans::kNo, Trans::kYes, N, O, I, T(1), x, I, W, I, T(0), y, O);
  if (b) add_bias_forward(y, b, y, N, O);
}

template <class T>
void linear_backward(const T* x, const T* W, const T* dy, T* dx, T* dW, T* db, index_t N, index_t I,
                     index_t O) {
  if (dx) gemm(Trans::kNo, Trans::kNo, N, I, O, T(1), dy, O, W, I, T(1), dx, I);
  if (dW) gemm(Trans::kYes, Trans::kNo, O, I, N, T(1), dy, O, x, I, T(1), dW, I);
  if (db) add_bias_backward<T>(dy, nullptr, db, N, O);
}

template void linear_forward<float>(const float*, const float*, const float*, float*, index_t, index_t,
                                    index_t);
template void linear_forward<double>(const double*, const double*, const double*, double*, index_t, index_t,
                                     index_t);
template void linear_backward<float>(const float*, const float*, const float*, float*, float*, float*,
                                     index_t, index_t, index_t);
template void linear_backward<double>(const double*, const double*, const double*, double*, double*, double*,
                                      index_t, index_t, index_t);

}  // namespace recur::ops
