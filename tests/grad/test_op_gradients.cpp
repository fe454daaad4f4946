// Every differentiable op on the tape: analytic gradient vs central finite differences in double
// (ag::gradcheck, PyTorch's tolerances eps 1e-6, atol 1e-5, rtol 1e-3). One table row per op.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "recur/autograd/functions.h"
#include "recur/autograd/gradcheck.h"
#include "recur/rng.h"

namespace recur::ag {
namespace {

using V = Var<double>;
using Inputs = std::span<const V>;

struct OpCase {
  std::string name;
  std::vector<Shape> shapes;  // one per perturbed input
  GradcheckFunction f;
  double min_magnitude = 0.0;  // inputs drawn from ±[min_magnitude, 1) (keeps FD away from kinks)
};

// gtest prints a parameter in test listings; the name says it all.
void PrintTo(const OpCase& c, std::ostream* os) {
  *os << c.name;
}

std::vector<Tensor<double>> make_inputs(const OpCase& c, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<Tensor<double>> inputs;
  for (const Shape& s : c.shapes) {
    Tensor<double> t(s);
    for (index_t i = 0; i < t.numel(); ++i) {
      const double magnitude = rng.uniform<double>(c.min_magnitude, 1.0);
      t[i] = rng.bernoulli(0.5) ? magnitude : -magnitude;
    }
    inputs.push_back(std::move(t));
  }
  return inputs;
}

Tensor<double> fixed_dropout_mask() {
  // p = 0.5: entries 0 or 2, fixed so that the function is deterministic under perturbation.
  return Tensor<double>(Shape{3, 4}, {2, 0, 2, 2, 0, 0, 2, 0, 2, 2, 0, 2});
}

std::vector<OpCase> op_cases() {
  const ops::CrossEntropyOptions mean_opts{};
  const ops::CrossEntropyOptions sum_opts{-100, ops::Reduction::kSum};
  const ops::CrossEntropyOptions none_opts{-100, ops::Reduction::kNone};
  const ops::CrossEntropyOptions ignore_opts{-1, ops::Reduction::kMean};
  const ops::CrossEntropyOptions smoothed_opts{-1, ops::Reduction::kMean, 0.2};
  const ops::CrossEntropyOptions smoothed_none_opts{-100, ops::Reduction::kNone, 0.3};
  return {
      {"add", {{3, 4}, {3, 4}}, [](Tape<double>&, Inputs x) { return x[0] + x[1]; }},
      {"sub", {{3, 4}, {3, 4}}, [](Tape<double>&, Inputs x) { return x[0] - x[1]; }},
      {"mul", {{3, 4}, {3, 4}}, [](Tape<double>&, Inputs x) { return x[0] * x[1]; }},
      {"mul_same_input", {{5}}, [](Tape<double>&, Inputs x) { return x[0] * x[0]; }},
      {"scale", {{2, 5}}, [](Tape<double>&, Inputs x) { return scale(x[0], -2.5); }},
      {"tanh", {{4, 5}}, [](Tape<double>&, Inputs x) { return tanh(scale(x[0], 3.0)); }},
      {"sigmoid", {{4, 5}}, [](Tape<double>&, Inputs x) { return sigmoid(scale(x[0], 4.0)); }},
      {"relu", {{4, 5}}, [](Tape<double>&, Inputs x) { return relu(x[0]); }, 0.05},
      {"add_bias", {{2, 3, 4}, {4}}, [](Tape<double>&, Inputs x) { return add_bias(x[0], x[1]); }},
      {"matmul", {{3, 5}, {5, 2}}, [](Tape<double>&, Inputs x) { return matmul(x[0], x[1]); }},
      {"matmul_row", {{1, 5}, {5, 4}}, [](Tape<double>&, Inputs x) { return matmul(x[0], x[1]); }},
      {"linear", {{2, 3, 5}, {4, 5}, {4}}, [](Tape<double>&, Inputs x) { return linear(x[0], x[1], x[2]); }},
      {"linear_no_bias", {{3, 5}, {4, 5}}, [](Tape<double>&, Inputs x) { return linear(x[0], x[1]); }},
      {"linear_batch1",
       {{1, 6}, {7, 6}, {7}},
       [](Tape<double>&, Inputs x) { return linear(x[0], x[1], x[2]); }},
      {"reshape",
       {{3, 4}},
       [](Tape<double>&, Inputs x) {
         return reshape(x[0] * x[0], Shape{2, 6});
       }},
      {"concat_axis0",
       {{2, 3}, {1, 3}, {3, 3}},
       [](Tape<double>&, Inputs x) {
         return concat<double>({x[0], x[1], x[2]}, 0);
       }},
      {"concat_axis1",
       {{2, 2, 3}, {2, 1, 3}, {2, 4, 3}},
       [](Tape<double>&, Inputs x) {
         return concat<double>({x[0], x[1], x[2]}, 1);
       }},
      {"concat_last",
       {{4, 2}, {4, 3}},
       [](Tape<double>&, Inputs x) {
         return concat<double>({x[0], x[1]}, -1);
       }},
      {"slice", {{3, 7, 2}}, [](Tape<double>&, Inputs x) { return slice(x[0], 1, 2, 4); }},
      {"split_recombined",
       {{3, 8}},
       [](Tape<double>&, Inputs x) {
         std::vector<V> p = split(x[0], 1, {3, 2, 3});
         return concat<double>({p[2] * p[0], p[1]}, 1);
       }},
      {"embedding",
       {{6, 4}},
       [](Tape<double>&, Inputs x) {
         return embedding(x[0], {5, 0, 2, 5, 5, 3});
       }},
      {"softmax", {{3, 5}}, [](Tape<double>&, Inputs x) { return softmax(scale(x[0], 3.0)); }},
      {"log_softmax", {{3, 5}}, [](Tape<double>&, Inputs x) { return log_softmax(scale(x[0], 3.0)); }},
      {"cross_entropy_mean",
       {{4, 5}},
       [=](Tape<double>&, Inputs x) {
         return cross_entropy(scale(x[0], 2.0), {1, 4, 0, 1}, mean_opts);
       }},
      {"cross_entropy_sum",
       {{4, 5}},
       [=](Tape<double>&, Inputs x) {
         return cross_entropy(x[0], {3, 4, 0, 2}, sum_opts);
       }},
      {"cross_entropy_none",
       {{4, 5}},
       [=](Tape<double>&, Inputs x) {
         return cross_entropy(x[0], {3, 4, 0, 2}, none_opts);
       }},
      {"cross_entropy_ignore_mask",
       {{5, 3}},
       [=](Tape<double>&, Inputs x) {
         return cross_entropy(x[0], {2, -1, 0, 1, -1}, ignore_opts, {1.0, 1.0, 0.5, 0.0, 1.0});
       }},
      {"cross_entropy_smoothed_ignore_mask",
       {{5, 3}},
       [=](Tape<double>&, Inputs x) {
         return cross_entropy(x[0], {2, -1, 0, 1, -1}, smoothed_opts, {1.0, 1.0, 0.5, 0.25, 1.0});
       }},
      {"cross_entropy_smoothed_none",
       {{4, 5}},
       [=](Tape<double>&, Inputs x) {
         return cross_entropy(scale(x[0], 2.0), {3, 4, 0, 2}, smoothed_none_opts);
       }},
      {"mse_mean", {{3, 4}, {3, 4}}, [](Tape<double>&, Inputs x) { return mse(x[0], x[1]); }},
      {"mse_sum",
       {{3, 4}, {3, 4}},
       [](Tape<double>&, Inputs x) { return mse(x[0], x[1], ops::Reduction::kSum); }},
      {"mse_none",
       {{6}, {6}},
       [](Tape<double>&, Inputs x) { return mse(x[0], x[1], ops::Reduction::kNone); }},
      {"dropout_with_mask",
       {{3, 4}},
       [](Tape<double>&, Inputs x) { return dropout_with_mask(x[0], fixed_dropout_mask()); }},
      {"sum", {{3, 4}}, [](Tape<double>&, Inputs x) { return sum(x[0] * x[0]); }},
      {"mean", {{3, 4}}, [](Tape<double>&, Inputs x) { return mean(tanh(x[0])); }},
      {"constant_operand",
       {{2, 3}},
       [](Tape<double>& tape, Inputs x) {
         return x[0] * tape.constant(Tensor<double>(Shape{2, 3}, {1, -2, 3, -4, 5, -6}));
       }},
  };
}

class OpGradient : public ::testing::TestWithParam<OpCase> {};

TEST_P(OpGradient, MatchesFiniteDifferences) {
  const OpCase& c = GetParam();
  for (std::uint64_t seed : {1u, 2u}) {
    const GradcheckReport report = gradcheck(c.f, make_inputs(c, seed));
    EXPECT_TRUE(report.ok) << c.name << " (seed " << seed << "): " << report.message();
    index_t expected_checked = 0;
    for (const Shape& s : c.shapes) expected_checked += s.numel();
    EXPECT_EQ(report.checked, expected_checked) << c.name;
  }
}

INSTANTIATE_TEST_SUITE_P(AllOps, OpGradient, ::testing::ValuesIn(op_cases()),
                         [](const ::testing::TestParamInfo<OpCase>& param_info) {
                           return param_info.param.name;
                         });

// The checker must be able to fail: an op whose backward is off by 10 % is caught and named.
TEST(Gradcheck, DetectsAWrongBackward) {
  GradcheckFunction wrong_square = [](Tape<double>& tape, Inputs x) {
    Tensor<double> y(x[0].shape());
    const Tensor<double> xv = x[0].value();
    for (index_t i = 0; i < y.numel(); ++i) y[i] = xv[i] * xv[i];
    const V inputs[] = {x[0]};
    return tape.record(std::move(y), inputs, [id = x[0].id(), xv](Tape<double>& t, const Tensor<double>& dy) {
      double* dx = t.grad_ptr(id);
      for (index_t i = 0; i < dy.numel(); ++i) dx[i] += 1.1 * 2 * xv[i] * dy[i];  // should be 2·x·dy
    });
  };
  const GradcheckReport report = gradcheck(wrong_square, {Tensor<double>(Shape{4}, {0.5, -0.7, 0.9, 1.3})});
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.worst_input, "input 0");
  EXPECT_GE(report.worst_index, 0);
  EXPECT_LT(report.worst_index, 4);
  EXPECT_NEAR(report.analytic / report.numeric, 1.1, 1e-6);  // the planted 10 % error, found where it is
  EXPECT_NE(report.message().find("FAILED"), std::string::npos);
}

}  // namespace
}  // namespace recur::ag
