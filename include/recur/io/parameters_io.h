// A ParameterTable's tensors in and out of a safetensors file, by name (PyTorch state_dict names).
#pragma once

#include <string>
#include <vector>

#include "recur/io/safetensors.h"
#include "recur/nn/parameters.h"

namespace recur::io {

// Adds every parameter as F32 (float table) or F64 (double table).
template <class T>
void store_parameters(Safetensors& file, const nn::ParameterTable<T>& params);

// Copies every parameter of `params` from `file` (F32 or F64, converted). The file must hold each
// one with the same shape; any other tensor is an error unless its name starts with one of
// `ignored_prefixes` or is listed in `aliases` (names another component stores as copies, e.g. a
// tied decoder.weight). Errors name the file and list the missing, misshapen or unexpected tensors.
template <class T>
void load_parameters(const Safetensors& file, nn::ParameterTable<T>& params,
                     const std::vector<std::string>& ignored_prefixes = {},
                     const std::vector<std::string>& aliases = {});

}  // namespace recur::io
