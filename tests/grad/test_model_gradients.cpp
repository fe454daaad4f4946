// Whole small models: every parameter's gradient vs finite differences (gradcheck_parameters).
#include <gtest/gtest.h>

#include "recur/autograd/composed_cells.h"
#include "recur/autograd/functions.h"
#include "recur/autograd/gradcheck.h"
#include "recur/init.h"

namespace recur::ag {
namespace {

void init_all(nn::ParameterTable<double>& params, std::uint64_t seed) {
  Rng rng(seed);
  for (int id = 0; id < params.size(); ++id) {
    Tensor<double> v = params.value(id);
    init::uniform(v, -0.8, 0.8, rng);
  }
}

// embedding → linear → cross-entropy: the "tiny model".
TEST(ModelGradient, EmbeddingLinearCrossEntropy) {
  nn::ParameterTable<double> params;
  const int emb = params.add("embedding.weight", {7, 5});
  const int w = params.add("head.weight", {7, 5});
  const int b = params.add("head.bias", {7});
  params.freeze();
  init_all(params, 3);
  const GradcheckReport report = gradcheck_parameters(params, [&](Tape<double>& tape) {
    const Var<double> x = embedding(ag::param(tape, params, emb), {1, 3, 3, 6, 0});
    return cross_entropy(linear(x, ag::param(tape, params, w), ag::param(tape, params, b)), {3, 3, 6, 0, 2});
  });
  EXPECT_TRUE(report.ok) << report.message();
  EXPECT_EQ(report.checked, 7 * 5 + 7 * 5 + 7);
}

// A 3-step composed LSTM with a linear head, loss summed over steps: exercises BPTT through the
// shared weights and the carried (h, c) state.
TEST(ModelGradient, ComposedLstmThroughTime) {
  constexpr index_t B = 2, I = 3, H = 4, C = 3, T = 3;
  nn::ParameterTable<double> params;
  const int W_ih = params.add("weight_ih_l0", {4 * H, I});
  const int W_hh = params.add("weight_hh_l0", {4 * H, H});
  const int b_ih = params.add("bias_ih_l0", {4 * H});
  const int b_hh = params.add("bias_hh_l0", {4 * H});
  const int W_out = params.add("head.weight", {C, H});
  params.freeze();
  init_all(params, 5);
  Rng rng(6);
  std::vector<Tensor<double>> xs;
  for (index_t t = 0; t < T; ++t) {
    Tensor<double> x(Shape{B, I});
    init::uniform(x, -1.0, 1.0, rng);
    xs.push_back(x);
  }
  const std::vector<std::vector<std::int32_t>> targets = {{0, 2}, {1, 1}, {2, 0}};
  const GradcheckReport report = gradcheck_parameters(params, [&](Tape<double>& tape) {
    ag::LstmState<double> state{tape.constant(Tensor<double>(Shape{B, H})),
                                tape.constant(Tensor<double>(Shape{B, H}))};
    std::vector<Var<double>> losses;
    for (index_t t = 0; t < T; ++t) {
      state = ag::lstm_cell_composed(tape.constant(xs[t]), state, ag::param(tape, params, W_ih),
                                     ag::param(tape, params, W_hh), ag::param(tape, params, b_ih),
                                     ag::param(tape, params, b_hh));
      losses.push_back(cross_entropy(linear(state.h, ag::param(tape, params, W_out)), targets[t]));
    }
    return sum(concat(losses, 0));
  });
  EXPECT_TRUE(report.ok) << report.message();
}

}  // namespace
}  // namespace recur::ag
