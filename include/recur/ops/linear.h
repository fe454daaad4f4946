// Linear (affine) layer kernels in PyTorch's nn.Linear layout.
#pragma once

#include "recur/common.h"

namespace recur::ops {

// y = x · Wᵀ + b
//   x: (N, I)   W: (O, I)   b: (O) or null   y: (N, O)
template <class T>
void linear_forward(const T* x, const T* W, const T* b, T* y, index_t N, index_t I, index_t O);

// Given dy = ∂L/∂y (N, O):
//   dx (N, I) += dy · W          dW (O, I) += dyᵀ · x          db (O) += Σ_n dy[n, :]
// Each output is one GEMM over all N rows (for an RNN: all T·B rows at once). Null = not needed.
template <class T>
void linear_backward(const T* x, const T* W, const T* dy, T* dx, T* dW, T* db, index_t N, index_t I,
                     index_t O);

}  // namespace recur::ops
