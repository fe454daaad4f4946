// ParameterTable<T>: named parameters laid out in one flat value buffer and one flat gradient
// buffer of the same layout, so zeroing, clipping, the optimizer step and checkpointing are each a
// single loop over contiguous memory. Names follow PyTorch's state_dict ("rnn.weight_ih_l0").
//
// Life cycle: add() every parameter, then freeze() allocates both buffers (zero-filled); value()
// and grad() hand out views into them. Adding after freeze() is an error.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "recur/rng.h"
#include "recur/tensor.h"

namespace recur::nn {

template <class T>
class ParameterTable {
 public:
  struct Entry {
    std::string name;
    Shape shape;
    index_t offset;  // into the flat buffers
  };

  ParameterTable() = default;
  // Not copyable: views and optimizers refer to the buffers; a copy would silently share them.
  ParameterTable(const ParameterTable&) = delete;
  ParameterTable& operator=(const ParameterTable&) = delete;
  ParameterTable(ParameterTable&&) = default;
  ParameterTable& operator=(ParameterTable&&) = default;

  int add(std::string name, const Shape& shape);  // returns the parameter's id
  void freeze();
  bool frozen() const { return values_ != nullptr; }

  int size() const { return static_cast<int>(entries_.size()); }
  index_t numel() const { return numel_; }
  const Entry& entry(int id) const;
  const std::vector<Entry>& entries() const { return entries_; }
  // (name, shape) of every parameter, in order; known before freeze(), so a model's shapes can be
  // checked against a file before anything is allocated.
  std::vector<std::pair<std::string, Shape>> shapes() const;
  int find(std::string_view name) const;  // -1 when absent; O(1)
  int id(std::string_view name) const;    // throws naming the missing parameter

  Tensor<T> value(int id) const;
  Tensor<T> grad(int id) const;
  Tensor<T> flat_values() const;  // (numel,)
  Tensor<T> flat_grads() const;   // (numel,)
  void zero_grad();

 private:
  void require_frozen() const;

  std::vector<Entry> entries_;
  std::unordered_map<std::string, int> ids_;  // name → id
  index_t numel_ = 0;
  std::shared_ptr<T[]> values_, grads_;
};

// Every parameter U(-range, range), in the table's order (Zaremba et al. 2014: 0.1, 0.05, 0.04).
template <class T>
void init_uniform(ParameterTable<T>& params, Rng& rng, T range);

extern template class ParameterTable<float>;
extern template class ParameterTable<double>;

}  // namespace recur::nn
