// Tensor<T>: a shape and contiguous row-major storage shared between views.
//
// Views (reshape, narrow along dim 0, row) alias the same storage without copying; anything that
// would need strides (narrow along an inner dim, transpose) is an explicit copy in ops/shape_ops.h.
// Storage may also be borrowed from a larger buffer (the flat parameter arena) through the
// aliasing shared_ptr, which keeps the buffer alive as long as any view exists.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "recur/common.h"

namespace recur {

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<index_t> dims);
  explicit Shape(std::vector<index_t> dims);

  int rank() const { return static_cast<int>(dims_.size()); }
  index_t operator[](int axis) const;  // negative axis counts from the end
  index_t numel() const;
  index_t outer(int axis) const;  // product of dims before axis
  index_t inner(int axis) const;  // product of dims after axis
  int normalize_axis(int axis) const;
  const std::vector<index_t>& dims() const { return dims_; }
  std::string str() const;  // "(2, 3, 4)"
  bool operator==(const Shape& other) const = default;

 private:
  std::vector<index_t> dims_;
};

template <class T>
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(const Shape& shape);  // zero-initialized
  Tensor(const Shape& shape, std::vector<T> values);
  // A view over externally owned storage; `owner` keeps it alive.
  Tensor(const Shape& shape, std::shared_ptr<T[]> owner, T* data);

  static Tensor zeros(const Shape& shape) { return Tensor(shape); }
  static Tensor full(const Shape& shape, T value);
  // Storage left uninitialized: for buffers a kernel overwrites completely before reading (the
  // fused layers' activation storage, which zero-filling would cost a full memory pass).
  static Tensor uninitialized(const Shape& shape);

  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  index_t dim(int axis) const { return shape_[axis]; }
  index_t numel() const { return data_ ? shape_.numel() : 0; }  // 0 for a default (empty) tensor
  bool empty() const { return data_ == nullptr; }

  T* data() { return data_; }
  const T* data() const { return data_; }
  T& operator[](index_t i) { return data_[i]; }
  const T& operator[](index_t i) const { return data_[i]; }
  T& at(std::initializer_list<index_t> idx);
  const T& at(std::initializer_list<index_t> idx) const;

  Tensor view(const Shape& shape) const;               // same storage, new shape, same numel
  Tensor narrow(index_t start, index_t length) const;  // rows [start, start+length) of dim 0
  Tensor row(index_t i) const;                         // dim 0 index i, rank - 1
  Tensor clone() const;                                // deep copy
  template <class U>
  Tensor<U> cast() const;

  void fill(T value);
  void zero() { fill(T(0)); }
  std::vector<T> to_vector() const { return std::vector<T>(data_, data_ + numel()); }

 private:
  index_t flat_index(std::initializer_list<index_t> idx) const;

  Shape shape_;
  std::shared_ptr<T[]> storage_;
  T* data_ = nullptr;
};

extern template class Tensor<float>;
extern template class Tensor<double>;

template <class T>
template <class U>
Tensor<U> Tensor<T>::cast() const {
  if (empty()) return Tensor<U>();
  Tensor<U> out = Tensor<U>::uninitialized(shape_);  // every element is written below
  for (index_t i = 0; i < numel(); ++i) out[i] = static_cast<U>(data_[i]);
  return out;
}

}  // namespace recur
