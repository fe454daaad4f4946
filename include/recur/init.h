// Parameter initializers. Each fills a tensor in place from an Rng, so a seed fixes a model.
// Matrices are (fan_out, fan_in), PyTorch's nn.Linear / RNN weight layout.
#pragma once

#include "recur/rng.h"
#include "recur/tensor.h"

namespace recur::init {

template <class T>
void uniform(Tensor<T>& t, T lo, T hi, Rng& rng);  // U[lo, hi); PyTorch's RNN default is ±1/sqrt(H)
template <class T>
void normal(Tensor<T>& t, T mean, T stddev, Rng& rng);
// Glorot & Bengio 2010: U[±gain·sqrt(6/(fan_in+fan_out))] and N(0, gain²·2/(fan_in+fan_out)).
// fan_in = dim(-1), fan_out = dim(0); needs rank 2.
template <class T>
void xavier_uniform(Tensor<T>& t, Rng& rng, T gain = T(1));
template <class T>
void xavier_normal(Tensor<T>& t, Rng& rng, T gain = T(1));
// Saxe et al. 2014: a (semi-)orthogonal matrix times gain, from the QR decomposition of a Gaussian
// matrix with the signs of R's diagonal folded into Q (so the result is Haar-distributed).
// rank 2: rows ≤ cols gives orthonormal rows, rows > cols orthonormal columns.
template <class T>
void orthogonal(Tensor<T>& t, Rng& rng, T gain = T(1));
// scale · I for a square or rectangular (rank 2) matrix (Le et al. 2015's IRNN).
template <class T>
void identity(Tensor<T>& t, T scale = T(1));

}  // namespace recur::init
