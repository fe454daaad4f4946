#include "recur/autograd/tape.h"

#include <fmt/format.h>

namespace recur::ag {

template <class T>
Tape<T>& Var<T>::tape() const {
  RECUR_CHECK(tape_ != nullptr, "use of an undefined Var");
  return *tape_;
}

template <class T>
const Tensor<T>& Var<T>::value() const {
  return tape().node(id_, generation_).value;
}

template <class T>
const Tensor<T>& Var<T>::grad() const {
  return tape().node(id_, generation_).grad;
}

template <class T>
bool Var<T>::requires_grad() const {
  return tape().node(id_, generation_).requires_grad;
}

template <class T>
T Var<T>::item() const {
  const Tensor<T>& v = value();
  RECUR_CHECK(v.numel() == 1, "item() needs a one-element tensor, got shape " + v.shape().str());
  return v[0];
}

template <class T>
const typename Tape<T>::Node& Tape<T>::node(std::int32_t id, std::uint32_t generation) const {
  RECUR_CHECK(generation == generation_ && id >= 0 && id < static_cast<std::int32_t>(nodes_.size()),
              "stale Var: its tape was cleared since it was made");
  return nodes_[static_cast<size_t>(id)];
}

template <class T>
Var<T> Tape<T>::push(Node n) {
  RECUR_CHECK(!backward_done_, "tape: record after backward(); call clear() to start a new recording");
  RECUR_CHECK(!n.value.empty(), "tape: a node's value is an empty (default-constructed) tensor");
  nodes_.push_back(std::move(n));
  return Var<T>(this, static_cast<std::int32_t>(nodes_.size() - 1), generation_);
}

template <class T>
Var<T> Tape<T>::constant(Tensor<T> value) {
  return push(Node{std::move(value), {}, false, {}});
}

template <class T>
Var<T> Tape<T>::variable(Tensor<T> value) {
  return push(Node{std::move(value), {}, grad_enabled_, {}});
}

template <class T>
Var<T> Tape<T>::leaf(Tensor<T> value, Tensor<T> grad) {
  RECUR_CHECK(grad.shape() == value.shape(),
              fmt::format("tape leaf: gradient shape {} differs from value shape {}", grad.shape().str(),
                          value.shape().str()));
  const bool differentiable = grad_enabled_;
  return push(Node{std::move(value), differentiable ? std::move(grad) : Tensor<T>{}, differentiable, {}});
}

template <class T>
Var<T> Tape<T>::record(Tensor<T> value, std::span<const Var<T>> inputs, Backward backward) {
  bool needs = false;
  for (const Var<T>& in : inputs) {
    RECUR_CHECK(&in.tape() == this, "an op mixes Vars of two different tapes");
    needs = needs || (grad_enabled_ && in.requires_grad());
  }
  return push(Node{std::move(value), {}, needs, needs ? std::move(backward) : Backward{}});
}

template <class T>
T* Tape<T>::grad_ptr(std::int32_t id) {
  Node& n = nodes_[static_cast<size_t>(id)];
  if (!n.requires_grad) return nullptr;
  if (n.grad.empty()) n.grad = Tensor<T>(n.value.shape());
  return n.grad.data();
}

template <class T>
void Tape<T>::backward(const Var<T>& loss) {
  RECUR_CHECK(&loss.tape() == this, "backward() of a Var from another tape");
  RECUR_CHECK(loss.value().numel() == 1,
              "backward() needs a scalar loss, got shape " + loss.value().shape().str());
  RECUR_CHECK(!backward_done_, "backward() already ran on this recording; clear() the tape first");
  backward_done_ = true;
  if (!loss.requires_grad()) return;  // nothing on the tape depends on a differentiable input
  grad_ptr(loss.id())[0] += T(1);
  for (auto i = static_cast<std::int32_t>(loss.id()); i >= 0; --i) {
    Node& n = nodes_[static_cast<size_t>(i)];
    if (n.backward && !n.grad.empty()) {
      n.backward(*this, n.grad);
      n.backward = nullptr;  // release saved tensors early
    }
  }
}

template <class T>
void Tape<T>::clear() {
  nodes_.clear();
  ++generation_;
  backward_done_ = false;
}

template class Var<float>;
template class Var<double>;
template class Tape<float>;
template class Tape<double>;

}  // namespace recur::ag
