// A ParameterTable's tensors in and out of a safetensors file, by name (PyTorch state_dict names).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "recur/io/safetensors.h"
#include "recur/nn/parameters.h"

namespace recur::io {

// Adds every parameter as F32 (float table) or F64 (double table).
template <class T>
void store_parameters(Safetensors& file, const nn::ParameterTable<T>& params);

// A model's parameters by name and shape, as a table holds them (or as a model computes them
// before it allocates any: RnnLm::parameter_shapes).
using ParameterShapes = std::vector<std::pair<std::string, Shape>>;

// Checks `file`'s header against `expected`: the file must hold each parameter with the same
// shape; any other tensor is an error unless its name starts with one of `ignored_prefixes` or is
// listed in `aliases` (names another component stores as copies, e.g. a tied decoder.weight).
// Errors name the file, count the missing, misshapen or unexpected tensors and show the first few.
// Reads only the header: a hostile config is refused before its model is allocated.
void check_parameter_shapes(const Safetensors& file, const ParameterShapes& expected,
                            const std::vector<std::string>& ignored_prefixes = {},
                            const std::vector<std::string>& aliases = {});

// Copies every parameter of `params` from `file` (F32 or F64, converted), after
// check_parameter_shapes on the table's names and shapes.
template <class T>
void load_parameters(const Safetensors& file, nn::ParameterTable<T>& params,
                     const std::vector<std::string>& ignored_prefixes = {},
                     const std::vector<std::string>& aliases = {});

// Every value of every parameter is finite; else an error naming `source`, the first tensor with
// NaN or Inf and how many of its values are (a diverged model is not sampled, scored or resumed).
template <class T>
void require_finite(const nn::ParameterTable<T>& params, std::string_view source);
// The same for one named tensor (training state such as an optimizer's moments).
template <class T>
void require_finite(const Tensor<T>& tensor, std::string_view source, std::string_view name);

}  // namespace recur::io
