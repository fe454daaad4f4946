// Row-wise softmax and log-softmax over the last axis, numerically stable (max subtracted).
#pragma once

#include "recur/common.h"

namespace recur::ops {

// y[n, :] = softmax(x[n, :])            x, y: (N, C)
template <class T>
void softmax_forward(const T* x, T* y, index_t N, index_t C);
// dx += y ⊙ (dy - Σ_c dy ⊙ y)           (Jacobian diag(y) - y yᵀ applied to dy, row by row)
template <class T>
void softmax_backward(const T* y, const T* dy, T* dx, index_t N, index_t C);

// y[n, :] = x[n, :] - logsumexp(x[n, :])
template <class T>
void log_softmax_forward(const T* x, T* y, index_t N, index_t C);
// dx += dy - exp(y) · Σ_c dy            (∂y_j/∂x_k = δ_jk - softmax_k)
template <class T>
void log_softmax_backward(const T* y, const T* dy, T* dx, index_t N, index_t C);

}  // namespace recur::ops
