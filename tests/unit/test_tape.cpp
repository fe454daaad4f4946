// The contracts of ag::Tape (include/recur/autograd/tape.h): NoGrad, clear() and stale Vars, the
// errors for misuse (a second backward, recording after backward, a non-scalar loss, Vars of two
// tapes), the lifetime of references and of backward closures, empty tensors, and gradient
// accumulation (into a Var used twice, and into a ParameterTable across recordings).
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "recur/autograd/functions.h"
#include "recur/autograd/tape.h"
#include "recur/nn/parameters.h"
#include "test_util.h"

namespace recur::ag {
namespace {

using ::recur::testing::throws_error_with;

Tensor<float> iota_tensor(const Shape& shape, float start = 0.25f, float step = 0.5f) {
  Tensor<float> t(shape);
  for (index_t i = 0; i < t.numel(); ++i) t[i] = start + step * static_cast<float>(i);
  return t;
}

// A frozen table with one (2, 3) weight "w" holding 0.5, -1, 1.5, ... and gradients preset to
// `grad_fill`, so that "untouched" and "accumulated" are both observable.
struct OneWeight {
  nn::ParameterTable<float> params;
  int w = -1;
  explicit OneWeight(float grad_fill) {
    w = params.add("w", {2, 3});
    params.freeze();
    Tensor<float> v = params.value(w);
    for (index_t i = 0; i < v.numel(); ++i) v[i] = (i % 2 ? -1.0f : 1.0f) * 0.5f * static_cast<float>(i + 1);
    params.flat_grads().fill(grad_fill);
  }
};

// ---- NoGrad ----------------------------------------------------------------------------------------

TEST(TapeNoGrad, OpsUnderNoGradRecordNoBackward) {
  Tape<float> tape;
  const Var<float> x = tape.variable(iota_tensor({2, 3}));
  ASSERT_TRUE(x.requires_grad());
  Var<float> y, z, v;
  {
    NoGrad<float> no_grad(tape);
    y = tanh(x);
    z = x * x + x;
    v = tape.variable(iota_tensor({2, 3}));  // a leaf made under NoGrad is not differentiable either
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_FALSE(z.requires_grad());
  EXPECT_FALSE(v.requires_grad());
  // The values are still computed.
  EXPECT_EQ(z.value()[1], 0.75f * 0.75f + 0.75f);  // exact: dyadic values
  // A loss built from them has nothing to differentiate: backward() is a no-op, not an error.
  const Var<float> loss = sum(z);
  EXPECT_FALSE(loss.requires_grad());
  EXPECT_NO_THROW(tape.backward(loss));
  EXPECT_TRUE(x.grad().empty());
}

TEST(TapeNoGrad, RecordUnderNoGradDropsTheClosureAtOnce) {
  Tape<float> tape;
  const Var<float> x = tape.variable(iota_tensor({3}));
  auto sentinel = std::make_shared<int>(1);
  const Var<float> inputs[] = {x};
  {
    NoGrad<float> no_grad(tape);
    const Var<float> y = tape.record(iota_tensor({3}), inputs,
                                     [sentinel](Tape<float>&, const Tensor<float>&) { ADD_FAILURE(); });
    EXPECT_FALSE(y.requires_grad());
  }
  // Nothing on the tape holds the closure (nor what it captured).
  EXPECT_EQ(sentinel.use_count(), 1);
}

TEST(TapeNoGrad, ParamLeafUnderNoGradLeavesTableGradientsUntouched) {
  constexpr float kPreset = 0.375f;
  OneWeight model(kPreset);
  Tape<float> tape;
  Var<float> loss;
  {
    NoGrad<float> no_grad(tape);
    const Var<float> w = param(tape, model.params, model.w);
    EXPECT_FALSE(w.requires_grad());
    EXPECT_TRUE(w.grad().empty()) << "a leaf made under NoGrad must not expose the table's gradient";
    loss = sum(tanh(w * w));
    EXPECT_FALSE(loss.requires_grad());
  }
  // backward() after the guard ended: the loss was still recorded without gradients.
  EXPECT_NO_THROW(tape.backward(loss));
  for (float g : model.params.flat_grads().to_vector()) EXPECT_EQ(g, kPreset);
}

TEST(TapeNoGrad, GuardRestoresThePreviousModeAndNests) {
  Tape<float> tape;
  const Var<float> x = tape.variable(iota_tensor({2}));
  ASSERT_TRUE(tape.grad_enabled());
  {
    NoGrad<float> outer(tape);
    EXPECT_FALSE(tape.grad_enabled());
    {
      NoGrad<float> inner(tape);
      EXPECT_FALSE(tape.grad_enabled());
    }
    // The inner guard restores "disabled" (its previous mode), not "enabled".
    EXPECT_FALSE(tape.grad_enabled());
    EXPECT_FALSE(tanh(x).requires_grad());
  }
  EXPECT_TRUE(tape.grad_enabled());
  EXPECT_TRUE(tanh(x).requires_grad()) << "recording resumes once the guard is gone";

  // A guard over an already disabled tape leaves it disabled.
  tape.set_grad_enabled(false);
  { NoGrad<float> guard(tape); }
  EXPECT_FALSE(tape.grad_enabled());
  tape.set_grad_enabled(true);
}

// ---- clear() -----------------------------------------------------------------------------------------

TEST(TapeClear, VarsFromBeforeClearThrow) {
  Tape<float> tape;
  const Var<float> x = tape.variable(iota_tensor({2, 2}));
  const Var<float> y = sum(tanh(x));
  tape.backward(y);
  tape.clear();
  EXPECT_EQ(tape.size(), 0);
  for (const Var<float>& stale : {x, y}) {
    EXPECT_TRUE(throws_error_with([&] { (void)stale.value(); }, {"stale"}));
    EXPECT_TRUE(throws_error_with([&] { (void)stale.grad(); }, {"stale"}));
    EXPECT_TRUE(throws_error_with([&] { (void)stale.requires_grad(); }, {"stale"}));
    EXPECT_TRUE(throws_error_with([&] { (void)stale.shape(); }, {"stale"}));
    EXPECT_TRUE(throws_error_with([&] { (void)stale.item(); }, {"stale"}));
  }
  EXPECT_THROW(tanh(x), Error);
  // New nodes reuse ids 0 and 1: the stale handles must still be rejected, not alias them.
  const Var<float> fresh0 = tape.constant(iota_tensor({5}));
  const Var<float> fresh1 = tape.constant(iota_tensor({5}));
  ASSERT_EQ(fresh0.id(), x.id());
  ASSERT_EQ(fresh1.id(), 1);
  EXPECT_THROW((void)x.value(), Error);
  EXPECT_THROW(tape.backward(x), Error);
}

TEST(TapeClear, TapeRecordsAgainAfterClear) {
  Tape<double> tape;
  for (int pass = 0; pass < 3; ++pass) {
    SCOPED_TRACE("pass " + std::to_string(pass));
    const Var<double> x = tape.variable(Tensor<double>(Shape{3}, {1.0, -2.0, 0.5}));
    const Var<double> loss = sum(scale(x * x, 0.5));  // ∂/∂x = x
    tape.backward(loss);
    EXPECT_EQ(loss.item(), 0.5 * (1.0 + 4.0 + 0.25));
    EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1.0, -2.0, 0.5}));
    tape.clear();
    EXPECT_EQ(tape.size(), 0);
  }
}

TEST(TapeClear, ParameterGradientsSurviveClearAndAccumulate) {
  // A small linear + tanh model. Each gradient element is written by exactly one `+=` per pass (one
  // GEMM with a single K block, one column sum), and the second pass computes the same value bit for
  // bit, so g + g = 2g holds exactly.
  nn::ParameterTable<float> params;
  const int W = params.add("W", {2, 3});
  const int b = params.add("b", {2});
  params.freeze();
  Tensor<float> w_value = params.value(W), b_value = params.value(b);
  for (index_t i = 0; i < w_value.numel(); ++i) w_value[i] = 0.1f * static_cast<float>(i) - 0.2f;
  b_value[0] = 0.3f;
  b_value[1] = -0.1f;
  const Tensor<float> x_value = iota_tensor({4, 3}, -1.0f, 0.2f);

  Tape<float> tape;
  auto forward_backward = [&] {
    const Var<float> x = tape.constant(x_value);
    const Var<float> loss = mean(tanh(linear(x, param(tape, params, W), param(tape, params, b))));
    tape.backward(loss);
  };
  forward_backward();
  const std::vector<float> once = params.flat_grads().to_vector();
  bool any_nonzero = false;
  for (float g : once) any_nonzero = any_nonzero || g != 0.0f;
  ASSERT_TRUE(any_nonzero) << "the model must produce a gradient for the test to mean anything";

  tape.clear();
  const std::vector<float> after_clear = params.flat_grads().to_vector();
  EXPECT_EQ(after_clear, once) << "clear() must keep the parameters' accumulated gradients";

  forward_backward();  // no zero_grad() in between
  const std::vector<float> twice = params.flat_grads().to_vector();
  ASSERT_EQ(twice.size(), once.size());
  for (size_t i = 0; i < once.size(); ++i) EXPECT_EQ(twice[i], 2.0f * once[i]) << "flat index " << i;
}

// ---- misuse --------------------------------------------------------------------------------------------

TEST(TapeMisuse, SecondBackwardOnOneRecordingThrows) {
  Tape<float> tape;
  const Var<float> x = tape.variable(iota_tensor({3}));
  const Var<float> loss = sum(x * x);
  tape.backward(loss);
  const std::vector<float> grad = x.grad().to_vector();
  EXPECT_TRUE(throws_error_with([&] { tape.backward(loss); }, {"backward() already ran"}));
  EXPECT_EQ(x.grad().to_vector(), grad) << "the rejected backward() must not accumulate again";
}

TEST(TapeMisuse, RecordingAfterBackwardThrows) {
  Tape<float> tape;
  const Var<float> x = tape.variable(iota_tensor({3}));
  tape.backward(sum(x));
  const index_t size = tape.size();
  EXPECT_TRUE(throws_error_with([&] { (void)tanh(x); }, {"record after backward()"}));
  EXPECT_TRUE(throws_error_with([&] { (void)tape.constant(iota_tensor({3})); }, {"record after backward()"}));
  EXPECT_TRUE(throws_error_with([&] { (void)tape.variable(iota_tensor({3})); }, {"record after backward()"}));
  EXPECT_EQ(tape.size(), size);
  tape.clear();
  EXPECT_NO_THROW((void)tanh(tape.variable(iota_tensor({3}))));
}

TEST(TapeMisuse, NonScalarBackwardThrowsNamingTheShape) {
  Tape<float> tape;
  const Var<float> x = tape.variable(iota_tensor({2}));
  const Var<float> y = tanh(x);
  EXPECT_TRUE(throws_error_with([&] { tape.backward(y); }, {"scalar", "(2,)"}));
  EXPECT_TRUE(throws_error_with([&] { tape.backward(tape.variable(iota_tensor({2, 3}))); }, {"(2, 3)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)y.item(); }, {"(2,)"}));
  EXPECT_TRUE(x.grad().empty());
  // The rejected call did not use up the recording.
  EXPECT_NO_THROW(tape.backward(sum(y)));
  EXPECT_FALSE(x.grad().empty());
}

TEST(TapeMisuse, MixingVarsOfTwoTapesThrows) {
  Tape<float> tape_a, tape_b;
  const Var<float> a = tape_a.variable(iota_tensor({2, 2}));
  const Var<float> b = tape_b.variable(iota_tensor({2, 2}));
  const Var<float> ca = tape_a.constant(iota_tensor({2, 2}));
  const Var<float> cb = tape_b.constant(iota_tensor({2, 2}));
  const Var<float> bias_b = tape_b.variable(iota_tensor({2}));

  auto expect_all_rejected = [&](const char* when) {
    SCOPED_TRACE(when);
    const index_t size_a = tape_a.size(), size_b = tape_b.size();
    EXPECT_TRUE(throws_error_with([&] { (void)(a + b); }, {"two different tapes"}));
    EXPECT_TRUE(throws_error_with([&] { (void)(a - b); }, {"two different tapes"}));
    EXPECT_TRUE(throws_error_with([&] { (void)(a * b); }, {"two different tapes"}));
    EXPECT_TRUE(
        throws_error_with([&] { (void)(ca * cb); }, {"two different tapes"}));  // neither differentiable
    EXPECT_TRUE(throws_error_with([&] { (void)matmul(a, b); }, {"two different tapes"}));
    EXPECT_TRUE(throws_error_with([&] { (void)linear(a, a, bias_b); }, {"two different tapes"}));
    EXPECT_TRUE(throws_error_with([&] { (void)add_bias(a, bias_b); }, {"two different tapes"}));
    EXPECT_TRUE(throws_error_with([&] { (void)concat<float>({a, b}, 0); }, {"two different tapes"}));
    EXPECT_TRUE(throws_error_with([&] { (void)mse(a, cb); }, {"two different tapes"}));
    EXPECT_TRUE(throws_error_with([&] { tape_a.backward(sum(b)); }, {"another tape"}));
    EXPECT_EQ(tape_a.size(), size_a) << "a rejected op must not leave a node on the tape";
    EXPECT_EQ(tape_b.size(), size_b + 1) << "only sum(b) was recorded on tape_b";
  };
  expect_all_rejected("gradients enabled");
  {
    NoGrad<float> no_grad(tape_a);  // the recording tape (the first input's) does not record gradients
    expect_all_rejected("NoGrad on the recording tape");
  }
  {
    NoGrad<float> no_grad_a(tape_a);
    NoGrad<float> no_grad_b(tape_b);
    expect_all_rejected("NoGrad on both tapes");
  }
}

// ---- lifetimes -----------------------------------------------------------------------------------------

TEST(TapeLifetime, ReferencesStayValidWhileOpsAreAppended) {
  constexpr int kMoreOps = 200;
  Tape<float> tape;
  const Var<float> x = tape.variable(iota_tensor({3, 4}));
  const Shape& s = x.shape();
  const Tensor<float>& v = x.value();
  const float* data = v.data();
  const std::vector<float> expected = iota_tensor({3, 4}).to_vector();

  Var<float> y = x;
  for (int i = 0; i < kMoreOps; ++i) y = (i % 2 == 0) ? tanh(y) : y + x;
  ASSERT_GE(tape.size(), kMoreOps);

  // Under ASan a vector-backed tape would make these reads a heap-use-after-free.
  EXPECT_EQ(s, Shape({3, 4}));
  EXPECT_EQ(v.shape(), Shape({3, 4}));
  EXPECT_EQ(v.data(), data);
  EXPECT_EQ(v.to_vector(), expected);
  EXPECT_EQ(&v, &x.value()) << "value() must keep returning the same node's tensor";
}

TEST(TapeLifetime, BackwardClosureIsReleasedAfterBackward) {
  Tape<float> tape;
  const Var<float> x = tape.variable(iota_tensor({4}));
  auto sentinel = std::make_shared<int>(42);
  bool ran = false;
  const Var<float> inputs[] = {x};
  // A custom identity node: dx += dy.
  const Var<float> y = tape.record(iota_tensor({4}), inputs,
                                   [sentinel, &ran, ix = x.id()](Tape<float>& t, const Tensor<float>& dy) {
                                     ran = true;
                                     float* dx = t.grad_ptr(ix);
                                     for (index_t i = 0; i < dy.numel(); ++i) dx[i] += dy[i];
                                   });
  ASSERT_TRUE(y.requires_grad());
  EXPECT_EQ(sentinel.use_count(), 2) << "the tape holds the closure until backward";
  tape.backward(sum(y));
  EXPECT_TRUE(ran);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{1, 1, 1, 1}));
  EXPECT_EQ(sentinel.use_count(), 1) << "backward() must release the closure and what it captured";
}

TEST(TapeLifetime, ClearReleasesClosuresBackwardDidNotReach) {
  Tape<float> tape;
  const Var<float> x = tape.variable(iota_tensor({2}));
  auto sentinel = std::make_shared<int>(0);
  const Var<float> inputs[] = {x};
  // A differentiable node that the loss does not depend on: backward() never runs it.
  (void)tape.record(iota_tensor({2}), inputs, [sentinel](Tape<float>&, const Tensor<float>&) {
    ADD_FAILURE() << "not on the loss path";
  });
  tape.backward(sum(x));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{1, 1}));
  tape.clear();
  EXPECT_EQ(sentinel.use_count(), 1) << "clear() forgets every node, closures included";
}

// ---- empty tensors -------------------------------------------------------------------------------------

TEST(TapeEmpty, DefaultTensorIsEmptyAndRejectedByTheTape) {
  const Tensor<float> empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.numel(), 0);
  EXPECT_TRUE(empty.clone().empty());
  EXPECT_TRUE(empty.to_vector().empty());

  Tape<float> tape;
  const Var<float> x = tape.variable(iota_tensor({2}));
  const Var<float> inputs[] = {x};
  EXPECT_TRUE(throws_error_with([&] { (void)tape.constant(Tensor<float>{}); }, {"empty"}));
  EXPECT_TRUE(throws_error_with([&] { (void)tape.variable(Tensor<float>{}); }, {"empty"}));
  EXPECT_TRUE(throws_error_with([&] { (void)tape.leaf(Tensor<float>{}, Tensor<float>{}); }, {"empty"}));
  EXPECT_TRUE(throws_error_with(
      [&] { (void)tape.record(Tensor<float>{}, inputs, [](Tape<float>&, const Tensor<float>&) {}); },
      {"empty"}));
  EXPECT_EQ(tape.size(), 1);

  // A zero-element tensor of a real shape is not "empty": it has storage and is a valid node.
  const Tensor<float> zero_size(Shape{0, 3});
  EXPECT_FALSE(zero_size.empty());
  EXPECT_EQ(zero_size.numel(), 0);
  const Var<float> z = tape.constant(zero_size);
  EXPECT_EQ(z.shape(), Shape({0, 3}));
}

// ---- gradients -------------------------------------------------------------------------------------------

TEST(TapeGradient, LossIndependentOfDifferentiableInputsIsANoOp) {
  constexpr float kPreset = -1.5f;
  OneWeight model(kPreset);
  Tape<float> tape;
  const Var<float> w = param(tape, model.params, model.w);  // on the tape, differentiable, but unused
  const Var<float> x = tape.variable(iota_tensor({2, 3}));  // likewise
  const Var<float> c = tape.constant(iota_tensor({2, 3}));
  const Var<float> loss = mean(tanh(c * c));
  EXPECT_TRUE(w.requires_grad());
  EXPECT_FALSE(loss.requires_grad());
  EXPECT_NO_THROW(tape.backward(loss));
  EXPECT_TRUE(x.grad().empty());
  EXPECT_TRUE(c.grad().empty());
  for (float g : model.params.flat_grads().to_vector()) EXPECT_EQ(g, kPreset);
}

TEST(TapeGradient, VarUsedTwiceAccumulatesBothPaths) {
  // Dyadic inputs: x·x, 2x + 1 and (1 + x) + x are all exact in double, so equality is exact.
  const std::vector<double> xs = {-1.5, 0.25, 2.0, 3.75, -0.125};
  Tape<double> tape;
  const Var<double> x = tape.variable(Tensor<double>(Shape{5}, xs));
  const Var<double> y = x * x + x;
  tape.backward(sum(y));
  ASSERT_FALSE(x.grad().empty());
  ASSERT_EQ(x.grad().shape(), Shape({5}));
  for (size_t i = 0; i < xs.size(); ++i)
    EXPECT_EQ(x.grad()[static_cast<index_t>(i)], 2.0 * xs[i] + 1.0) << "x = " << xs[i];
}

TEST(TapeGradient, LeafLossGetsUnitGradient) {
  Tape<double> tape;
  const Var<double> x = tape.variable(Tensor<double>(Shape{1}, {3.0}));
  tape.backward(x);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1.0}));
}

}  // namespace
}  // namespace recur::ag
