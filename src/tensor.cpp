#include "recur/tensor.h"

#include <fmt/format.h>
#include <algorithm>

#include "recur/storage.h"

namespace recur {

namespace detail {
void throw_error(const char* file, int line, const char* cond, const std::string& msg) {
  throw Error(fmt::format("{} ({}:{}, check `{}`)", msg, file, line, cond));
}
}  // namespace detail

Shape::Shape(std::initializer_list<index_t> dims) : Shape(std::vector<index_t>(dims)) {}

Shape::Shape(std::vector<index_t> dims) : dims_(std::move(dims)) {
  index_t n = 1;
  for (index_t d : dims_) {
    RECUR_CHECK(d >= 0, "negative dimension in shape " + str());
    RECUR_CHECK(!__builtin_mul_overflow(n, d, &n),
                "shape " + str() + " has more elements than fit in 64 bits");
  }
}

int Shape::normalize_axis(int axis) const {
  int a = axis < 0 ? axis + rank() : axis;
  RECUR_CHECK(a >= 0 && a < rank(), fmt::format("axis {} out of range for shape {}", axis, str()));
  return a;
}

index_t Shape::operator[](int axis) const {
  return dims_[normalize_axis(axis)];
}

index_t Shape::numel() const {
  index_t n = 1;
  for (index_t d : dims_) n *= d;
  return n;
}

index_t Shape::outer(int axis) const {
  index_t n = 1;
  for (int a = 0; a < normalize_axis(axis); ++a) n *= dims_[a];
  return n;
}

index_t Shape::inner(int axis) const {
  index_t n = 1;
  for (int a = normalize_axis(axis) + 1; a < rank(); ++a) n *= dims_[a];
  return n;
}

std::string Shape::str() const {
  std::string s = "(";
  for (size_t i = 0; i < dims_.size(); ++i) s += (i ? ", " : "") + std::to_string(dims_[i]);
  return s + (dims_.size() == 1 ? ",)" : ")");
}

// Storage comes from allocate_storage (recur/storage.h): 64-byte aligned, and large buffers are
// reused from a cache instead of being mapped and faulted in again on every training step.
template <class T>
Tensor<T>::Tensor(const Shape& shape)
    : shape_(shape), storage_(allocate_storage<T>(shape.numel(), true)), data_(storage_.get()) {}

template <class T>
Tensor<T>::Tensor(const Shape& shape, std::vector<T> values) : shape_(shape) {
  RECUR_CHECK(static_cast<index_t>(values.size()) == shape.numel(),
              fmt::format("{} values given for shape {}", values.size(), shape.str()));
  storage_ = allocate_storage<T>(shape.numel(), false);  // every element is written below
  data_ = storage_.get();
  std::copy(values.begin(), values.end(), data_);
}

template <class T>
Tensor<T>::Tensor(const Shape& shape, std::shared_ptr<T[]> owner, T* data)
    : shape_(shape), storage_(std::move(owner)), data_(data) {}

template <class T>
Tensor<T> Tensor<T>::uninitialized(const Shape& shape) {
  std::shared_ptr<T[]> storage = allocate_storage<T>(shape.numel(), false);
  T* data = storage.get();
  return Tensor(shape, std::move(storage), data);
}

template <class T>
Tensor<T> Tensor<T>::full(const Shape& shape, T value) {
  Tensor t(shape);
  t.fill(value);
  return t;
}

template <class T>
index_t Tensor<T>::flat_index(std::initializer_list<index_t> idx) const {
  RECUR_CHECK(static_cast<int>(idx.size()) == rank(),
              fmt::format("{} indices for a tensor of shape {}", idx.size(), shape_.str()));
  index_t flat = 0;
  int axis = 0;
  for (index_t i : idx) {
    RECUR_CHECK(i >= 0 && i < shape_.dims()[axis],
                fmt::format("index {} out of range on axis {} of shape {}", i, axis, shape_.str()));
    flat = flat * shape_.dims()[axis] + i;
    ++axis;
  }
  return flat;
}

template <class T>
T& Tensor<T>::at(std::initializer_list<index_t> idx) {
  return data_[flat_index(idx)];
}

template <class T>
const T& Tensor<T>::at(std::initializer_list<index_t> idx) const {
  return data_[flat_index(idx)];
}

template <class T>
Tensor<T> Tensor<T>::view(const Shape& shape) const {
  RECUR_CHECK(shape.numel() == numel(),
              fmt::format("cannot view shape {} as {}: element counts differ", shape_.str(), shape.str()));
  return Tensor(shape, storage_, data_);
}

template <class T>
Tensor<T> Tensor<T>::narrow(index_t start, index_t length) const {
  RECUR_CHECK(rank() >= 1 && start >= 0 && length >= 0 && start <= shape_[0] && length <= shape_[0] - start,
              fmt::format("narrow({}, {}) out of range for shape {}", start, length, shape_.str()));
  std::vector<index_t> dims = shape_.dims();
  dims[0] = length;
  return Tensor(Shape(std::move(dims)), storage_, data_ + start * shape_.inner(0));
}

template <class T>
Tensor<T> Tensor<T>::row(index_t i) const {
  Tensor r = narrow(i, 1);
  std::vector<index_t> dims(shape_.dims().begin() + 1, shape_.dims().end());
  return r.view(Shape(std::move(dims)));
}

template <class T>
Tensor<T> Tensor<T>::clone() const {
  if (empty()) return Tensor();
  Tensor out = uninitialized(shape_);
  std::copy(data_, data_ + numel(), out.data_);
  return out;
}

template <class T>
void Tensor<T>::fill(T value) {
  std::fill(data_, data_ + numel(), value);
}

template class Tensor<float>;
template class Tensor<double>;

}  // namespace recur
