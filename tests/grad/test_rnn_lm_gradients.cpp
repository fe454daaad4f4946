// models::RnnLm<double>: every parameter's gradient of the mean cross-entropy over a (T = 4,
// B = 2) chunk that starts from a given nonzero state, against central finite differences
// (ag::gradcheck_parameters). LSTM and GRU, untied and tied (E = H: the embedding also serves as
// the decoder, so its gradient has two contributions), and training mode with dropout, where the
// loss re-seeds its Rng so every evaluation draws the same masks.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "grad/parameter_checks.h"
#include "recur/autograd/functions.h"
#include "recur/autograd/gradcheck.h"
#include "recur/init.h"
#include "recur/models/rnn_lm.h"

namespace recur::models {
namespace {

constexpr index_t kSteps = 4, kBatch = 2, kVocab = 7;

struct Case {
  nn::CellKind cell;
  index_t embedding_size, rnn_size;
  bool tied;
  double dropout = 0.0;
  layers::DropoutMode mode = layers::DropoutMode::kPerStep;
  std::string name;
  double input_dropout = 0.0;
};

RnnLmConfig config_of(const Case& c) {
  RnnLmConfig config;
  config.model = c.cell;
  config.num_layers = 2;
  config.rnn_size = c.rnn_size;
  config.embedding_size = c.embedding_size;
  config.vocab_size = kVocab;
  config.dropout = c.dropout;
  config.dropout_mode = c.mode;
  config.input_dropout = c.input_dropout;
  config.tied = c.tied;
  return config;
}

// Token ids (T, B) time-major and their next-token targets; every id in [0, 7) occurs.
const std::vector<std::int32_t> kInputs = {0, 3, 5, 1, 6, 2, 4, 4};
const std::vector<std::int32_t> kTargets = {5, 1, 6, 2, 4, 4, 3, 0};

// A nonzero initial state: L entries of (B, H) for h (and c for the LSTM).
layers::RnnStateValues<double> initial_state(const RnnLmConfig& config) {
  layers::RnnStateValues<double> s;
  Rng rng(99);
  for (int l = 0; l < config.num_layers; ++l) {
    Tensor<double> h(Shape{kBatch, config.rnn_size});
    init::uniform(h, -0.7, 0.7, rng);
    s.h.push_back(h);
    if (nn::has_cell_state(config.model)) {
      Tensor<double> c(Shape{kBatch, config.rnn_size});
      init::uniform(c, -0.7, 0.7, rng);
      s.c.push_back(c);
    }
  }
  return s;
}

class RnnLmGradient : public ::testing::TestWithParam<Case> {};

TEST_P(RnnLmGradient, MatchesFiniteDifferences) {
  const Case& c = GetParam();
  const RnnLmConfig config = config_of(c);
  RnnLm<double> model(config);
  Rng init_rng(2024);
  model.init(init_rng);
  const layers::RnnStateValues<double> initial = initial_state(config);
  const bool training = c.dropout > 0.0 || c.input_dropout > 0.0;
  const auto loss = [&](ag::Tape<double>& tape) {
    Rng dropout_rng(77);  // re-seeded: the same masks at every evaluation
    const RnnLm<double>::Output out = model.forward(tape, kInputs, kSteps, kBatch,
                                                    layers::constants(tape, initial), training, &dropout_rng);
    return ag::cross_entropy(out.logits, kTargets);
  };

  // The loss is a deterministic function of the parameters (the precondition of the check), and
  // in training mode dropout really changes it.
  double first = 0, again = 0, eval = 0;
  {
    ag::Tape<double> tape;
    first = loss(tape).item();
    again = loss(tape).item();
    const RnnLm<double>::Output out =
        model.forward(tape, kInputs, kSteps, kBatch, layers::constants(tape, initial), false, nullptr);
    eval = ag::cross_entropy(out.logits, kTargets).item();
  }
  EXPECT_EQ(first, again);
  if (training) {
    EXPECT_GT(std::abs(first - eval), 1e-3) << "dropout had no visible effect: " << first << " vs " << eval;
  } else {
    EXPECT_EQ(first, eval);
  }

  const ag::GradcheckReport report = ag::gradcheck_parameters(model.params(), loss);
  EXPECT_TRUE(report.ok) << report.message();
  EXPECT_EQ(report.checked, testing::parameter_elements(model.params()));
}

INSTANTIATE_TEST_SUITE_P(
    Cells, RnnLmGradient,
    ::testing::Values(Case{nn::CellKind::kLstm, 4, 5, false, 0.0, layers::DropoutMode::kPerStep, "lstm"},
                      Case{nn::CellKind::kGru, 4, 5, false, 0.0, layers::DropoutMode::kPerStep, "gru"},
                      Case{nn::CellKind::kLstm, 5, 5, true, 0.0, layers::DropoutMode::kPerStep, "lstm_tied"},
                      Case{nn::CellKind::kGru, 5, 5, true, 0.0, layers::DropoutMode::kPerStep, "gru_tied"},
                      Case{nn::CellKind::kLstm, 4, 5, false, 0.3, layers::DropoutMode::kPerStep,
                           "lstm_dropout_per_step"},
                      Case{nn::CellKind::kGru, 4, 5, false, 0.3, layers::DropoutMode::kPerSequence,
                           "gru_dropout_per_sequence"},
                      Case{nn::CellKind::kLstm, 5, 5, true, 0.3, layers::DropoutMode::kPerSequence,
                           "lstm_tied_dropout_per_sequence"},
                      Case{nn::CellKind::kLstm, 4, 5, false, 0.3, layers::DropoutMode::kPerStep,
                           "lstm_input_and_layer_dropout", 0.4},
                      // Input dropout alone moves this small model's loss little: a high rate makes
                      // the sanity check below see it.
                      Case{nn::CellKind::kGru, 4, 5, false, 0.0, layers::DropoutMode::kPerStep,
                           "gru_input_dropout_only", 0.9}),
    [](const ::testing::TestParamInfo<Case>& param_info) { return param_info.param.name; });

// The gradient check is not vacuous: every parameter tensor gets a nonzero analytic gradient.
TEST(RnnLmGradientSanity, EveryParameterGetsAGradient) {
  for (bool tied : {false, true}) {
    SCOPED_TRACE(tied ? "tied" : "untied");
    const RnnLmConfig config = config_of({nn::CellKind::kLstm, 5, 5, tied, 0.0, {}, ""});
    RnnLm<double> model(config);
    Rng rng(5);
    model.init(rng);
    model.params().zero_grad();
    ag::Tape<double> tape;
    const auto out = model.forward(tape, kInputs, kSteps, kBatch,
                                   layers::constants(tape, initial_state(config)), false, nullptr);
    tape.backward(ag::cross_entropy(out.logits, kTargets));
    testing::expect_every_parameter_has_gradient(model.params(), 1e-12);
  }
}

}  // namespace
}  // namespace recur::models
