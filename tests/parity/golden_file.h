// Golden files written by tools/make_goldens.py (PyTorch 1.13, float64), read without Python.
#pragma once

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "recur/common.h"
#include "recur/tensor.h"

namespace recur::parity {

// Ordered: keeps the files' key order (parameters in state_dict order).
using json = nlohmann::ordered_json;

// tests/parity/goldens/<name>.json, parsed once per process.
inline const json& load(const std::string& name) {
  static std::map<std::string, json> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    const std::string path = std::string(RECUR_GOLDEN_DIR) + "/" + name + ".json";
    std::ifstream in(path);
    if (!in) throw Error("cannot open golden file " + path + " (regenerate with tools/make_goldens.py)");
    it = cache.emplace(name, json::parse(in)).first;
  }
  return it->second;
}

// An entry {"shape": [...], "data": [...]}.
inline Shape shape_of(const json& entry) {
  return Shape(entry.at("shape").get<std::vector<index_t>>());
}
inline std::vector<double> data(const json& entry) {
  return entry.at("data").get<std::vector<double>>();
}

template <class T>
Tensor<T> tensor(const json& entry) {
  const std::vector<double> values = data(entry);
  Tensor<T> t{shape_of(entry)};
  if (static_cast<size_t>(t.numel()) != values.size())
    throw Error("golden entry: shape " + t.shape().str() + " does not match its " +
                std::to_string(values.size()) + " values");
  for (index_t i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(values[static_cast<size_t>(i)]);
  return t;
}

}  // namespace recur::parity
