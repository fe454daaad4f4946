// layers::Linear and layers::Embedding against the kernels they call (ops/linear.h,
// ops/embedding.h): the same forward values and, through the tape, the same gradients; and their
// errors.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "recur/autograd/functions.h"
#include "recur/init.h"
#include "recur/layers/embedding.h"
#include "recur/layers/linear.h"
#include "recur/ops/embedding.h"
#include "recur/ops/linear.h"

namespace recur::layers {
namespace {

// The module records the kernels' own calls, so the results are the same bits.
void expect_same(const Tensor<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.numel(), static_cast<index_t>(want.size())) << what;
  for (index_t i = 0; i < got.numel(); ++i)
    ASSERT_EQ(got[i], want[static_cast<size_t>(i)]) << what << " " << i;
}

TEST(LinearModule, ForwardAndBackwardAreTheKernels) {
  constexpr index_t N = 6, I = 5, O = 4;
  nn::ParameterTable<float> params;
  const Linear<float> linear(params, "decoder.", I, O);
  params.freeze();
  EXPECT_EQ(params.entry(linear.weight_id()).name, "decoder.weight");
  EXPECT_EQ(params.entry(linear.bias_id()).name, "decoder.bias");
  EXPECT_EQ(params.entry(linear.weight_id()).shape, Shape({O, I}));
  Rng rng(1);
  linear.init(rng);
  // PyTorch's init bound 1/√I.
  const Tensor<float> W = params.value(linear.weight_id()), b = params.value(linear.bias_id());
  for (index_t i = 0; i < W.numel(); ++i) EXPECT_LE(std::abs(W[i]), 1 / std::sqrt(float(I)));
  Tensor<float> x(Shape{N, I}), dy(Shape{N, O});
  init::uniform(x, -1.f, 1.f, rng);
  init::uniform(dy, -1.f, 1.f, rng);

  std::vector<float> y(N * O), dx(N * I, 0.f), dW(O * I, 0.f), db(O, 0.f);
  ops::linear_forward(x.data(), W.data(), b.data(), y.data(), N, I, O);
  ops::linear_backward(x.data(), W.data(), dy.data(), dx.data(), dW.data(), db.data(), N, I, O);

  ag::Tape<float> tape;
  const ag::Var<float> xv = tape.variable(x);
  const ag::Var<float> out = linear.forward(xv);
  expect_same(out.value(), y, "y");
  params.zero_grad();
  tape.backward(ag::sum(ag::mul(out, tape.constant(dy))));  // ∂/∂y = dy
  expect_same(xv.grad(), dx, "dx");
  expect_same(params.grad(linear.weight_id()), dW, "dW");
  expect_same(params.grad(linear.bias_id()), db, "db");
}

TEST(LinearModule, TiedSharesTheMatrixAndAddsBothGradients) {
  nn::ParameterTable<float> params;
  const Embedding<float> embedding(params, "embedding.", 7, 3);
  const Linear<float> decoder = Linear<float>::tied(params, "decoder.", embedding.weight_id());
  params.freeze();
  EXPECT_EQ(params.size(), 2);  // embedding.weight and decoder.bias
  EXPECT_EQ(decoder.in_features(), 3);
  EXPECT_EQ(decoder.out_features(), 7);
  Rng rng(2);
  embedding.init(rng);
  decoder.init(rng);
  const Tensor<float> table = params.value(embedding.weight_id()).clone();
  decoder.init(rng);  // init leaves a tied weight alone
  expect_same(params.value(embedding.weight_id()),
              std::vector<float>(table.data(), table.data() + table.numel()), "tied weight after init");

  // Through both uses the table's gradient is the lookup's plus the decoder's.
  const std::vector<std::int32_t> ids = {2, 6, 2};
  ag::Tape<float> tape;
  params.zero_grad();
  tape.backward(ag::sum(decoder.forward(embedding.forward(tape, ids))));
  const Tensor<float> g = params.grad(embedding.weight_id());
  // d/dE of Σ (E[ids] Eᵀ + b): the decoder's part is Σ_n x_n in every row, the lookup's is Σ_v E[v]
  // in each looked-up row (once per occurrence).
  std::vector<float> want(21, 0.f), colsum(3, 0.f), xsum(3, 0.f);
  for (index_t v = 0; v < 7; ++v)
    for (index_t e = 0; e < 3; ++e) colsum[e] += table[v * 3 + e];
  for (std::int32_t id : ids)
    for (index_t e = 0; e < 3; ++e) xsum[e] += table[id * 3 + e];
  for (index_t v = 0; v < 7; ++v)
    for (index_t e = 0; e < 3; ++e) want[v * 3 + e] = xsum[e];
  for (std::int32_t id : ids)
    for (index_t e = 0; e < 3; ++e) want[id * 3 + e] += colsum[e];
  for (index_t i = 0; i < 21; ++i) EXPECT_NEAR(g[i], want[i], 1e-5f) << i;
}

TEST(EmbeddingModule, ForwardAndBackwardAreTheKernels) {
  constexpr index_t V = 9, E = 4;
  nn::ParameterTable<float> params;
  const Embedding<float> embedding(params, "encoder.embedding.", V, E);
  params.freeze();
  EXPECT_EQ(params.entry(embedding.weight_id()).name, "encoder.embedding.weight");
  Rng rng(4);
  embedding.init(rng);
  const std::vector<std::int32_t> ids = {8, 0, 3, 3, 8, 8};
  const auto N = static_cast<index_t>(ids.size());
  Tensor<float> dy(Shape{N, E});
  init::uniform(dy, -1.f, 1.f, rng);
  std::vector<float> y(N * E), dtable(V * E, 0.f);
  ops::embedding_forward(params.value(embedding.weight_id()).data(), ids.data(), y.data(), N, V, E);
  ops::embedding_backward(ids.data(), dy.data(), dtable.data(), N, E);

  ag::Tape<float> tape;
  const ag::Var<float> out = embedding.forward(tape, ids);
  expect_same(out.value(), y, "rows");
  params.zero_grad();
  tape.backward(ag::sum(ag::mul(out, tape.constant(dy))));
  expect_same(params.grad(embedding.weight_id()), dtable, "dtable");
}

TEST(ModuleErrors, NameTheModuleAndTheValue) {
  nn::ParameterTable<float> params;
  const Embedding<float> embedding(params, "embedding.", 5, 2);
  const int bias = params.add("lonely.bias", Shape{5});
  try {
    Linear<float>(params, "decoder.", 0, 3);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("decoder."), std::string::npos) << e.what();
  }
  try {
    (void)Linear<float>::tied(params, "decoder.", bias);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lonely.bias"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Embedding<float>(params, "empty.", 0, 2), Error);
  params.freeze();
  ag::Tape<float> tape;
  try {
    (void)embedding.forward(tape, {1, 5});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find('5'), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace recur::layers
