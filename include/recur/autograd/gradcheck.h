// A gradient checker users can run on their own ops and models: analytic gradients from the tape
// against central finite differences, in double precision, with PyTorch's gradcheck tolerances.
//
// For an output y = f(x_1, …, x_k) of any shape, the checked scalar is s = Σ r ⊙ y with a fixed
// random r, so every output element takes part. For each input element x_j:
//   numeric_j  = (s(x_j + eps) - s(x_j - eps)) / (2 eps)
//   pass iff |analytic_j - numeric_j| <= atol + rtol · |numeric_j|
// The report names the worst element (largest error relative to its allowance).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "recur/autograd/tape.h"
#include "recur/nn/parameters.h"

namespace recur::ag {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  std::uint64_t seed = 1234;  // for the projection r
};

struct GradcheckReport {
  bool ok = true;
  index_t checked = 0;       // elements compared
  std::string worst_input;   // input name ("input 0" or the parameter name)
  index_t worst_index = -1;  // flat index in that input
  double analytic = 0, numeric = 0;
  double error = 0;             // |analytic - numeric| at the worst element
  double allowed = 0;           // atol + rtol · |numeric| there
  std::string message() const;  // one line: pass/fail, worst element, values, tolerance
};

// f builds an output from one Var per input (all inputs are perturbed).
using GradcheckFunction = std::function<Var<double>(Tape<double>&, std::span<const Var<double>>)>;
GradcheckReport gradcheck(const GradcheckFunction& f, const std::vector<Tensor<double>>& inputs,
                          const GradcheckOptions& options = {});

// Checks every parameter of a model: loss builds the output from params (via ag::param(tape, params, id)).
// Parameter values are restored afterwards; gradients are left zeroed.
GradcheckReport gradcheck_parameters(nn::ParameterTable<double>& params,
                                     const std::function<Var<double>(Tape<double>&)>& loss,
                                     const GradcheckOptions& options = {});

}  // namespace recur::ag
