// Vectorizable exp / tanh / sigmoid over arrays.
//
// The float versions are branch-free polynomial code that g++ auto-vectorizes (AVX2 / AVX-512
// with RECUR_NATIVE); their accuracy against the correctly rounded result is tested in
// tests/unit/test_vmath.cpp (bounds stated there and in docs/design.md). The double versions call
// std:: directly: double is the gradient-check precision, where accuracy matters and speed does not.
// All functions accept y == x (in place).
#pragma once

#include "recur/common.h"

namespace recur::vmath {

// y[i] = exp(x[i]); overflow gives +inf, underflow gives 0 (no denormal results).
template <class T>
void exp(const T* x, T* y, index_t n);
// y[i] = tanh(x[i])
template <class T>
void tanh(const T* x, T* y, index_t n);
// y[i] = 1 / (1 + exp(-x[i]))
template <class T>
void sigmoid(const T* x, T* y, index_t n);

// Scalar forms of the float kernels (same arithmetic, for tests and tails).
float exp_scalar(float x);
float tanh_scalar(float x);
float sigmoid_scalar(float x);

}  // namespace recur::vmath
