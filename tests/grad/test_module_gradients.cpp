// layers::Linear and layers::Embedding in double precision against central finite differences
// (every parameter and the input), and two models' modules sharing one parameter table: an encoder
// (Embedding + Rnn) and a decoder (Rnn + Linear tied to the encoder's table), each under its own
// prefix, checked by name and by gradient.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "grad/parameter_checks.h"
#include "recur/autograd/functions.h"
#include "recur/autograd/gradcheck.h"
#include "recur/init.h"
#include "recur/layers/embedding.h"
#include "recur/layers/linear.h"
#include "recur/layers/rnn.h"

namespace recur::layers {
namespace {

TEST(LinearGradient, WeightBiasAndInputMatchFiniteDifferences) {
  for (bool bias : {true, false}) {
    SCOPED_TRACE(bias ? "with bias" : "without bias");
    nn::ParameterTable<double> params;
    const Linear<double> linear(params, "proj.", 5, 3, bias);
    params.freeze();
    Rng rng(11);
    linear.init(rng);
    Tensor<double> x(Shape{4, 5});
    init::uniform(x, -1.0, 1.0, rng);
    const auto loss = [&](ag::Tape<double>& tape) {
      const ag::Var<double> y = linear.forward(tape.constant(x));
      return ag::sum(ag::mul(y, y));
    };
    const ag::GradcheckReport params_report = ag::gradcheck_parameters(params, loss);
    EXPECT_TRUE(params_report.ok) << params_report.message();
    EXPECT_EQ(params_report.checked, testing::parameter_elements(params));

    // The input's gradient, with the parameters held fixed.
    const ag::GradcheckReport report = ag::gradcheck(
        [&](ag::Tape<double>&, std::span<const ag::Var<double>> in) { return linear.forward(in[0]); }, {x});
    EXPECT_TRUE(report.ok) << report.message();
    EXPECT_EQ(report.checked, x.numel());
  }
}

TEST(EmbeddingGradient, RepeatedIdsAccumulateAsFiniteDifferencesSay) {
  nn::ParameterTable<double> params;
  const Embedding<double> embedding(params, "encoder.embedding.", 6, 3);
  params.freeze();
  Rng rng(3);
  embedding.init(rng);
  const std::vector<std::int32_t> ids = {4, 0, 4, 5, 2, 4};  // 4 three times, 1 and 3 never
  const auto loss = [&](ag::Tape<double>& tape) {
    const ag::Var<double> y = embedding.forward(tape, ids);
    return ag::sum(ag::mul(y, y));
  };
  const ag::GradcheckReport report = ag::gradcheck_parameters(params, loss);
  EXPECT_TRUE(report.ok) << report.message();
  EXPECT_EQ(report.checked, 18);
}

// An encoder and a decoder in one table: names under each prefix, PyTorch's order, one tied matrix.
struct EncoderDecoder {
  static constexpr index_t kVocab = 5, kWidth = 4, kHidden = 3;
  nn::ParameterTable<double> params;
  Embedding<double> embedding{params, "encoder.embedding.", kVocab, kWidth};
  Rnn<double> encoder{params, {nn::CellKind::kGru, kWidth, kHidden}, "encoder.rnn."};
  Rnn<double> decoder{params, {nn::CellKind::kLstm, kWidth, kHidden}, "decoder.rnn."};
  Linear<double> bridge{params, "bridge.", kHidden, kWidth};
  Linear<double> output = Linear<double>::tied(params, "decoder.output.", embedding.weight_id());

  EncoderDecoder() {
    params.freeze();  // the owner freezes, once every module has registered
    Rng rng(8);
    embedding.init(rng);
    encoder.init(rng);
    decoder.init(rng);
    bridge.init(rng);
    output.init(rng);
  }

  // The encoder reads `source` (T, 1); its last output, mapped by the bridge to the embedding
  // width, is prepended to the decoder's inputs; the decoder's outputs are scored against `target`
  // through the tied output layer, which maps (N, H) → (N, V) and needs H = E: so the decoder's
  // output goes through the bridge first as well.
  ag::Var<double> loss(ag::Tape<double>& tape, const std::vector<std::int32_t>& source,
                       const std::vector<std::int32_t>& target) const {
    const auto S = static_cast<index_t>(source.size()), T = static_cast<index_t>(target.size());
    const RnnResult<double> enc =
        encoder.forward(ag::reshape(embedding.forward(tape, source), Shape{S, 1, kWidth}));
    const ag::Var<double> context = bridge.forward(enc.final_state.h[0]);  // (1, E)
    std::vector<std::int32_t> inputs(target.begin(), target.end() - 1);
    const ag::Var<double> x = ag::concat<double>({context, embedding.forward(tape, inputs)}, 0);  // (T, E)
    const RnnResult<double> dec = decoder.forward(ag::reshape(x, Shape{T, 1, kWidth}));
    const ag::Var<double> logits = output.forward(bridge.forward(ag::reshape(dec.output, Shape{T, kHidden})));
    return ag::cross_entropy(logits, target);
  }
};

TEST(ModulesInOneTable, NamesFollowEachPrefix) {
  EncoderDecoder m;
  std::vector<std::string> names;
  for (const auto& e : m.params.entries()) names.push_back(e.name);
  const std::vector<std::string> want = {"encoder.embedding.weight",
                                         "encoder.rnn.weight_ih_l0",
                                         "encoder.rnn.weight_hh_l0",
                                         "encoder.rnn.bias_ih_l0",
                                         "encoder.rnn.bias_hh_l0",
                                         "decoder.rnn.weight_ih_l0",
                                         "decoder.rnn.weight_hh_l0",
                                         "decoder.rnn.bias_ih_l0",
                                         "decoder.rnn.bias_hh_l0",
                                         "bridge.weight",
                                         "bridge.bias",
                                         "decoder.output.bias"};
  EXPECT_EQ(names, want);
  EXPECT_EQ(m.output.weight_id(), m.embedding.weight_id());
  EXPECT_TRUE(m.output.is_tied());
  EXPECT_EQ(m.output.in_features(), EncoderDecoder::kWidth);
  EXPECT_EQ(m.output.out_features(), EncoderDecoder::kVocab);
  // A second module under a name already taken is refused.
  nn::ParameterTable<double> params;
  const Linear<double> a(params, "head.", 2, 2);
  EXPECT_THROW(Linear<double>(params, "head.", 3, 3), Error);
}

TEST(ModulesInOneTable, EveryGradientMatchesFiniteDifferences) {
  EncoderDecoder m;
  const std::vector<std::int32_t> source = {1, 4, 2}, target = {3, 0, 4, 4};
  const auto loss = [&](ag::Tape<double>& tape) { return m.loss(tape, source, target); };
  const ag::GradcheckReport report = ag::gradcheck_parameters(m.params, loss);
  EXPECT_TRUE(report.ok) << report.message();
  EXPECT_EQ(report.checked, testing::parameter_elements(m.params));
  // Not vacuous: both the encoder's and the decoder's weights get a gradient.
  m.params.zero_grad();
  ag::Tape<double> tape;
  tape.backward(m.loss(tape, source, target));
  for (const char* name :
       {"encoder.rnn.weight_hh_l0", "decoder.rnn.weight_ih_l0", "encoder.embedding.weight"}) {
    const Tensor<double> g = m.params.grad(m.params.id(name));
    double norm = 0;
    for (index_t i = 0; i < g.numel(); ++i) norm += g[i] * g[i];
    EXPECT_GT(norm, 1e-12) << name;
  }
}

}  // namespace
}  // namespace recur::layers
