// Tape<T>: reverse-mode automatic differentiation, define-by-run.
//
// Every op appends a node (its value and a closure that maps the node's gradient to its inputs'
// gradients); backward() walks the nodes in reverse once. A node is differentiated only if some
// input needs a gradient, and gradients are allocated lazily, so inference under NoGrad keeps the
// values but no closures and no gradients. A fused op (later: a whole LSTM layer over T steps) is one node
// like any other. Parameters enter as leaves whose gradient *is* a view into the flat gradient buffer of a
// ParameterTable, so backward accumulates straight into it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <span>

#include "recur/tensor.h"

namespace recur::ag {

template <class T>
class Tape;

// A handle to one node of a tape. Cheap to copy; invalid after the tape is cleared (using it then
// throws). References returned by value()/grad()/shape() stay valid until clear().
template <class T>
class Var {
 public:
  Var() = default;
  Var(Tape<T>* tape, std::int32_t id, std::uint32_t generation)
      : tape_(tape), id_(id), generation_(generation) {}

  bool defined() const { return tape_ != nullptr; }
  Tape<T>& tape() const;
  std::int32_t id() const { return id_; }
  const Tensor<T>& value() const;
  const Tensor<T>& grad() const;  // empty until backward() reached this node
  const Shape& shape() const { return value().shape(); }
  bool requires_grad() const;
  T item() const;  // the value of a one-element tensor

 private:
  Tape<T>* tape_ = nullptr;
  std::int32_t id_ = -1;
  std::uint32_t generation_ = 0;
};

template <class T>
class Tape {
 public:
  // Maps the gradient of the node it belongs to onto its inputs' gradients (tape.grad_ptr(id)).
  using Backward = std::function<void(Tape& tape, const Tensor<T>& dy)>;

  Tape() = default;
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  // Leaves share the given tensor's storage (no copy), and ops save their inputs for backward the
  // same way: do not overwrite a tensor handed to the tape until backward() has run (clone() it
  // first to reuse a buffer).
  Var<T> constant(Tensor<T> value);              // never differentiated
  Var<T> variable(Tensor<T> value);              // a leaf with its own gradient
  Var<T> leaf(Tensor<T> value, Tensor<T> grad);  // a leaf whose gradient accumulates into `grad`
  // Used by ops: records a node computed from `inputs`; backward is dropped (and not run) when no
  // input requires a gradient or gradients are disabled.
  Var<T> record(Tensor<T> value, std::span<const Var<T>> inputs, Backward backward);

  // Seeds ∂loss/∂loss = 1 and runs every recorded backward in reverse order. Once per recording.
  void backward(const Var<T>& loss);
  void clear();  // forget all nodes; parameters keep their accumulated gradients

  bool grad_enabled() const { return grad_enabled_; }
  void set_grad_enabled(bool enabled) { grad_enabled_ = enabled; }
  index_t size() const { return static_cast<index_t>(nodes_.size()); }

  // For ops' backward closures: the gradient buffer of node id (zero-filled on first use), or
  // nullptr when that node does not need a gradient.
  T* grad_ptr(std::int32_t id);

 private:
  friend class Var<T>;
  struct Node {
    Tensor<T> value;
    Tensor<T> grad;
    bool requires_grad = false;
    Backward backward;
  };
  const Node& node(std::int32_t id, std::uint32_t generation) const;
  Var<T> push(Node node);

  std::deque<Node> nodes_;  // a deque: references to nodes stay valid while ops append more
  std::uint32_t generation_ = 1;
  bool grad_enabled_ = true;
  bool backward_done_ = false;
};

// Disables gradient recording on a tape for the guard's lifetime (inference, sampling).
template <class T>
class NoGrad {
 public:
  explicit NoGrad(Tape<T>& tape) : tape_(tape), previous_(tape.grad_enabled()) {
    tape.set_grad_enabled(false);
  }
  ~NoGrad() { tape_.set_grad_enabled(previous_); }
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  Tape<T>& tape_;
  bool previous_;
};

extern template class Var<float>;
extern template class Var<double>;
extern template class Tape<float>;
extern template class Tape<double>;

}  // namespace recur::ag
