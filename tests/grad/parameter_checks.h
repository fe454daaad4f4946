// What a model's finite-difference check must cover and show, shared by the model gradient tests:
// ag::gradcheck_parameters checked every element of every parameter tensor, and the check was not
// vacuous (every tensor got a nonzero analytic gradient).
#pragma once

#include <gtest/gtest.h>

#include "recur/nn/parameters.h"

namespace recur::testing {

// Elements of every tensor of `params` (params.numel() also counts the alignment padding between
// tensors).
inline index_t parameter_elements(const nn::ParameterTable<double>& params) {
  index_t n = 0;
  for (const auto& e : params.entries()) n += e.shape.numel();
  return n;
}

// After a backward pass: every tensor's gradient has a squared norm above `floor`, named when not.
inline void expect_every_parameter_has_gradient(const nn::ParameterTable<double>& params, double floor) {
  for (int id = 0; id < params.size(); ++id) {
    double norm = 0;
    const Tensor<double> g = params.grad(id);
    for (index_t i = 0; i < g.numel(); ++i) norm += g[i] * g[i];
    EXPECT_GT(norm, floor) << params.entry(id).name;
  }
}

}  // namespace recur::testing
