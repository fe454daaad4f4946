// models::Tagger<double>: every parameter's gradient of the loss per word on a batch of three
// sentences of different lengths (padding included), against central finite differences
// (ag::gradcheck_parameters): with character features, a softmax or the CRF, a bidirectional or a
// unidirectional RNN, with feature columns, two residual layers and label smoothing, in evaluation mode and
// with dropout (the loss re-seeds its Rng, so every evaluation draws the same masks).
#include <gtest/gtest.h>

#include <vector>

#include "grad/parameter_checks.h"
#include "recur/autograd/gradcheck.h"
#include "recur/models/tagger.h"

namespace recur::models {
namespace {

struct Case {
  bool crf, bidirectional, chars;
  double dropout;
  const char* name;
  bool features = false;
  bool residual = false;  // and 2 layers
  double label_smoothing = 0.0;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

class TaggerGradient : public ::testing::TestWithParam<Case> {};

TEST_P(TaggerGradient, MatchesFiniteDifferences) {
  const Case& c = GetParam();
  TaggerConfig config;
  config.rnn_size = 3;
  config.bidirectional = c.bidirectional;
  config.num_layers = c.residual ? 2 : 1;
  config.residual = c.residual;
  config.word_embedding_size = 3;
  config.char_embedding_size = c.chars ? 2 : 0;
  config.char_rnn_size = 2;
  config.word_vocab_size = 6;
  config.char_vocab_size = 5;
  config.num_tags = 3;
  config.dropout = c.dropout;
  config.crf = c.crf;
  if (c.features) {
    config.feature_columns = {3, 5};
    config.feature_vocab_sizes = {4, 3};
    config.feature_embedding_size = 2;
  }
  Tagger<double> model(config);
  Rng init_rng(11);
  model.init(init_rng);
  // Sentences of 3, 1 and 2 words, longest first (as tagger_batch orders them), time-major.
  TaggerBatch batch;
  batch.T = 3;
  batch.B = 3;
  batch.lengths = {3, 1, 2};
  batch.words = {2, 5, 1, 3, 0, 4, 1, 0, 0};
  batch.chars = {{2, 3}, {4}, {1, 2, 3}, {3}, {4, 4}, {2}};  // t-major: (0,0) (0,1) (0,2) (1,0) (1,2) (2,0)
  if (c.features) batch.features = {{3, 1, 2, 2, 0, 1, 3, 0, 0}, {1, 2, 2, 0, 0, 1, 2, 0, 0}};
  const std::vector<std::int32_t> tags = {0, 2, 1, 1, 0, 2, 2, 0, 0};
  const bool training = c.dropout > 0;
  const auto loss = [&](ag::Tape<double>& tape) {
    Rng dropout_rng(5);  // re-seeded: the same masks at every evaluation
    return model.loss(tape, batch, tags, training, &dropout_rng, c.label_smoothing);
  };
  const ag::GradcheckReport report = ag::gradcheck_parameters(model.params(), loss);
  EXPECT_TRUE(report.ok) << report.message();
  EXPECT_EQ(report.checked, testing::parameter_elements(model.params()));
  // Not vacuous: every tensor gets a nonzero gradient.
  ag::Tape<double> tape;
  model.params().zero_grad();
  tape.backward(loss(tape));
  testing::expect_every_parameter_has_gradient(model.params(), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Variants, TaggerGradient,
                         ::testing::Values(Case{false, true, true, 0.0, "softmax_bidirectional_chars"},
                                           Case{true, true, true, 0.0, "crf_bidirectional_chars"},
                                           Case{true, false, false, 0.0, "crf_unidirectional_words"},
                                           Case{false, true, true, 0.3, "softmax_with_dropout"},
                                           Case{true, true, true, 0.0, "crf_with_feature_columns", true},
                                           Case{false, true, true, 0.3, "softmax_residual_smoothed", false,
                                                true, 0.1}));

}  // namespace
}  // namespace recur::models
