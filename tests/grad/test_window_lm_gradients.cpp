// models::WindowLm<double>: every parameter's gradient of the mean cross-entropy over five
// (context, next token) examples, against central finite differences (ag::gradcheck_parameters),
// in evaluation mode and in training mode with input and hidden dropout (the loss re-seeds its
// Rng, so every evaluation draws the same masks).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "grad/parameter_checks.h"
#include "recur/autograd/functions.h"
#include "recur/autograd/gradcheck.h"
#include "recur/models/window_lm.h"

namespace recur::models {
namespace {

// Five contexts of N = 3 ids in [0, 6) and their next tokens; every id occurs.
constexpr index_t kWindow = 3;
const std::vector<std::int32_t> kContexts = {0, 1, 2, 3, 4, 5, 5, 5, 0, 2, 4, 1, 3, 3, 3};
const std::vector<std::int32_t> kNext = {3, 0, 1, 5, 2};

struct Case {
  double dropout, input_dropout;
  const char* name;
};

class WindowLmGradient : public ::testing::TestWithParam<Case> {};

TEST_P(WindowLmGradient, MatchesFiniteDifferences) {
  const Case& c = GetParam();
  WindowLmConfig config;
  config.window = kWindow;
  config.embedding_size = 4;
  config.hidden_size = 5;
  config.vocab_size = 6;
  config.dropout = c.dropout;
  config.input_dropout = c.input_dropout;
  WindowLm<double> model(config);
  Rng init_rng(2024);
  model.init(init_rng);
  const bool training = c.dropout > 0.0 || c.input_dropout > 0.0;
  const auto loss = [&](ag::Tape<double>& tape) {
    Rng dropout_rng(77);  // re-seeded: the same masks at every evaluation
    return ag::cross_entropy(model.forward(tape, kContexts, training, &dropout_rng), kNext);
  };
  double first = 0, again = 0, eval = 0;
  {
    ag::Tape<double> tape;
    first = loss(tape).item();
    again = loss(tape).item();
    eval = ag::cross_entropy(model.forward(tape, kContexts, false, nullptr), kNext).item();
  }
  EXPECT_EQ(first, again);
  if (training) {
    EXPECT_GT(std::abs(first - eval), 1e-3) << "dropout had no visible effect";
  } else {
    EXPECT_EQ(first, eval);
  }
  const ag::GradcheckReport report = ag::gradcheck_parameters(model.params(), loss);
  EXPECT_TRUE(report.ok) << report.message();
  EXPECT_EQ(report.checked, testing::parameter_elements(model.params()));
  // Not vacuous: every tensor gets a nonzero gradient.
  ag::Tape<double> tape;
  model.params().zero_grad();
  tape.backward(loss(tape));
  testing::expect_every_parameter_has_gradient(model.params(), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Modes, WindowLmGradient,
                         ::testing::Values(Case{0.0, 0.0, "eval"}, Case{0.3, 0.0, "hidden_dropout"},
                                           Case{0.3, 0.4, "input_and_hidden_dropout"}),
                         [](const ::testing::TestParamInfo<Case>& param_info) {
                           return param_info.param.name;
                         });

}  // namespace
}  // namespace recur::models
