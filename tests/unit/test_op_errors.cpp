// Input validation of the ag:: ops (every bad shape is a recur::Error naming the culprit), the edge
// cases that must work (zero-size linear / matmul, in-place log-softmax, dropout), bit-identical
// results of the threaded row and elementwise kernels on 1 and 2 threads, and the side effects of
// gradcheck_parameters.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "recur/autograd/functions.h"
#include "recur/autograd/gradcheck.h"
#include "recur/nn/parameters.h"
#include "recur/ops/elementwise.h"
#include "recur/ops/loss.h"
#include "recur/ops/softmax.h"
#include "recur/rng.h"
#include "recur/threads.h"
#include "test_util.h"

namespace recur::ag {
namespace {

using ::recur::testing::ThreadCountGuard;

using ::recur::testing::throws_error_with;

// Passes iff a and b hold the same bit patterns (so -0 ≠ +0 and NaNs compare by payload).
template <class T>
::testing::AssertionResult bit_identical(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size())
    return ::testing::AssertionFailure() << "sizes differ: " << a.size() << " vs " << b.size();
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0)
      return ::testing::AssertionFailure()
             << "first difference at index " << i << ": " << a[i] << " vs " << b[i];
  return ::testing::AssertionSuccess();
}

template <class T>
std::vector<T> random_values(index_t n, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Rng rng(seed);
  std::vector<T> v(static_cast<size_t>(n));
  for (T& x : v) x = static_cast<T>(rng.uniform<double>(lo, hi));
  return v;
}

Tensor<float> filled(const Shape& shape, std::uint64_t seed = 1) {
  return Tensor<float>(shape, random_values<float>(shape.numel(), seed));
}

// ---- rejected inputs -----------------------------------------------------------------------------------

TEST(OpError, ElementwiseShapeMismatchNamesBothShapes) {
  Tape<float> tape;
  const Var<float> a = tape.variable(filled({2, 3})), b = tape.variable(filled({3, 2}));
  const index_t size = tape.size();
  EXPECT_TRUE(throws_error_with([&] { (void)add(a, b); }, {"add", "(2, 3)", "(3, 2)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)sub(a, b); }, {"sub", "(2, 3)", "(3, 2)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)mul(a, b); }, {"mul", "(2, 3)", "(3, 2)"}));
  // Same element count, different rank: still a mismatch.
  const Var<float> flat = tape.variable(filled({6}));
  EXPECT_TRUE(throws_error_with([&] { (void)(a + flat); }, {"(2, 3)", "(6,)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)mse(a, b); }, {"mse", "(2, 3)", "(3, 2)"}));
  EXPECT_EQ(tape.size(), size + 1) << "a rejected op must not record a node";
}

TEST(OpError, AddBiasOfWrongLength) {
  Tape<float> tape;
  const Var<float> x = tape.variable(filled({2, 3}));
  EXPECT_TRUE(throws_error_with([&] { (void)add_bias(x, tape.variable(filled({4}))); }, {"(4,)", "(2, 3)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)add_bias(x, tape.variable(filled({1, 3}))); }, {"(1, 3)"}));
}

TEST(OpError, MatmulInnerDimensionMismatch) {
  Tape<float> tape;
  const Var<float> a = tape.variable(filled({2, 3})), b = tape.variable(filled({4, 5}));
  EXPECT_TRUE(throws_error_with([&] { (void)matmul(a, b); }, {"matmul", "(2, 3)", "(4, 5)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)matmul(tape.variable(filled({3})), b); }, {"(3,)"}));
}

TEST(OpError, LinearInputOrBiasMismatch) {
  Tape<float> tape;
  const Var<float> x = tape.variable(filled({2, 3})), W = tape.variable(filled({4, 5}));
  EXPECT_TRUE(throws_error_with([&] { (void)linear(x, W); }, {"linear", "(2, 3)", "(4, 5)"}));
  const Var<float> x5 = tape.variable(filled({2, 5}));
  EXPECT_TRUE(throws_error_with([&] { (void)linear(x5, W, tape.variable(filled({3}))); }, {"(3,)", "(4,)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)linear(x5, W, tape.variable(filled({1, 4}))); }, {"(1, 4)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)linear(x5, tape.variable(filled({5}))); }, {"(5,)"}));
}

TEST(OpError, ConcatMismatchedNonAxisDims) {
  Tape<float> tape;
  const Var<float> a = tape.variable(filled({2, 3})), b = tape.variable(filled({3, 3}));
  EXPECT_TRUE(throws_error_with([&] { (void)concat<float>({a, b}, 1); }, {"(3, 3)", "(2, 3)"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        (void)concat<float>({a, tape.variable(filled({2, 3, 1}))}, 0);
      },
      {"(2, 3, 1)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)concat<float>({a, a}, 2); }, {"axis 2", "(2, 3)"}));
  EXPECT_THROW((void)concat<float>({}, 0), Error);
  // Along axis 0 the differing first dim is fine.
  EXPECT_EQ(concat<float>({a, b}, 0).shape(), Shape({5, 3}));
}

TEST(OpError, SliceOutOfRangeWithoutOverflow) {
  constexpr index_t kMax = std::numeric_limits<index_t>::max();
  Tape<float> tape;
  const Var<float> x = tape.variable(filled({4, 3}));
  EXPECT_TRUE(throws_error_with([&] { (void)slice(x, 0, 3, 2); }, {"(4, 3)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)slice(x, 1, 0, 4); }, {"(4, 3)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)slice(x, 0, -1, 2); }, {"(4, 3)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)slice(x, 0, 1, -1); }, {"(4, 3)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)slice(x, 0, 5, 0); }, {"(4, 3)"}));
  // start + length would overflow int64: must be rejected, not wrap around into range.
  EXPECT_TRUE(throws_error_with([&] { (void)slice(x, 0, kMax, 2); }, {"(4, 3)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)slice(x, 0, 2, kMax); }, {"(4, 3)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)slice(x, 2, 0, 1); }, {"axis 2", "(4, 3)"}));
  // The boundary cases are legal.
  EXPECT_EQ(slice(x, 0, 4, 0).shape(), Shape({0, 3}));
  EXPECT_EQ(slice(x, 1, 1, 2).shape(), Shape({4, 2}));
}

TEST(OpError, SplitSizesNotSummingToTheDim) {
  Tape<float> tape;
  const Var<float> x = tape.variable(filled({2, 5}));
  EXPECT_TRUE(throws_error_with([&] { (void)split(x, 1, {2, 2}); }, {"add up to 4", "(2, 5)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)split(x, 1, {3, 3}); }, {"add up to 6", "(2, 5)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)split(x, 0, {}); }, {"(2, 5)"}));
  // Sizes summing to the dim but with a negative entry: the oversized piece is out of range.
  EXPECT_TRUE(throws_error_with([&] { (void)split(x, 1, {6, -1}); }, {"(2, 5)"}));
  EXPECT_EQ(split(x, 1, {2, 0, 3}).size(), 3u);
}

TEST(OpError, SplitSizesWhoseSumOverflows) {
  // INT64_MAX + INT64_MAX + 7 wraps to 5 = the dim in two's complement. The sum must not overflow
  // (signed overflow is undefined behaviour; UBSan aborts on it) and the split must be rejected.
  constexpr index_t kMax = std::numeric_limits<index_t>::max();
  Tape<float> tape;
  const Var<float> x = tape.variable(filled({2, 5}));
  EXPECT_THROW((void)split(x, 1, {kMax, kMax, 7}), Error);
  EXPECT_THROW((void)split(x, 1, {kMax, 1}), Error);
}

TEST(OpError, EmbeddingIdOutsideTheVocabularyNamesThePosition) {
  Tape<float> tape;
  const Var<float> table = tape.variable(filled({5, 3}));
  const index_t size = tape.size();
  EXPECT_TRUE(throws_error_with(
      [&] {
        (void)embedding(table, {0, 4, 5});
      },
      {"id 5", "position 2", "[0, 5)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)embedding(table, {1, -1, 2}); }, {"id -1", "position 1"}));
  EXPECT_TRUE(throws_error_with([&] { (void)embedding(table, {std::numeric_limits<std::int32_t>::min()}); },
                                {"position 0"}));
  EXPECT_EQ(tape.size(), size);
  EXPECT_TRUE(throws_error_with([&] { (void)embedding(tape.variable(filled({5})), {0}); }, {"(5,)"}));
}

TEST(OpError, CrossEntropyRejectsBadTargetsAndMasks) {
  Tape<float> tape;
  const Var<float> logits = tape.variable(filled({3, 4}));
  EXPECT_TRUE(throws_error_with([&] { (void)cross_entropy(logits, {0, 1}); }, {"2 targets", "3 rows"}));
  EXPECT_TRUE(throws_error_with([&] { (void)cross_entropy(logits, {0, 1, 2, 3}); }, {"4 targets", "3 rows"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        (void)cross_entropy(logits, {0, 1, 2}, {}, {1.0f, 1.0f});
      },
      {"mask has 2 entries", "3 rows"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        (void)cross_entropy(logits, {0, 4, 2});
      },
      {"target 4", "row 1", "[0, 4)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)cross_entropy(logits, {0, 1, -1}); }, {"target -1", "row 2"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        (void)cross_entropy(logits, {0, 1, 2}, {}, {1.0f, -0.5f, 1.0f});
      },
      {"-0.5", "row 1"}));
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(throws_error_with(
      [&] {
        (void)cross_entropy(logits, {0, 1, 2}, {}, {1.0f, 1.0f, nan});
      },
      {"nan", "row 2"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        (void)cross_entropy(logits, {0, 1, 2}, {}, {inf, 1.0f, 1.0f});
      },
      {"row 0"}));
  EXPECT_TRUE(throws_error_with([&] { (void)cross_entropy(tape.variable(filled({4})), {0}); }, {"(4,)"}));
  // The ignore index itself is not out of range.
  EXPECT_NO_THROW((void)cross_entropy(logits, {0, -100, 3}));
}

TEST(OpError, DropoutWithMaskOfWrongShape) {
  Tape<float> tape;
  const Var<float> x = tape.variable(filled({2, 3}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        (void)dropout_with_mask(x, Tensor<float>::full(Shape{3, 2}, 2.0f));
      },
      {"(3, 2)", "(2, 3)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)dropout_with_mask(x, Tensor<float>{}); }, {"(2, 3)"}));
}

TEST(OpError, DropoutProbabilityOutsideZeroOne) {
  Tape<float> tape;
  const Var<float> x = tape.variable(filled({2, 3}));
  Rng rng(5);
  for (float p : {1.0f, -0.1f, 1.5f, std::numeric_limits<float>::quiet_NaN()}) {
    SCOPED_TRACE("p = " + std::to_string(p));
    EXPECT_TRUE(throws_error_with([&] { (void)dropout(x, p, rng, /*training=*/true); }, {"[0, 1)"}));
  }
}

TEST(OpError, ReshapeToADifferentElementCount) {
  Tape<float> tape;
  const Var<float> x = tape.variable(filled({2, 3}));
  EXPECT_TRUE(throws_error_with([&] { (void)reshape(x, Shape{4}); }, {"(2, 3)", "(4,)"}));
  EXPECT_TRUE(throws_error_with([&] { (void)reshape(x, Shape{2, 3, 2}); }, {"(2, 3, 2)"}));
  EXPECT_EQ(reshape(x, Shape{3, 1, 2}).shape(), Shape({3, 1, 2}));
}

TEST(OpError, InvalidShapes) {
  EXPECT_TRUE(throws_error_with([] { (void)Shape{2, -1}; }, {"negative", "(2, -1)"}));
  EXPECT_TRUE(throws_error_with([] { (void)Shape(std::vector<index_t>{-3}); }, {"(-3,)"}));
  constexpr index_t kBig = index_t(1) << 40;
  EXPECT_TRUE(throws_error_with(
      [] {
        (void)Shape{kBig, kBig};
      },
      {"(1099511627776, 1099511627776)", "64 bits"}));
  // 2^62 · 2 = 2^63 is one past INT64_MAX.
  EXPECT_THROW((void)(Shape{index_t(1) << 62, 2}), Error);
  EXPECT_EQ((Shape{index_t(1) << 62, 1}).numel(), index_t(1) << 62);
}

// ---- edge cases that must work ------------------------------------------------------------------------

TEST(OpEdgeCase, LinearWithZeroInputFeaturesIsTheBiasBroadcast) {
  // I = 0: x · Wᵀ is an empty sum (zeros), so y = b on every row, and ∂Σy/∂b = N per entry.
  Tape<double> tape;
  const Var<double> x = tape.variable(Tensor<double>(Shape{3, 0}));
  const Var<double> W = tape.variable(Tensor<double>(Shape{2, 0}));
  const Var<double> b = tape.variable(Tensor<double>(Shape{2}, {0.5, -1.25}));
  const Var<double> y = linear(x, W, b);
  ASSERT_EQ(y.shape(), Shape({3, 2}));
  EXPECT_EQ(y.value().to_vector(), (std::vector<double>{0.5, -1.25, 0.5, -1.25, 0.5, -1.25}));
  tape.backward(sum(y));
  EXPECT_EQ(x.grad().shape(), Shape({3, 0}));
  EXPECT_EQ(W.grad().shape(), Shape({2, 0}));
  ASSERT_EQ(b.grad().shape(), Shape({2}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{3.0, 3.0}));
}

TEST(OpEdgeCase, LinearWithZeroOutputFeaturesIsEmpty) {
  Tape<double> tape;
  const Var<double> x = tape.variable(Tensor<double>(Shape{3, 4}, random_values<double>(12, 3)));
  const Var<double> W = tape.variable(Tensor<double>(Shape{0, 4}));
  const Var<double> b = tape.variable(Tensor<double>(Shape{0}));
  const Var<double> y = linear(x, W, b);
  EXPECT_EQ(y.shape(), Shape({3, 0}));
  EXPECT_EQ(y.value().numel(), 0);
  const Var<double> loss = sum(y);
  EXPECT_EQ(loss.item(), 0.0);
  tape.backward(loss);
  ASSERT_EQ(x.grad().shape(), Shape({3, 4}));
  for (double g : x.grad().to_vector()) EXPECT_EQ(g, 0.0);
  EXPECT_EQ(W.grad().shape(), Shape({0, 4}));
  EXPECT_EQ(b.grad().shape(), Shape({0}));
}

TEST(OpEdgeCase, MatmulWithZeroInnerDimIsZeros) {
  Tape<double> tape;
  const Var<double> a = tape.variable(Tensor<double>(Shape{2, 0}));
  const Var<double> b = tape.variable(Tensor<double>(Shape{0, 3}));
  const Var<double> y = matmul(a, b);
  ASSERT_EQ(y.shape(), Shape({2, 3}));
  for (double v : y.value().to_vector()) EXPECT_EQ(v, 0.0);
  const Var<double> c = tape.constant(Tensor<double>(Shape{2, 3}, random_values<double>(6, 4)));
  tape.backward(sum(y * c));
  EXPECT_EQ(a.grad().shape(), Shape({2, 0}));
  EXPECT_EQ(b.grad().shape(), Shape({0, 3}));
}

template <class T>
class OpEdgeCaseTyped : public ::testing::Test {};
using FloatTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(OpEdgeCaseTyped, FloatTypes);

TYPED_TEST(OpEdgeCaseTyped, LogSoftmaxForwardInPlaceEqualsOutOfPlace) {
  using T = TypeParam;
  // (300, 301) is split over threads when more than one is allowed.
  for (const auto& [N, C] : {std::pair<index_t, index_t>{5, 37}, {1, 1}, {300, 301}}) {
    SCOPED_TRACE("N=" + std::to_string(N) + " C=" + std::to_string(C));
    const std::vector<T> x = random_values<T>(N * C, 11, -20.0, 20.0);
    std::vector<T> out_of_place(x.size());
    ops::log_softmax_forward(x.data(), out_of_place.data(), N, C);
    std::vector<T> in_place = x;
    ops::log_softmax_forward(in_place.data(), in_place.data(), N, C);
    EXPECT_TRUE(bit_identical(in_place, out_of_place));
  }
}

TEST(OpEdgeCase, DropoutIdentityReturnsTheSameVar) {
  Tape<float> tape;
  const Var<float> x = tape.variable(filled({4, 5}));
  Rng rng(3);
  const Rng::State before = rng.state();
  const index_t size = tape.size();
  const Var<float> eval = dropout(x, 0.5f, rng, /*training=*/false);
  const Var<float> p0 = dropout(x, 0.0f, rng, /*training=*/true);
  EXPECT_EQ(eval.id(), x.id());
  EXPECT_EQ(p0.id(), x.id());
  EXPECT_EQ(&eval.tape(), &tape);
  EXPECT_EQ(tape.size(), size) << "the identity records no node";
  EXPECT_EQ(rng.state().state, before.state) << "the identity draws no random numbers";
}

TEST(OpEdgeCase, DropoutTrainingMasksWithZeroOrTwoAndBackpropagatesTheMask) {
  constexpr float kP = 0.5f;  // keep scale 1 / (1 - p) = 2: x · 2 and dy · 2 are exact in float
  const Shape shape{8, 25};
  const std::vector<float> xs = random_values<float>(shape.numel(), 21, 0.125, 1.0);  // never 0
  const std::vector<float> dys = random_values<float>(shape.numel(), 22);

  Tape<float> tape;
  const Var<float> x = tape.variable(Tensor<float>(shape, xs));
  Rng rng(99);
  const Var<float> y = dropout(x, kP, rng, /*training=*/true);
  ASSERT_EQ(y.shape(), shape);
  std::vector<float> mask(xs.size());
  int kept = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const float v = y.value()[static_cast<index_t>(i)];
    ASSERT_TRUE(v == 0.0f || v == 2.0f * xs[i]) << "index " << i << ": y = " << v << ", x = " << xs[i];
    mask[i] = v == 0.0f ? 0.0f : 2.0f;
    kept += v != 0.0f;
  }
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, static_cast<int>(xs.size()));

  tape.backward(sum(y * tape.constant(Tensor<float>(shape, dys))));
  ASSERT_EQ(x.grad().shape(), shape);
  for (size_t i = 0; i < xs.size(); ++i)
    EXPECT_EQ(x.grad()[static_cast<index_t>(i)], mask[i] * dys[i]) << "index " << i;

  // The same seed gives the same mask; the next draw from one generator gives a fresh one.
  Tape<float> again;
  const Var<float> x2 = again.variable(Tensor<float>(shape, xs));
  Rng same(99);
  const Var<float> y2 = dropout(x2, kP, same, /*training=*/true);
  EXPECT_TRUE(bit_identical(y2.value().to_vector(), y.value().to_vector()));
  const Var<float> y3 = dropout(x2, kP, same, /*training=*/true);
  EXPECT_NE(y3.value().to_vector(), y.value().to_vector());
}

// ---- threaded kernels: 1 thread vs 2 threads --------------------------------------------------------

// The row and elementwise kernels split work only when every thread gets at least 2^14 elements
// (kMinElementsPerThread, src/ops/kernel_support.h).
constexpr index_t kMinElementsPerThread = index_t(1) << 14;
constexpr index_t kRows = 300, kCols = 301;  // 90300 elements: 2 threads of 150 rows each

// How many chunks parallel_for_rows makes of N × C with the kernels' threshold (on 2 threads).
int row_chunks_on_two_threads(index_t N, index_t C) {
  ThreadCountGuard two(2);
  std::atomic<int> chunks{0};
  parallel_for_rows(N, C, kMinElementsPerThread, [&](index_t, index_t) { ++chunks; });
  return chunks.load();
}

// Runs f() with 1 thread and with 2 threads and returns both results.
template <class F>
auto on_one_and_two_threads(F&& f) {
  decltype(f()) one, two;
  {
    ThreadCountGuard guard(1);
    one = f();
  }
  {
    ThreadCountGuard guard(2);
    two = f();
  }
  return std::pair{one, two};
}

TEST(OpThreads, RowKernelsAreBitIdenticalOnOneAndTwoThreads) {
  ASSERT_EQ(row_chunks_on_two_threads(kRows, kCols), 2) << "the size must be big enough to be split";
  const index_t n = kRows * kCols;
  const std::vector<float> x = random_values<float>(n, 31, -8.0, 8.0);
  const std::vector<float> dy = random_values<float>(n, 32);
  const std::vector<float> dx0 = random_values<float>(n, 33);  // backward accumulates into this
  std::vector<std::int32_t> targets(static_cast<size_t>(kRows));
  Rng rng(34);
  for (auto& t : targets) t = static_cast<std::int32_t>(rng.below(static_cast<std::uint32_t>(kCols)));
  targets[7] = -100;  // an ignored row
  const std::vector<float> mask = random_values<float>(kRows, 35, 0.0, 2.0);
  const std::vector<float> dloss_rows = random_values<float>(kRows, 36);

  auto [softmax1, softmax2] = on_one_and_two_threads([&] {
    std::vector<float> y(x.size()), dx = dx0;
    ops::softmax_forward(x.data(), y.data(), kRows, kCols);
    ops::softmax_backward(y.data(), dy.data(), dx.data(), kRows, kCols);
    return std::pair{y, dx};
  });
  EXPECT_TRUE(bit_identical(softmax1.first, softmax2.first)) << "softmax_forward";
  EXPECT_TRUE(bit_identical(softmax1.second, softmax2.second)) << "softmax_backward";

  auto [log_softmax1, log_softmax2] = on_one_and_two_threads([&] {
    std::vector<float> y(x.size()), dx = dx0;
    ops::log_softmax_forward(x.data(), y.data(), kRows, kCols);
    ops::log_softmax_backward(y.data(), dy.data(), dx.data(), kRows, kCols);
    return std::pair{y, dx};
  });
  EXPECT_TRUE(bit_identical(log_softmax1.first, log_softmax2.first)) << "log_softmax_forward";
  EXPECT_TRUE(bit_identical(log_softmax1.second, log_softmax2.second)) << "log_softmax_backward";

  for (const ops::Reduction reduction :
       {ops::Reduction::kMean, ops::Reduction::kSum, ops::Reduction::kNone}) {
    SCOPED_TRACE("reduction " + std::to_string(static_cast<int>(reduction)));
    const ops::CrossEntropyOptions options{-100, reduction};
    // {loss, log_probs, per-row losses, dlogits}
    auto [ce1, ce2] = on_one_and_two_threads([&] {
      std::vector<float> log_probs(x.size()), losses(static_cast<size_t>(kRows)), dlogits = dx0;
      const float loss = ops::cross_entropy_forward(x.data(), targets.data(), mask.data(), kRows, kCols,
                                                    options, log_probs.data(), losses.data());
      const float dloss_scalar = 0.75f;
      ops::cross_entropy_backward(log_probs.data(), targets.data(), mask.data(), kRows, kCols, options,
                                  reduction == ops::Reduction::kNone ? dloss_rows.data() : &dloss_scalar,
                                  dlogits.data());
      return std::vector<std::vector<float>>{{loss}, log_probs, losses, dlogits};
    });
    EXPECT_TRUE(bit_identical(ce1[0], ce2[0])) << "cross_entropy_forward loss";
    EXPECT_TRUE(bit_identical(ce1[1], ce2[1])) << "cross_entropy_forward log_probs";
    EXPECT_TRUE(bit_identical(ce1[2], ce2[2])) << "cross_entropy_forward losses";
    EXPECT_TRUE(bit_identical(ce1[3], ce2[3])) << "cross_entropy_backward";
  }
}

TEST(OpThreads, ElementwiseKernelsAreBitIdenticalOnOneAndTwoThreads) {
  // 100000 splits evenly; 100003 and 1001 × 97 give ragged chunks that start off the vector lanes.
  for (const index_t n : {index_t(100000), index_t(100003)}) {
    SCOPED_TRACE("n=" + std::to_string(n));
    ASSERT_EQ(row_chunks_on_two_threads(n, 1), 2);
    const std::vector<float> x = random_values<float>(n, 41, -6.0, 6.0);  // both tanh branches
    auto [tanh1, tanh2] = on_one_and_two_threads([&] {
      std::vector<float> y(x.size());
      ops::tanh_forward(x.data(), y.data(), n);
      return y;
    });
    EXPECT_TRUE(bit_identical(tanh1, tanh2)) << "tanh_forward";
    auto [sigmoid1, sigmoid2] = on_one_and_two_threads([&] {
      std::vector<float> y(x.size());
      ops::sigmoid_forward(x.data(), y.data(), n);
      return y;
    });
    EXPECT_TRUE(bit_identical(sigmoid1, sigmoid2)) << "sigmoid_forward";
  }
  for (const auto& [N, C] : {std::pair<index_t, index_t>{1000, 100}, {1001, 97}}) {
    SCOPED_TRACE("N=" + std::to_string(N) + " C=" + std::to_string(C));
    ASSERT_EQ(row_chunks_on_two_threads(N, C), 2);
    const std::vector<float> x = random_values<float>(N * C, 42), bias = random_values<float>(C, 43);
    const std::vector<float> dx0 = random_values<float>(N * C, 44), dbias0 = random_values<float>(C, 45);
    auto [bias1, bias2] = on_one_and_two_threads([&] {
      std::vector<float> y(x.size()), dx = dx0, dbias = dbias0;
      ops::add_bias_forward(x.data(), bias.data(), y.data(), N, C);
      ops::add_bias_backward(x.data(), dx.data(), dbias.data(), N, C);  // x doubles as dy
      return std::vector<std::vector<float>>{y, dx, dbias};
    });
    EXPECT_TRUE(bit_identical(bias1[0], bias2[0])) << "add_bias_forward";
    EXPECT_TRUE(bit_identical(bias1[1], bias2[1])) << "add_bias_backward dx";
    EXPECT_TRUE(bit_identical(bias1[2], bias2[2])) << "add_bias_backward dbias";
  }
}

// ---- gradcheck_parameters side effects ------------------------------------------------------------------

TEST(OpGradcheck, ParametersRestoredBitwiseAndGradientsZeroed) {
  nn::ParameterTable<double> params;
  const int E = params.add("embedding.weight", {5, 4});
  const int W = params.add("head.weight", {3, 4});
  const int b = params.add("head.bias", {3});
  params.freeze();
  Rng rng(51);
  Tensor<double> values = params.flat_values();
  for (index_t i = 0; i < values.numel(); ++i) values[i] = rng.normal<double>(0.0, 0.7);
  params.flat_grads().fill(7.0);  // must be zeroed, not left as garbage
  const std::vector<double> before = params.flat_values().to_vector();

  const std::vector<std::int32_t> ids = {0, 3, 4, 3}, targets = {2, 0, 1, 1};
  const std::function<Var<double>(Tape<double>&)> loss = [&](Tape<double>& tape) {
    const Var<double> h = tanh(embedding(param(tape, params, E), ids));
    return cross_entropy(linear(h, param(tape, params, W), param(tape, params, b)), targets);
  };
  const GradcheckReport report = gradcheck_parameters(params, loss);
  EXPECT_TRUE(report.ok) << report.message();
  EXPECT_EQ(report.checked, 5 * 4 + 3 * 4 + 3);
  EXPECT_TRUE(bit_identical(params.flat_values().to_vector(), before)) << "values must be restored exactly";
  for (double g : params.flat_grads().to_vector()) EXPECT_EQ(g, 0.0);
}

}  // namespace
}  // namespace recur::ag
