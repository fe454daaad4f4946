// Differentiable ops on the tape. Each one runs the forward kernel from ops/ and records a closure
// that runs the matching backward kernel; the math of each backward is in the kernel's header.
#pragma once

#include <cstdint>
#include <vector>

#include "recur/autograd/tape.h"
#include "recur/nn/parameters.h"
#include "recur/ops/loss.h"
#include "recur/rng.h"

namespace recur::ag {

// Parameter id of a table as a leaf on `tape`: its gradient accumulates into params.grad(id).
template <class T>
Var<T> param(Tape<T>& tape, const nn::ParameterTable<T>& params, int id) {
  return tape.leaf(params.value(id), params.grad(id));
}

// Elementwise on equal shapes.
template <class T>
Var<T> add(const Var<T>& a, const Var<T>& b);
template <class T>
Var<T> sub(const Var<T>& a, const Var<T>& b);
template <class T>
Var<T> mul(const Var<T>& a, const Var<T>& b);
template <class T>
Var<T> scale(const Var<T>& x, T c);
template <class T>
Var<T> operator+(const Var<T>& a, const Var<T>& b) {
  return add(a, b);
}
template <class T>
Var<T> operator-(const Var<T>& a, const Var<T>& b) {
  return sub(a, b);
}
template <class T>
Var<T> operator*(const Var<T>& a, const Var<T>& b) {
  return mul(a, b);
}

template <class T>
Var<T> tanh(const Var<T>& x);
template <class T>
Var<T> sigmoid(const Var<T>& x);
template <class T>
Var<T> relu(const Var<T>& x);

// x: (..., C) + bias: (C), broadcast over the leading dims.
template <class T>
Var<T> add_bias(const Var<T>& x, const Var<T>& bias);
// a: (M, K) · b: (K, N) → (M, N)
template <class T>
Var<T> matmul(const Var<T>& a, const Var<T>& b);
// x: (..., I) · Wᵀ + b → (..., O), W: (O, I), b: (O) or undefined Var for no bias.
template <class T>
Var<T> linear(const Var<T>& x, const Var<T>& W, const Var<T>& b = Var<T>());

// Same storage, new shape (equal element count).
template <class T>
Var<T> reshape(const Var<T>& x, const Shape& shape);
// Inputs equal in every dim but `axis`.
template <class T>
Var<T> concat(const std::vector<Var<T>>& xs, int axis);
// x[..., start : start + length, ...] along `axis`.
template <class T>
Var<T> slice(const Var<T>& x, int axis, index_t start, index_t length);
// Splits `axis` into pieces of the given sizes (which must add up to the dim).
template <class T>
std::vector<Var<T>> split(const Var<T>& x, int axis, const std::vector<index_t>& sizes);

// table: (V, E); ids: N integers in [0, V) → (N, E). On the tape the table's gradient is dense (it
// accumulates into the flat gradient buffer); ops::embedding_backward_sparse gives the touched rows
// only, for a large-vocabulary sparse update (no optimizer uses it yet).
template <class T>
Var<T> embedding(const Var<T>& table, std::vector<std::int32_t> ids);

// Over the last axis.
template <class T>
Var<T> softmax(const Var<T>& x);
template <class T>
Var<T> log_softmax(const Var<T>& x);

// logits: (N, C); targets: N class ids (or options.ignore_index); mask: N row weights or empty.
// kMean/kSum give shape (1,), kNone gives (N).
template <class T>
Var<T> cross_entropy(const Var<T>& logits, std::vector<std::int32_t> targets,
                     const ops::CrossEntropyOptions& options = {}, std::vector<T> mask = {});
// pred, target: equal shapes (target may be a constant).
template <class T>
Var<T> mse(const Var<T>& pred, const Var<T>& target, ops::Reduction reduction = ops::Reduction::kMean);

// Inverted dropout: identity when !training or p == 0, else a fresh mask from rng.
template <class T>
Var<T> dropout(const Var<T>& x, T p, Rng& rng, bool training);
// Dropout with a caller-given mask of x's shape (entries 0 or 1/(1-p)): the same mask can be
// reused over every time step of a sequence.
template <class T>
Var<T> dropout_with_mask(const Var<T>& x, const Tensor<T>& mask);

// Full reductions → shape (1,).
template <class T>
Var<T> sum(const Var<T>& x);
template <class T>
Var<T> mean(const Var<T>& x);

}  // namespace recur::ag
