#include "recur/autograd/gradcheck.h"

#include <fmt/format.h>
#include <cmath>

#include "recur/autograd/functions.h"
#include "recur/rng.h"

namespace recur::ag {

namespace {

// One perturbable block of doubles: an input tensor or a parameter.
struct Block {
  std::string name;
  double* values;
  index_t count;
};

// s = Σ r ⊙ y, with r fixed by the seed and y's size.
struct Projection {
  std::vector<double> r;
  double apply(const Tensor<double>& y, std::uint64_t seed) {
    if (static_cast<index_t>(r.size()) != y.numel()) {
      Rng rng(seed);
      r.resize(static_cast<size_t>(y.numel()));
      for (double& v : r) v = rng.uniform<double>(-1.0, 1.0);
    }
    double s = 0;
    for (index_t i = 0; i < y.numel(); ++i) s += r[static_cast<size_t>(i)] * y[i];
    return s;
  }
};

// Compares analytic gradients with central differences of `evaluate` over every block element.
GradcheckReport compare(std::vector<Block>& blocks, const std::vector<std::vector<double>>& analytic,
                        const std::function<double()>& evaluate, const GradcheckOptions& options) {
  GradcheckReport report;
  double worst_ratio = -1;
  for (size_t b = 0; b < blocks.size(); ++b) {
    for (index_t j = 0; j < blocks[b].count; ++j) {
      double& x = blocks[b].values[j];
      const double saved = x;
      x = saved + options.eps;
      const double plus = evaluate();
      x = saved - options.eps;
      const double minus = evaluate();
      x = saved;
      const double numeric = (plus - minus) / (2 * options.eps);
      const double a = analytic[b][static_cast<size_t>(j)];
      const double error = std::abs(a - numeric);
      const double allowed = options.atol + options.rtol * std::abs(numeric);
      const double ratio = std::isfinite(error) ? error / allowed : INFINITY;
      ++report.checked;
      if (ratio > worst_ratio) {
        worst_ratio = ratio;
        report.worst_input = blocks[b].name;
        report.worst_index = j;
        report.analytic = a;
        report.numeric = numeric;
        report.error = error;
        report.allowed = allowed;
      }
      if (!(error <= allowed)) report.ok = false;
    }
  }
  return report;
}

// The whole check for one function: `build` records the output on a tape; `read_gradients` returns
// the analytic gradient of each block after backward. The analytic pass differentiates
// s = Σ r ⊙ y; the numeric pass re-evaluates s under NoGrad with each element nudged.
GradcheckReport check(std::vector<Block>& blocks, const std::function<Var<double>(Tape<double>&)>& build,
                      const std::function<std::vector<std::vector<double>>()>& read_gradients,
                      const GradcheckOptions& options) {
  Projection projection;
  std::vector<std::vector<double>> analytic;
  {
    Tape<double> tape;
    const Var<double> y = build(tape);
    projection.apply(y.value(), options.seed);
    tape.backward(sum(mul(y, tape.constant(Tensor<double>(y.shape(), projection.r)))));
    analytic = read_gradients();
  }
  auto evaluate = [&] {
    Tape<double> tape;
    NoGrad<double> no_grad(tape);
    return projection.apply(build(tape).value(), options.seed);
  };
  return compare(blocks, analytic, evaluate, options);
}

}  // namespace

std::string GradcheckReport::message() const {
  if (checked == 0) return "gradcheck: no elements checked";
  return fmt::format(
      "gradcheck {}: {} elements; worst {}[{}]: analytic {:.10g} numeric {:.10g} |diff| {:.3g} {} "
      "allowed {:.3g} (atol + rtol·|numeric|)",
      ok ? "passed" : "FAILED", checked, worst_input, worst_index, analytic, numeric, error, ok ? "<=" : ">",
      allowed);
}

GradcheckReport gradcheck(const GradcheckFunction& f, const std::vector<Tensor<double>>& inputs,
                          const GradcheckOptions& options) {
  std::vector<Tensor<double>> xs;
  std::vector<Block> blocks;
  for (size_t i = 0; i < inputs.size(); ++i) {
    xs.push_back(inputs[i].clone());
    blocks.push_back({fmt::format("input {}", i), xs.back().data(), xs.back().numel()});
  }
  std::vector<Var<double>> vars;  // the leaves of the latest recording
  auto build = [&](Tape<double>& tape) {
    vars.clear();
    for (const Tensor<double>& x : xs) vars.push_back(tape.variable(x));
    return f(tape, vars);
  };
  auto read_gradients = [&] {
    std::vector<std::vector<double>> grads;
    for (const Var<double>& v : vars) {
      const Tensor<double>& g = v.grad();  // empty when the output does not depend on this input
      grads.push_back(g.empty() ? std::vector<double>(static_cast<size_t>(v.value().numel()), 0.0)
                                : g.to_vector());
    }
    return grads;
  };
  return check(blocks, build, read_gradients, options);
}

GradcheckReport gradcheck_parameters(nn::ParameterTable<double>& params,
                                     const std::function<Var<double>(Tape<double>&)>& loss,
                                     const GradcheckOptions& options) {
  std::vector<Block> blocks;
  for (int id = 0; id < params.size(); ++id) {
    Tensor<double> v = params.value(id);
    blocks.push_back({params.entry(id).name, v.data(), v.numel()});
  }
  params.zero_grad();
  auto read_gradients = [&] {
    std::vector<std::vector<double>> grads;
    for (int id = 0; id < params.size(); ++id) grads.push_back(params.grad(id).to_vector());
    params.zero_grad();
    return grads;
  };
  return check(blocks, loss, read_gradients, options);
}

}  // namespace recur::ag
