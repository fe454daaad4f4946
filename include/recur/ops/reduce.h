// Full reductions to a scalar (accumulated in double).
#pragma once

#include "recur/common.h"

namespace recur::ops {

// y = Σ_i x_i                          x: (n)
template <class T>
T sum_forward(const T* x, index_t n);
// dx_i += dy
template <class T>
void sum_backward(T dy, T* dx, index_t n);

// y = Σ_i x_i / n    (0 for n = 0)
template <class T>
T mean_forward(const T* x, index_t n);
// dx_i += dy / n
template <class T>
void mean_backward(T dy, T* dx, index_t n);

}  // namespace recur::ops
