// Elementwise kernels over flat arrays of n elements, as forward/backward pairs.
// Conventions for every kernel in ops/: forward overwrites its output; backward *accumulates*
// (+=) into the input gradients, and a null gradient pointer means "not needed".
#pragma once

#include "recur/common.h"
#include "recur/rng.h"

namespace recur::ops {

// y = a + b                         a, b, y: (n)
template <class T>
void add_forward(const T* a, const T* b, T* y, index_t n);
// y = a - b
template <class T>
void sub_forward(const T* a, const T* b, T* y, index_t n);
// dx += s · dy  (the backward of add (s = 1), sub (s = ±1) and scale (s = c))
template <class T>
void accumulate(const T* dy, T s, T* dx, index_t n);

// y = c · x
template <class T>
void scale_forward(const T* x, T c, T* y, index_t n);

// y = a ⊙ b
template <class T>
void mul_forward(const T* a, const T* b, T* y, index_t n);
// da += dy ⊙ b ;  db += dy ⊙ a
template <class T>
void mul_backward(const T* a, const T* b, const T* dy, T* da, T* db, index_t n);

// y = x + bias (broadcast over rows)   x, y: (N, C); bias: (C)
template <class T>
void add_bias_forward(const T* x, const T* bias, T* y, index_t N, index_t C);
// dx += dy ; dbias += Σ_rows dy
template <class T>
void add_bias_backward(const T* dy, T* dx, T* dbias, index_t N, index_t C);

// y = tanh(x)
template <class T>
void tanh_forward(const T* x, T* y, index_t n);
// dx += dy ⊙ (1 - y²)     (uses the output y, not x)
template <class T>
void tanh_backward(const T* y, const T* dy, T* dx, index_t n);

// y = σ(x) = 1 / (1 + e^-x)
template <class T>
void sigmoid_forward(const T* x, T* y, index_t n);
// dx += dy ⊙ y ⊙ (1 - y)
template <class T>
void sigmoid_backward(const T* y, const T* dy, T* dx, index_t n);

// y = max(x, 0)
template <class T>
void relu_forward(const T* x, T* y, index_t n);
// dx += dy ⊙ [y > 0]     (the subgradient at 0 is 0, as in PyTorch)
template <class T>
void relu_backward(const T* y, const T* dy, T* dx, index_t n);

// Inverted dropout with a given mask: mask[i] ∈ {0, 1/(1-p)}.  y = x ⊙ mask
template <class T>
void dropout_forward(const T* x, const T* mask, T* y, index_t n);
// dx += dy ⊙ mask
template <class T>
void dropout_backward(const T* mask, const T* dy, T* dx, index_t n);
// mask[i] = 1/(1-p) with probability 1-p, else 0; p in [0, 1). One Rng::next_u32 per element.
template <class T>
void dropout_mask(Rng& rng, T p, T* mask, index_t n);

}  // namespace recur::ops
