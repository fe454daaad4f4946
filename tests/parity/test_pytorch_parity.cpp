// Parity with PyTorch 1.13 (float64 goldens from tools/make_goldens.py): forward values and every
// gradient of single ops and a 4-step LSTMCell with a cross-entropy head (optimizers and clipping:
// test_optimizer_parity.cpp).
// Each check runs in double (near-exact agreement expected) and in float (float rounding only).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "golden_file.h"
#include "recur/autograd/composed_cells.h"
#include "recur/autograd/functions.h"
#include "test_util.h"

namespace recur {
namespace {

using parity::json;
using recur::testing::all_close;

// Double reproduces PyTorch's float64 up to summation order; float adds its own rounding on O(1)
// values and O(10) terms per sum.
constexpr double kDoubleAtol = 1e-12, kDoubleRtol = 1e-10;
constexpr double kFloatAtol = 2e-6, kFloatRtol = 2e-5;

using parity::data;
using parity::tensor;

const json& load(const std::string& name) {
  return parity::load(name);
}

template <class T>
struct Tolerance;
template <>
struct Tolerance<double> {
  static constexpr double atol = kDoubleAtol, rtol = kDoubleRtol;
};
template <>
struct Tolerance<float> {
  static constexpr double atol = kFloatAtol, rtol = kFloatRtol;
};

template <class T>
::testing::AssertionResult matches(const Tensor<T>& actual, const json& expected,
                                   double atol = Tolerance<T>::atol) {
  const std::vector<double> want = data(expected);
  const Shape want_shape(expected.at("shape").get<std::vector<index_t>>());
  if (actual.shape() != want_shape || static_cast<size_t>(actual.numel()) != want.size())
    return ::testing::AssertionFailure() << "shape " << actual.shape().str() << " vs golden "
                                         << want_shape.str() << " with " << want.size() << " values";
  return all_close(actual.data(), want.data(), actual.numel(), atol, Tolerance<T>::rtol);
}

// Logits near 1000 are themselves rounded when stored in float (ulp(1000) = 6.1e-5), which moves
// log-softmax outputs by up to one ulp and its gradient by a few: that, not the kernel, bounds float
// agreement on the huge-logit row. Double keeps its usual tolerance.
template <class T>
constexpr double kHugeLogitAtol = std::is_same_v<T, float> ? 2e-4 : kDoubleAtol;

// Backpropagates an upstream gradient dy through y: loss = Σ y ⊙ dy.
template <class T>
void backward_with(ag::Tape<T>& tape, const ag::Var<T>& y, const json& dy) {
  tape.backward(ag::sum(y * tape.constant(tensor<T>(dy))));
}

template <class T>
class PyTorchParity : public ::testing::Test {};
using Scalars = ::testing::Types<double, float>;
TYPED_TEST_SUITE(PyTorchParity, Scalars);

TYPED_TEST(PyTorchParity, Linear) {
  using T = TypeParam;
  const json c = load("ops").at("linear");
  ag::Tape<T> tape;
  const auto x = tape.variable(tensor<T>(c["x"])), W = tape.variable(tensor<T>(c["W"]));
  const auto b = tape.variable(tensor<T>(c["b"]));
  const auto y = ag::linear(x, W, b);
  backward_with(tape, y, c["dy"]);
  EXPECT_TRUE(matches(y.value(), c["y"]));
  EXPECT_TRUE(matches(x.grad(), c["dx"]));
  EXPECT_TRUE(matches(W.grad(), c["dW"]));
  EXPECT_TRUE(matches(b.grad(), c["db"]));
}

TYPED_TEST(PyTorchParity, SoftmaxAndLogSoftmaxWithHugeLogits) {
  using T = TypeParam;
  for (const char* name : {"softmax", "log_softmax"}) {
    SCOPED_TRACE(name);
    const json c = load("ops").at(name);
    ag::Tape<T> tape;
    const auto x = tape.variable(tensor<T>(c["x"]));
    const auto y = std::string(name) == "softmax" ? ag::softmax(x) : ag::log_softmax(x);
    backward_with(tape, y, c["dy"]);
    EXPECT_TRUE(matches(y.value(), c["y"], kHugeLogitAtol<T>));
    EXPECT_TRUE(matches(x.grad(), c["dx"], kHugeLogitAtol<T>));
  }
}

TYPED_TEST(PyTorchParity, CrossEntropy) {
  using T = TypeParam;
  for (const char* name : {"cross_entropy_mean_ignore", "cross_entropy_sum", "cross_entropy_mean_smoothed"}) {
    SCOPED_TRACE(name);
    const json c = load("ops").at(name);
    ops::CrossEntropyOptions options;
    options.reduction =
        std::string(name) == "cross_entropy_sum" ? ops::Reduction::kSum : ops::Reduction::kMean;
    options.label_smoothing = c.value("label_smoothing", 0.0);
    ag::Tape<T> tape;
    const auto logits = tape.variable(tensor<T>(c["logits"]));
    const auto loss = ag::cross_entropy(logits, c["targets"].get<std::vector<std::int32_t>>(), options);
    tape.backward(loss);
    EXPECT_NEAR(loss.item(), c["loss"].get<double>(), Tolerance<T>::atol + Tolerance<T>::rtol * 10);
    EXPECT_TRUE(matches(logits.grad(), c["dlogits"]));
  }
}

TYPED_TEST(PyTorchParity, MseAndEmbedding) {
  using T = TypeParam;
  const json ops_golden = load("ops");
  {
    const json c = ops_golden.at("mse_mean");
    ag::Tape<T> tape;
    const auto pred = tape.variable(tensor<T>(c["pred"])), target = tape.variable(tensor<T>(c["target"]));
    const auto loss = ag::mse(pred, target);
    tape.backward(loss);
    EXPECT_NEAR(loss.item(), c["loss"].get<double>(), Tolerance<T>::atol + Tolerance<T>::rtol);
    EXPECT_TRUE(matches(pred.grad(), c["dpred"]));
    EXPECT_TRUE(matches(target.grad(), c["dtarget"]));
  }
  {
    const json c = ops_golden.at("embedding");
    ag::Tape<T> tape;
    const auto table = tape.variable(tensor<T>(c["table"]));
    const auto y = ag::embedding(table, c["ids"].get<std::vector<std::int32_t>>());
    backward_with(tape, y, c["dy"]);
    EXPECT_TRUE(matches(y.value(), c["y"]));
    EXPECT_TRUE(matches(table.grad(), c["dtable"]));
  }
}

// The composed LSTM cell against torch.nn.LSTMCell: same parameter layout and gate order, so the
// weights are used as PyTorch stores them.
TYPED_TEST(PyTorchParity, LstmCellUnrolledWithCrossEntropy) {
  using T = TypeParam;
  const json c = load("lstm_cell");
  const index_t B = c["B"], H = c["H"], T_steps = c["T"], I = c["I"];
  nn::ParameterTable<T> params;
  const std::vector<std::string> names = {"weight_ih", "weight_hh",   "bias_ih",
                                          "bias_hh",   "head.weight", "head.bias"};
  for (const std::string& name : names)
    params.add(name, Shape(c["params"][name]["shape"].get<std::vector<index_t>>()));
  params.freeze();
  for (const std::string& name : names) {
    Tensor<T> v = params.value(params.id(name));
    const Tensor<T> golden = tensor<T>(c["params"][name]);
    std::copy_n(golden.data(), golden.numel(), v.data());
  }
  const Tensor<T> xs = tensor<T>(c["x"]);  // (T, B, I)
  const std::vector<double> targets = c["targets"].get<std::vector<double>>();

  ag::Tape<T> tape;
  ag::LstmState<T> state{tape.constant(Tensor<T>(Shape{B, H})), tape.constant(Tensor<T>(Shape{B, H}))};
  auto p = [&](const char* name) { return ag::param(tape, params, params.id(name)); };
  std::vector<ag::Var<T>> losses;
  for (index_t t = 0; t < T_steps; ++t) {
    state = ag::lstm_cell_composed(tape.constant(xs.row(t).clone()), state, p("weight_ih"), p("weight_hh"),
                                   p("bias_ih"), p("bias_hh"));
    std::vector<std::int32_t> step_targets;
    for (index_t b = 0; b < B; ++b) step_targets.push_back(static_cast<std::int32_t>(targets[t * B + b]));
    losses.push_back(ag::cross_entropy(ag::linear(state.h, p("head.weight"), p("head.bias")), step_targets));
  }
  const auto loss = ag::sum(ag::concat(losses, 0));
  tape.backward(loss);
  EXPECT_EQ(I, xs.dim(2));
  EXPECT_NEAR(loss.item(), c["loss"].get<double>(), Tolerance<T>::atol + Tolerance<T>::rtol * 10);
  EXPECT_TRUE(matches(state.h.value(), c["h_last"]));
  EXPECT_TRUE(matches(state.c.value(), c["c_last"]));
  for (const std::string& name : names)
    EXPECT_TRUE(matches(params.grad(params.id(name)), c["grads"][name])) << name;
}

}  // namespace
}  // namespace recur
