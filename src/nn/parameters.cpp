#include "recur/nn/parameters.h"

#include <fmt/format.h>
#include <algorithm>

#include "recur/init.h"
#include "recur/storage.h"

namespace recur::nn {

namespace {
// Each parameter starts on a 64-byte boundary (whole cache lines, aligned vector loads); the arena
// itself comes 64-byte aligned from allocate_storage.
constexpr index_t kAlignBytes = static_cast<index_t>(kStorageAlignBytes);
}  // namespace

template <class T>
int ParameterTable<T>::add(std::string name, const Shape& shape) {
  RECUR_CHECK(!frozen(), fmt::format("parameter '{}' added after the table was frozen", name));
  RECUR_CHECK(!name.empty(), "parameter names must be non-empty");
  RECUR_CHECK(find(name) < 0, fmt::format("parameter '{}' added twice", name));
  constexpr index_t align = kAlignBytes / static_cast<index_t>(sizeof(T));
  const index_t offset = (numel_ + align - 1) / align * align;
  index_t end = 0;
  RECUR_CHECK(!__builtin_add_overflow(offset, shape.numel(), &end),
              fmt::format("parameter '{}' of shape {}: the table's size overflows", name, shape.str()));
  ids_.emplace(name, size());
  entries_.push_back({std::move(name), shape, offset});
  numel_ = end;
  return size() - 1;
}

template <class T>
void ParameterTable<T>::freeze() {
  RECUR_CHECK(!frozen(), "parameter table frozen twice");
  values_ = allocate_storage<T>(numel_, true);
  grads_ = allocate_storage<T>(numel_, true);
}

template <class T>
void ParameterTable<T>::require_frozen() const {
  RECUR_CHECK(frozen(), "parameter table used before freeze()");
}

template <class T>
const typename ParameterTable<T>::Entry& ParameterTable<T>::entry(int id) const {
  RECUR_CHECK(id >= 0 && id < size(), fmt::format("parameter id {} out of range [0, {})", id, size()));
  return entries_[static_cast<size_t>(id)];
}

template <class T>
int ParameterTable<T>::find(std::string_view name) const {
  const auto it = ids_.find(std::string(name));
  return it == ids_.end() ? -1 : it->second;
}

template <class T>
std::vector<std::pair<std::string, Shape>> ParameterTable<T>::shapes() const {
  std::vector<std::pair<std::string, Shape>> out;
  for (const Entry& e : entries_) out.emplace_back(e.name, e.shape);
  return out;
}

template <class T>
void init_uniform(ParameterTable<T>& params, Rng& rng, T range) {
  RECUR_REQUIRE(range > T(0), fmt::format("init range must be positive, got {}", range));
  for (int id = 0; id < params.size(); ++id) {
    Tensor<T> v = params.value(id);
    init::uniform(v, -range, range, rng);
  }
}

template void init_uniform<float>(ParameterTable<float>&, Rng&, float);
template void init_uniform<double>(ParameterTable<double>&, Rng&, double);

template <class T>
int ParameterTable<T>::id(std::string_view name) const {
  const int i = find(name);
  RECUR_CHECK(i >= 0, fmt::format("no parameter named '{}'", name));
  return i;
}

template <class T>
Tensor<T> ParameterTable<T>::value(int id) const {
  require_frozen();
  const Entry& e = entry(id);
  return Tensor<T>(e.shape, values_, values_.get() + e.offset);
}

template <class T>
Tensor<T> ParameterTable<T>::grad(int id) const {
  require_frozen();
  const Entry& e = entry(id);
  return Tensor<T>(e.shape, grads_, grads_.get() + e.offset);
}

template <class T>
Tensor<T> ParameterTable<T>::flat_values() const {
  require_frozen();
  return Tensor<T>(Shape{numel_}, values_, values_.get());
}

template <class T>
Tensor<T> ParameterTable<T>::flat_grads() const {
  require_frozen();
  return Tensor<T>(Shape{numel_}, grads_, grads_.get());
}

template <class T>
void ParameterTable<T>::zero_grad() {
  require_frozen();
  std::fill(grads_.get(), grads_.get() + numel_, T(0));
}

template class ParameterTable<float>;
template class ParameterTable<double>;

}  // namespace recur::nn
