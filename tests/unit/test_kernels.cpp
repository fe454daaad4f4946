// Forward kernels of recur::ops against plain reference loops in double and hand-computed values;
// the accumulate (+=) / null-skip contract of the backward kernels on small hand examples.
// (Gradients themselves are checked numerically in tests/grad/.)
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#include "recur/ops/elementwise.h"
#include "recur/ops/embedding.h"
#include "recur/ops/linear.h"
#include "recur/ops/loss.h"
#include "recur/ops/reduce.h"
#include "recur/ops/shape_ops.h"
#include "recur/ops/softmax.h"
#include "recur/rng.h"
#include "test_util.h"

namespace recur::ops {
namespace {

using ::recur::testing::all_close;
using ::recur::testing::eps_of;

// One IEEE operation (+, -, ·) on exactly representable inputs is correctly rounded: the result is
// within half an ulp of the exact value that the double reference holds; one ulp leaves a margin.
template <class T>
constexpr double kOneRoundingRtol = eps_of<T>();

// The float tanh/sigmoid/exp are polynomial approximations (their ulp bounds are pinned down in
// test_vmath.cpp). Here only the wiring is tested, so allow 8 ulps relative, plus FLT_MIN absolute
// because the float exp flushes results below FLT_MIN to 0 (e.g. sigmoid(-100) = 3.7e-44 -> 0).
// double calls std:: and is held to 4 ulps.
template <class T>
constexpr double kTranscendentalRtol = (std::is_same_v<T, float> ? 8.0 : 4.0) * eps_of<T>();
template <class T>
constexpr double kTranscendentalAtol = std::is_same_v<T, float> ? double(std::numeric_limits<float>::min())
                                                                : 0.0;

// Above 2 · 2^15 elements the elementwise kernels split the work over threads: use a size past it
// (odd, so the chunks are ragged) in addition to a small one.
constexpr index_t kThreadedSize = 70001;

template <class T>
std::vector<T> random_values(index_t n, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Rng rng(seed);
  std::vector<T> v(static_cast<size_t>(n));
  for (T& x : v) x = static_cast<T>(rng.uniform<double>(lo, hi));
  return v;
}

template <class T>
class KernelTest : public ::testing::Test {};
using FloatTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(KernelTest, FloatTypes);

// ---- elementwise forward -------------------------------------------------------------------------

TYPED_TEST(KernelTest, AddSubScaleMul) {
  using T = TypeParam;
  for (const index_t n : {index_t(1), index_t(37), kThreadedSize}) {
    SCOPED_TRACE("n=" + std::to_string(n));
    const std::vector<T> a = random_values<T>(n, 1, -3, 3), b = random_values<T>(n, 2, -3, 3);
    const T c = T(-1.75);
    std::vector<double> add(a.size()), sub(a.size()), scale(a.size()), mul(a.size());
    for (size_t i = 0; i < a.size(); ++i) {
      add[i] = double(a[i]) + double(b[i]);
      sub[i] = double(a[i]) - double(b[i]);
      scale[i] = double(c) * double(a[i]);
      mul[i] = double(a[i]) * double(b[i]);
    }
    const T nan = std::numeric_limits<T>::quiet_NaN();
    std::vector<T> y(a.size(), nan);  // forward overwrites
    add_forward(a.data(), b.data(), y.data(), n);
    EXPECT_TRUE(all_close(y, add, 0.0, kOneRoundingRtol<T>)) << "add";
    std::fill(y.begin(), y.end(), nan);
    sub_forward(a.data(), b.data(), y.data(), n);
    EXPECT_TRUE(all_close(y, sub, 0.0, kOneRoundingRtol<T>)) << "sub";
    std::fill(y.begin(), y.end(), nan);
    scale_forward(a.data(), c, y.data(), n);
    EXPECT_TRUE(all_close(y, scale, 0.0, kOneRoundingRtol<T>)) << "scale";
    std::fill(y.begin(), y.end(), nan);
    mul_forward(a.data(), b.data(), y.data(), n);
    EXPECT_TRUE(all_close(y, mul, 0.0, kOneRoundingRtol<T>)) << "mul";
  }
}

TEST(Kernels, ElementwiseHandValues) {
  const std::vector<double> a = {1.5, -2, 0.25}, b = {0.5, 3, -4};
  std::vector<double> y(3);
  add_forward(a.data(), b.data(), y.data(), 3);
  EXPECT_EQ(y, (std::vector<double>{2, 1, -3.75}));
  sub_forward(a.data(), b.data(), y.data(), 3);
  EXPECT_EQ(y, (std::vector<double>{1, -5, 4.25}));
  scale_forward(a.data(), -2.0, y.data(), 3);
  EXPECT_EQ(y, (std::vector<double>{-3, 4, -0.5}));
  mul_forward(a.data(), b.data(), y.data(), 3);
  EXPECT_EQ(y, (std::vector<double>{0.75, -6, -1}));
}

TYPED_TEST(KernelTest, AddBias) {
  using T = TypeParam;
  const index_t N = 5, C = 7;
  const std::vector<T> x = random_values<T>(N * C, 3), bias = random_values<T>(C, 4);
  std::vector<double> expected(x.size());
  for (index_t r = 0; r < N; ++r)
    for (index_t c = 0; c < C; ++c) expected[r * C + c] = double(x[r * C + c]) + double(bias[c]);
  std::vector<T> y(x.size(), std::numeric_limits<T>::quiet_NaN());
  add_bias_forward(x.data(), bias.data(), y.data(), N, C);
  EXPECT_TRUE(all_close(y, expected, 0.0, kOneRoundingRtol<T>));
  // In place (linear_forward relies on it).
  std::vector<T> z = x;
  add_bias_forward(z.data(), bias.data(), z.data(), N, C);
  EXPECT_TRUE(all_close(z, expected, 0.0, kOneRoundingRtol<T>));
}

// Inputs for the activations: a dense grid over [-20, 20] plus the edges: 0, tiny, the float tanh's
// switch point between its two formulas (0.625), and where exp under/overflows.
template <class T>
std::vector<T> activation_inputs() {
  std::vector<T> x;
  for (int i = -2000; i <= 2000; ++i) x.push_back(static_cast<T>(i * 0.01));
  for (double v : {0.0, 1e-7, 1e-30, 0.625, 0.62499, 0.62501, 9.0, 30.0, 87.0, 88.0, 89.0, 100.0, 1000.0}) {
    x.push_back(static_cast<T>(v));
    x.push_back(static_cast<T>(-v));
  }
  return x;
}

TYPED_TEST(KernelTest, TanhSigmoidReluMatchStd) {
  using T = TypeParam;
  std::vector<T> x = activation_inputs<T>();
  // Also a large random batch, to go through the threaded split.
  const std::vector<T> big = random_values<T>(kThreadedSize, 5, -12, 12);
  x.insert(x.end(), big.begin(), big.end());
  const index_t n = static_cast<index_t>(x.size());
  std::vector<double> th(x.size()), sg(x.size()), rl(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    th[i] = std::tanh(v);
    sg[i] = 1.0 / (1.0 + std::exp(-v));
    rl[i] = v > 0 ? v : 0.0;
  }
  std::vector<T> y(x.size(), std::numeric_limits<T>::quiet_NaN());
  tanh_forward(x.data(), y.data(), n);
  EXPECT_TRUE(all_close(y, th, kTranscendentalAtol<T>, kTranscendentalRtol<T>)) << "tanh";
  std::fill(y.begin(), y.end(), std::numeric_limits<T>::quiet_NaN());
  sigmoid_forward(x.data(), y.data(), n);
  EXPECT_TRUE(all_close(y, sg, kTranscendentalAtol<T>, kTranscendentalRtol<T>)) << "sigmoid";
  std::fill(y.begin(), y.end(), std::numeric_limits<T>::quiet_NaN());
  relu_forward(x.data(), y.data(), n);
  EXPECT_TRUE(all_close(y, rl, 0.0, 0.0)) << "relu";  // exact: a copy or a zero
}

TEST(Kernels, ActivationHandValues) {
  constexpr double kTol = 1e-15;  // double std::tanh / exp: within a few ulps of these 16-digit values
  const std::vector<double> x = {0.0, 1.0, -2.0};
  std::vector<double> y(3);
  tanh_forward(x.data(), y.data(), 3);
  EXPECT_EQ(y[0], 0.0);
  EXPECT_NEAR(y[1], 0.7615941559557649, kTol);  // tanh(1)
  EXPECT_NEAR(y[2], -0.9640275800758169, kTol);
  sigmoid_forward(x.data(), y.data(), 3);
  EXPECT_EQ(y[0], 0.5);
  EXPECT_NEAR(y[1], 0.7310585786300049, kTol);  // 1 / (1 + e^-1)
  EXPECT_NEAR(y[2], 0.11920292202211755, kTol);
  relu_forward(x.data(), y.data(), 3);
  EXPECT_EQ(y, (std::vector<double>{0, 1, 0}));
}

// ---- backward: accumulate into the gradient, skip a null one ---------------------------------------
// Values are chosen so every product and sum is exact in binary.

TEST(Kernels, BackwardAccumulates) {
  {  // accumulate: dx += s · dy
    const std::vector<double> dy = {10, 20, 30};
    std::vector<double> dx = {1, 2, 3};
    accumulate(dy.data(), -0.5, dx.data(), 3);
    EXPECT_EQ(dx, (std::vector<double>{-4, -8, -12}));
    accumulate<double>(dy.data(), 1.0, nullptr, 3);  // null: nothing to do, no crash
  }
  {  // mul: da += dy ⊙ b, db += dy ⊙ a
    const std::vector<double> a = {1, 2}, b = {3, 4}, dy = {5, 6};
    std::vector<double> da = {1, 1}, db = {0.5, 0.5};
    mul_backward(a.data(), b.data(), dy.data(), da.data(), db.data(), 2);
    EXPECT_EQ(da, (std::vector<double>{16, 25}));
    EXPECT_EQ(db, (std::vector<double>{5.5, 12.5}));
    mul_backward<double>(a.data(), b.data(), dy.data(), nullptr, db.data(), 2);
    EXPECT_EQ(db, (std::vector<double>{10.5, 24.5}));
    mul_backward<double>(a.data(), b.data(), dy.data(), da.data(), nullptr, 2);
    EXPECT_EQ(da, (std::vector<double>{31, 49}));
  }
  {                                                     // add_bias: dx += dy, dbias += column sums
    const std::vector<double> dy = {1, 2, 3, 4, 5, 6};  // (2, 3)
    std::vector<double> dx(6, 1.0), dbias(3, 10.0);
    add_bias_backward(dy.data(), dx.data(), dbias.data(), 2, 3);
    EXPECT_EQ(dx, (std::vector<double>{2, 3, 4, 5, 6, 7}));
    EXPECT_EQ(dbias, (std::vector<double>{15, 17, 19}));
    add_bias_backward<double>(dy.data(), nullptr, dbias.data(), 2, 3);
    EXPECT_EQ(dbias, (std::vector<double>{20, 24, 28}));
    add_bias_backward<double>(dy.data(), dx.data(), nullptr, 2, 3);
    EXPECT_EQ(dx, (std::vector<double>{3, 5, 7, 9, 11, 13}));
  }
  {  // tanh: dx += dy (1 - y²)
    const std::vector<double> y = {0.5, -0.25}, dy = {2, 4};
    std::vector<double> dx = {1, 1};
    tanh_backward(y.data(), dy.data(), dx.data(), 2);
    EXPECT_EQ(dx, (std::vector<double>{2.5, 4.75}));
    tanh_backward<double>(y.data(), dy.data(), nullptr, 2);
  }
  {  // sigmoid: dx += dy y (1 - y)
    const std::vector<double> y = {0.5, 0.25}, dy = {4, 8};
    std::vector<double> dx = {1, -1};
    sigmoid_backward(y.data(), dy.data(), dx.data(), 2);
    EXPECT_EQ(dx, (std::vector<double>{2, 0.5}));
    sigmoid_backward<double>(y.data(), dy.data(), nullptr, 2);
  }
  {  // relu: dx += dy [y > 0]; the subgradient at 0 is 0
    const std::vector<double> y = {0, 2, 0.5, 0}, dy = {1, 2, 3, 4};
    std::vector<double> dx(4, 10.0);
    relu_backward(y.data(), dy.data(), dx.data(), 4);
    EXPECT_EQ(dx, (std::vector<double>{10, 12, 13, 10}));
    relu_backward<double>(y.data(), dy.data(), nullptr, 4);
  }
  {  // dropout: y = x ⊙ mask; dx += dy ⊙ mask
    const std::vector<double> mask = {0, 2, 2}, x = {1, 2, 3}, dy = {1, 1, 0.5};
    std::vector<double> y(3), dx = {1, 1, 1};
    dropout_forward(x.data(), mask.data(), y.data(), 3);
    EXPECT_EQ(y, (std::vector<double>{0, 4, 6}));
    dropout_backward(mask.data(), dy.data(), dx.data(), 3);
    EXPECT_EQ(dx, (std::vector<double>{1, 3, 2}));
    dropout_backward<double>(mask.data(), dy.data(), nullptr, 3);
  }
  {  // sum / mean
    std::vector<double> dx = {1, 2, 3, 4};
    sum_backward(0.5, dx.data(), 4);
    EXPECT_EQ(dx, (std::vector<double>{1.5, 2.5, 3.5, 4.5}));
    mean_backward(2.0, dx.data(), 4);
    EXPECT_EQ(dx, (std::vector<double>{2, 3, 4, 5}));
    sum_backward<double>(1.0, nullptr, 4);
  }
  {  // softmax: dx += y ⊙ (dy - Σ dy ⊙ y);  y = (1/4, 3/4), dy = (1, 2): Σ = 7/4
    const std::vector<double> y = {0.25, 0.75}, dy = {1, 2};
    std::vector<double> dx = {1, 1};
    softmax_backward(y.data(), dy.data(), dx.data(), 1, 2);
    EXPECT_EQ(dx, (std::vector<double>{0.8125, 1.1875}));
    softmax_backward<double>(y.data(), dy.data(), nullptr, 1, 2);
  }
  {  // log_softmax: dx += dy - exp(y) Σ dy;  exp(y) = (1/4, 3/4), Σ dy = 3
    const std::vector<double> y = {std::log(0.25), std::log(0.75)}, dy = {1, 2};
    std::vector<double> dx = {1, 1};
    log_softmax_backward(y.data(), dy.data(), dx.data(), 1, 2);
    constexpr double kTol = 1e-15;  // exp(log(p)) round trip: a couple of double ulps
    EXPECT_NEAR(dx[0], 1.25, kTol);
    EXPECT_NEAR(dx[1], 0.75, kTol);
    log_softmax_backward<double>(y.data(), dy.data(), nullptr, 1, 2);
  }
  {  // mse: dpred += 2 g (pred - target), dtarget -= the same
    const std::vector<double> pred = {1, 2}, target = {0.5, 3};
    const double dsum = 1.0;
    std::vector<double> dpred = {1, 1}, dtarget = {0, 0};
    mse_backward(pred.data(), target.data(), 2, Reduction::kSum, &dsum, dpred.data(), dtarget.data());
    EXPECT_EQ(dpred, (std::vector<double>{2, -1}));
    EXPECT_EQ(dtarget, (std::vector<double>{-1, 2}));
    mse_backward<double>(pred.data(), target.data(), 2, Reduction::kMean, &dsum, dpred.data(),
                         nullptr);  // g = 1/2
    EXPECT_EQ(dpred, (std::vector<double>{2.5, -2}));
  }
  {  // cross-entropy: logits (0, 0), target 0 -> softmax (1/2, 1/2), dlogits += (-1/2, 1/2)
    const std::vector<double> logits = {0, 0};
    const std::int32_t target = 0;
    std::vector<double> log_probs(2);
    cross_entropy_forward<double>(logits.data(), &target, nullptr, 1, 2, {}, log_probs.data(), nullptr);
    const double dloss = 1.0;
    std::vector<double> dlogits = {1, 1};
    cross_entropy_backward<double>(log_probs.data(), &target, nullptr, 1, 2, {}, &dloss, dlogits.data());
    constexpr double kTol = 1e-15;  // exp(log(1/2)) round trip
    EXPECT_NEAR(dlogits[0], 0.5, kTol);
    EXPECT_NEAR(dlogits[1], 1.5, kTol);
    cross_entropy_backward<double>(log_probs.data(), &target, nullptr, 1, 2, {}, &dloss, nullptr);
  }
}

// ---- linear -----------------------------------------------------------------------------------------

// Per element, y is a length-I dot product plus the bias: the same rounding model as kGemmSlack in
// test_gemm.cpp (worst case measured ~0.5 · I·eps for U(-1,1) data), so 2 · (I + 1)·eps·max|x|·max|W|
// (all |values| <= 1 here) keeps a 4x margin; a wrong index is an O(0.1) error.
constexpr double kLinearSlack = 2.0;

TYPED_TEST(KernelTest, LinearForwardMatchesLoops) {
  using T = TypeParam;
  struct Dims {
    index_t N, I, O;
  };
  std::uint64_t seed = 100;
  for (const Dims d : {Dims{1, 1, 1}, Dims{5, 7, 3}, Dims{33, 17, 9}, Dims{1, 64, 40}, Dims{40, 64, 1}}) {
    for (const bool with_bias : {false, true}) {
      SCOPED_TRACE("N=" + std::to_string(d.N) + " I=" + std::to_string(d.I) + " O=" + std::to_string(d.O) +
                   (with_bias ? " bias" : " no bias"));
      const std::vector<T> x = random_values<T>(d.N * d.I, seed++), W = random_values<T>(d.O * d.I, seed++);
      const std::vector<T> b = random_values<T>(d.O, seed++);
      std::vector<double> expected(static_cast<size_t>(d.N * d.O));
      for (index_t n = 0; n < d.N; ++n) {
        for (index_t o = 0; o < d.O; ++o) {
          double acc = with_bias ? double(b[o]) : 0.0;
          for (index_t i = 0; i < d.I; ++i) acc += double(x[n * d.I + i]) * double(W[o * d.I + i]);
          expected[n * d.O + o] = acc;
        }
      }
      std::vector<T> y(expected.size(), std::numeric_limits<T>::quiet_NaN());
      linear_forward(x.data(), W.data(), with_bias ? b.data() : nullptr, y.data(), d.N, d.I, d.O);
      const double atol = kLinearSlack * double(d.I + 1) * eps_of<T>();  // |x|, |W|, |b| <= 1
      EXPECT_TRUE(all_close(y, expected, atol, 4 * eps_of<T>()));
    }
  }
}

TEST(Kernels, LinearHandValues) {
  // x = [1 2], W = [1 0; 0 1; 1 1] (O = 3), b = (0.5, -1, 2)  ->  y = (1.5, 1, 5)
  const std::vector<double> x = {1, 2}, W = {1, 0, 0, 1, 1, 1}, b = {0.5, -1, 2};
  std::vector<double> y(3);
  linear_forward(x.data(), W.data(), b.data(), y.data(), 1, 2, 3);
  EXPECT_EQ(y, (std::vector<double>{1.5, 1, 5}));
  linear_forward<double>(x.data(), W.data(), nullptr, y.data(), 1, 2, 3);
  EXPECT_EQ(y, (std::vector<double>{1, 2, 3}));
}

// ---- concat / slice -----------------------------------------------------------------------------------

TEST(Kernels, ConcatThreeInputs) {
  const index_t outer = 3;
  const std::array<index_t, 3> widths = {2, 3, 1};
  std::vector<std::vector<double>> xs(3);
  for (size_t k = 0; k < 3; ++k)
    for (index_t i = 0; i < outer * widths[k]; ++i) xs[k].push_back(100.0 * double(k + 1) + double(i));
  const std::array<const double*, 3> ptrs = {xs[0].data(), xs[1].data(), xs[2].data()};
  std::vector<double> y(static_cast<size_t>(outer * 6), -1);
  concat_forward<double>(ptrs, widths, outer, y.data());
  const std::vector<double> expected = {100, 101, 200, 201, 202, 300,   // row 0
                                        102, 103, 203, 204, 205, 301,   // row 1
                                        104, 105, 206, 207, 208, 302};  // row 2
  EXPECT_EQ(y, expected);

  // Backward: dx_k += its columns of dy; null dx_k skipped.
  std::vector<double> dy(18);
  std::iota(dy.begin(), dy.end(), 0.0);
  std::vector<double> d0(6, 1.0), d2(3, 0.5);
  const std::array<double*, 3> dptrs = {d0.data(), nullptr, d2.data()};
  concat_backward<double>(dy.data(), dptrs, widths, outer);
  EXPECT_EQ(d0, (std::vector<double>{1, 2, 7, 8, 13, 14}));
  EXPECT_EQ(d2, (std::vector<double>{5.5, 11.5, 17.5}));

  const std::array<index_t, 2> two_widths = {2, 3};
  EXPECT_THROW(concat_forward<double>(ptrs, two_widths, outer, y.data()), Error);
}

TEST(Kernels, Slice) {
  // x (3, 6) = 0..17; columns [2, 5)
  std::vector<double> x(18);
  std::iota(x.begin(), x.end(), 0.0);
  std::vector<double> y(9, -1);
  slice_forward(x.data(), 3, 6, 2, 3, y.data());
  EXPECT_EQ(y, (std::vector<double>{2, 3, 4, 8, 9, 10, 14, 15, 16}));
  // Backward adds dy into those columns only.
  std::vector<double> dx(18, 1.0);
  const std::vector<double> dy(9, 2.0);
  slice_backward(dy.data(), 3, 6, 2, 3, dx.data());
  EXPECT_EQ(dx, (std::vector<double>{1, 1, 3, 3, 3, 1, 1, 1, 3, 3, 3, 1, 1, 1, 3, 3, 3, 1}));
  slice_backward<double>(dy.data(), 3, 6, 2, 3, nullptr);

  EXPECT_THROW(slice_forward(x.data(), 3, 6, 4, 3, y.data()), Error);   // past the end
  EXPECT_THROW(slice_forward(x.data(), 3, 6, -1, 2, y.data()), Error);  // negative offset
}

// ---- embedding ------------------------------------------------------------------------------------------

TEST(Kernels, EmbeddingForward) {
  const index_t V = 5, E = 3;
  std::vector<float> table(V * E);
  std::iota(table.begin(), table.end(), 0.0f);
  const std::vector<std::int32_t> ids = {4, 0, 4, 2};
  std::vector<float> y(ids.size() * E, -1.0f);
  embedding_forward(table.data(), ids.data(), y.data(), 4, V, E);
  EXPECT_EQ(y, (std::vector<float>{12, 13, 14, 0, 1, 2, 12, 13, 14, 6, 7, 8}));
}

TEST(Kernels, EmbeddingOutOfRangeIdNamesThePosition) {
  const index_t V = 5, E = 2;
  const std::vector<double> table(V * E, 1.0);
  std::vector<double> y(6 * E);
  for (const std::int32_t bad : {5, -1, 1000}) {
    const std::vector<std::int32_t> ids = {0, 4, 1, bad, 2, 3};
    try {
      embedding_forward(table.data(), ids.data(), y.data(), 6, V, E);
      ADD_FAILURE() << "id " << bad << " did not throw";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("position 3"), std::string::npos) << msg;
      EXPECT_NE(msg.find(std::to_string(bad)), std::string::npos) << msg;
    }
  }
}

TEST(Kernels, EmbeddingBackwardDenseMatchesSparse) {
  const index_t V = 10, E = 4;
  const std::vector<std::int32_t> ids = {3, 1, 3, 7, 1, 3, 9};
  const index_t N = static_cast<index_t>(ids.size());
  const std::vector<double> dy = random_values<double>(N * E, 7);

  std::vector<double> dense(V * E, 0.0);
  embedding_backward(ids.data(), dy.data(), dense.data(), N, E);
  // Reference: accumulate by hand.
  std::vector<double> expected(V * E, 0.0);
  for (index_t n = 0; n < N; ++n)
    for (index_t e = 0; e < E; ++e) expected[ids[n] * E + e] += dy[n * E + e];
  constexpr double kSumTol = 1e-15;  // at most three additions of values in [-1, 1]
  EXPECT_TRUE(all_close(dense, expected, kSumTol, 0.0));

  // Dense accumulates into an existing gradient.
  std::vector<double> again = dense;
  embedding_backward(ids.data(), dy.data(), again.data(), N, E);
  for (auto& v : dense) v *= 2;
  EXPECT_TRUE(all_close(again, dense, kSumTol, 0.0));
  for (auto& v : dense) v /= 2;
  embedding_backward<double>(ids.data(), dy.data(), nullptr, N, E);  // null: skipped

  const SparseRowGrad<double> sparse = embedding_backward_sparse(ids.data(), dy.data(), N, E);
  EXPECT_EQ(sparse.width, E);
  EXPECT_EQ(sparse.rows, (std::vector<std::int32_t>{1, 3, 7, 9}));  // ascending, unique
  ASSERT_EQ(sparse.values.size(), sparse.rows.size() * static_cast<size_t>(E));
  std::vector<double> scattered(V * E, 0.0);
  for (size_t r = 0; r < sparse.rows.size(); ++r)
    for (index_t e = 0; e < E; ++e) scattered[sparse.rows[r] * E + e] = sparse.values[r * E + e];
  EXPECT_TRUE(all_close(scattered, dense, kSumTol, 0.0));

  // Column sums of both equal the column sums of dy.
  for (index_t e = 0; e < E; ++e) {
    double dy_sum = 0, sparse_sum = 0;
    for (index_t n = 0; n < N; ++n) dy_sum += dy[n * E + e];
    for (size_t r = 0; r < sparse.rows.size(); ++r) sparse_sum += sparse.values[r * E + e];
    EXPECT_NEAR(sparse_sum, dy_sum, 8 * kSumTol) << "column " << e;
  }
}

// ---- softmax / log-softmax ------------------------------------------------------------------------------

// Reference in double, max-subtracted (exp(1001) overflows even in double).
std::vector<double> softmax_reference(const std::vector<double>& x, index_t N, index_t C, bool log) {
  std::vector<double> y(x.size());
  for (index_t n = 0; n < N; ++n) {
    const double* xr = x.data() + n * C;
    const double m = *std::max_element(xr, xr + C);
    double s = 0;
    for (index_t c = 0; c < C; ++c) s += std::exp(xr[c] - m);
    for (index_t c = 0; c < C; ++c) y[n * C + c] = log ? (xr[c] - m) - std::log(s) : std::exp(xr[c] - m) / s;
  }
  return y;
}

// Softmax: each output is one exp (a few ulps in float), one division and a sum of C terms
// (relative C·eps at worst): rtol = (8 + C)·eps. Row sums: C roundings of terms ≤ 1.
// Log-softmax: a correct float implementation ((x - m) - log Σ) has absolute error of a few ulps of
// |y| plus the sum's C·eps; the tolerance is therefore atol = (8 + C)·eps, rtol = 8·eps, independent of
// how large the logits themselves are.
template <class T>
constexpr double kLogSoftmaxRtol = 8 * eps_of<T>();
template <class T>
double softmax_rtol(index_t C) {
  return (8.0 + double(C)) * eps_of<T>();
}

template <class T>
std::vector<double> as_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// The row maximum must be found wherever it sits (vector lanes or the tail): a missed maximum of
// 1000 among -1000s would overflow exp and give NaN instead of a one-hot row.
TYPED_TEST(KernelTest, SoftmaxFindsTheMaximumInLanesAndTail) {
  using T = TypeParam;
  constexpr index_t C = 19;  // two full groups of 8 and a tail of 3
  for (index_t hot : {index_t(0), index_t(3), index_t(12), index_t(17), index_t(18)}) {
    std::vector<T> x(C, T(-1000)), y(C), log_y(C);
    x[hot] = T(1000);
    softmax_forward(x.data(), y.data(), 1, C);
    log_softmax_forward(x.data(), log_y.data(), 1, C);
    for (index_t c = 0; c < C; ++c) {
      EXPECT_EQ(y[c], c == hot ? T(1) : T(0)) << "hot " << hot << " c " << c;
      EXPECT_EQ(log_y[c], c == hot ? T(0) : T(-2000)) << "hot " << hot << " c " << c;
    }
  }
}

TYPED_TEST(KernelTest, SoftmaxRowsSumToOneAndMatchReference) {
  using T = TypeParam;
  const index_t N = 6, C = 11;
  std::vector<T> x = random_values<T>(N * C, 11, -5, 5);
  // Row 4: large logits around 1000 (naive exp overflows); row 5: very negative ones.
  for (index_t c = 0; c < C; ++c) x[4 * C + c] = static_cast<T>(1000 + c % 3);
  for (index_t c = 0; c < C; ++c) x[5 * C + c] = static_cast<T>(-1000 - 2 * c);
  const std::vector<double> expected = softmax_reference(as_double(x), N, C, false);
  std::vector<T> y(x.size(), std::numeric_limits<T>::quiet_NaN());
  softmax_forward(x.data(), y.data(), N, C);
  EXPECT_TRUE(all_close(y, expected, kTranscendentalAtol<T>, softmax_rtol<T>(C)));
  for (index_t n = 0; n < N; ++n) {
    double s = 0;
    for (index_t c = 0; c < C; ++c) s += y[n * C + c];
    EXPECT_NEAR(s, 1.0, softmax_rtol<T>(C)) << "row " << n;
  }
}

TYPED_TEST(KernelTest, SoftmaxLargeLogitsHandValues) {
  using T = TypeParam;
  // softmax(1000, 1001) = (1, e) / (1 + e) = (0.2689414213699951, 0.7310585786300049)
  const std::vector<T> x = {T(1000), T(1001), T(-1000), T(-1001)};
  std::vector<T> y(4);
  softmax_forward(x.data(), y.data(), 2, 2);
  const std::vector<double> expected = {0.2689414213699951, 0.7310585786300049, 0.7310585786300049,
                                        0.2689414213699951};
  EXPECT_TRUE(all_close(y, expected, 0.0, softmax_rtol<T>(2)));
}

TYPED_TEST(KernelTest, LogSoftmaxLargeLogitsHandValues) {
  using T = TypeParam;
  // log_softmax(1000, 1001) = (-1 - log(1 + e^-1), -log(1 + e^-1)) = (-1.3132616875182228,
  // -0.3132616875182228)
  const std::vector<T> x = {T(1000), T(1001), T(-1000), T(-1001)};
  std::vector<T> y(4);
  log_softmax_forward(x.data(), y.data(), 2, 2);
  const std::vector<double> expected_log = {-1.3132616875182228, -0.3132616875182228, -0.3132616875182228,
                                            -1.3132616875182228};
  EXPECT_TRUE(all_close(y, expected_log, softmax_rtol<T>(2), kLogSoftmaxRtol<T>));
}

// Rows of random logits in [-8, 8] and, optionally, the same rows shifted by +1000 / -500.
template <class T>
std::vector<T> log_softmax_inputs(index_t N, index_t C, double shift) {
  std::vector<T> x = random_values<T>(N * C, 12, -8, 8);
  for (T& v : x) v = static_cast<T>(double(v) + shift);
  return x;
}

template <class T>
void check_log_softmax(const std::vector<T>& x, index_t N, index_t C) {
  std::vector<T> ls(x.size(), std::numeric_limits<T>::quiet_NaN()), sm(x.size());
  log_softmax_forward(x.data(), ls.data(), N, C);
  softmax_forward(x.data(), sm.data(), N, C);
  // Against the double reference.
  EXPECT_TRUE(
      all_close(ls, softmax_reference(as_double(x), N, C, true), softmax_rtol<T>(C), kLogSoftmaxRtol<T>))
      << "vs reference";
  // And against log(softmax) of recur's own softmax (|x - max| <= 16, so no probability underflows).
  std::vector<double> log_sm(x.size());
  for (size_t i = 0; i < x.size(); ++i) log_sm[i] = std::log(double(sm[i]));
  EXPECT_TRUE(all_close(ls, log_sm, 2 * softmax_rtol<T>(C), kLogSoftmaxRtol<T>)) << "vs log(softmax)";
}

TYPED_TEST(KernelTest, LogSoftmaxIsLogOfSoftmax) {
  using T = TypeParam;
  const index_t N = 4, C = 9;
  check_log_softmax(log_softmax_inputs<T>(N, C, 0.0), N, C);
}

// Log-softmax is shift-invariant, and its error should scale with |y|, not with the logits' size.
TYPED_TEST(KernelTest, LogSoftmaxIsLogOfSoftmaxForLargeLogits) {
  using T = TypeParam;
  const index_t N = 4, C = 9;
  for (const double shift : {1000.0, -500.0}) {
    SCOPED_TRACE("logits shifted by " + std::to_string(shift));
    check_log_softmax(log_softmax_inputs<T>(N, C, shift), N, C);
  }
}

// ---- cross-entropy ---------------------------------------------------------------------------------------

// log(1 + e^-1 + e^-2): the loss of logits (1, 2, 3) against class 2 (and of (1, 0, -1) against class 0).
constexpr double kLse012 = 0.4076059644443804;
// Hand-computed values are exact up to the double rounding of the formula.
constexpr double kHandTol = 1e-12;
// float losses: log-softmax rounding of logits of size ≤ 3 plus a division.
constexpr double kFloatLossTol = 1e-6;

TYPED_TEST(KernelTest, CrossEntropyHandComputed2x3) {
  using T = TypeParam;
  const double tol = std::is_same_v<T, float> ? kFloatLossTol : kHandTol;
  // Row 0: logits (1, 2, 3), target 2 -> loss = lse - 3 = kLse012.
  // Row 1: logits (1, 0, -1), target 1 -> lse = 1 + kLse012, loss = 1 + kLse012.
  const std::vector<T> logits = {1, 2, 3, 1, 0, -1};
  const std::vector<std::int32_t> targets = {2, 1};
  std::vector<T> log_probs(6, std::numeric_limits<T>::quiet_NaN()),
      losses(2, std::numeric_limits<T>::quiet_NaN());
  const T mean = cross_entropy_forward<T>(logits.data(), targets.data(), nullptr, 2, 3, {}, log_probs.data(),
                                          losses.data());
  EXPECT_NEAR(mean, (kLse012 + 1 + kLse012) / 2, tol);  // 0.9076059644443804
  EXPECT_NEAR(losses[0], kLse012, tol);
  EXPECT_NEAR(losses[1], 1 + kLse012, tol);
  // log_probs is the log-softmax of the logits.
  const std::vector<double> lp = {-2 - kLse012, -1 - kLse012, -kLse012, -kLse012, -1 - kLse012, -2 - kLse012};
  EXPECT_TRUE(all_close(log_probs, lp, tol, 0.0));

  CrossEntropyOptions sum_opts;
  sum_opts.reduction = Reduction::kSum;
  EXPECT_NEAR(cross_entropy_forward<T>(logits.data(), targets.data(), nullptr, 2, 3, sum_opts,
                                       log_probs.data(), nullptr),
              1 + 2 * kLse012, tol);
  CrossEntropyOptions none_opts;
  none_opts.reduction = Reduction::kNone;
  std::fill(losses.begin(), losses.end(), T(-1));
  const T total = cross_entropy_forward<T>(logits.data(), targets.data(), nullptr, 2, 3, none_opts,
                                           log_probs.data(), losses.data());
  EXPECT_NEAR(losses[0], kLse012, tol);
  EXPECT_NEAR(losses[1], 1 + kLse012, tol);
  EXPECT_NEAR(total, 1 + 2 * kLse012, tol);  // kNone returns Σ (loss.h)
}

// Cross-entropy is invariant under adding a constant to a row's logits; in float the loss of the
// shifted logits must stay within the same few-ulp tolerance of the double value.
TYPED_TEST(KernelTest, CrossEntropyShiftInvariantForLargeLogits) {
  using T = TypeParam;
  const double tol = std::is_same_v<T, float> ? kFloatLossTol : kHandTol;
  const std::vector<std::int32_t> targets = {2, 1};
  for (const double shift : {0.0, 100.0, 1000.0}) {
    SCOPED_TRACE("logits shifted by " + std::to_string(shift));
    const std::vector<T> logits = {T(1 + shift), T(2 + shift), T(3 + shift),
                                   T(1 + shift), T(0 + shift), T(-1 + shift)};
    std::vector<T> log_probs(6), losses(2);
    const T mean = cross_entropy_forward<T>(logits.data(), targets.data(), nullptr, 2, 3, {},
                                            log_probs.data(), losses.data());
    EXPECT_NEAR(losses[0], kLse012, tol);
    EXPECT_NEAR(losses[1], 1 + kLse012, tol);
    EXPECT_NEAR(mean, (kLse012 + 1 + kLse012) / 2, tol);
  }
}

TEST(Kernels, CrossEntropyIgnoreIndexAndMask) {
  // Three rows; row 1 is ignored. The mean divides by the 2 counted rows, not 3.
  const std::vector<double> logits = {1, 2, 3, 5, -5, 0, 1, 0, -1};
  std::vector<double> log_probs(9), losses(3, -1.0);
  std::vector<std::int32_t> targets = {2, -100, 1};
  const double mean = cross_entropy_forward<double>(logits.data(), targets.data(), nullptr, 3, 3, {},
                                                    log_probs.data(), losses.data());
  EXPECT_NEAR(mean, (kLse012 + 1 + kLse012) / 2, kHandTol);
  EXPECT_EQ(losses[1], 0.0);

  // A custom ignore index (class 1 here), which then may appear as a target value.
  CrossEntropyOptions opts;
  opts.ignore_index = 1;
  targets = {2, 0, 1};
  // Row 1: logits (5, -5, 0) against class 0: log(1 + e^-10 + e^-5).
  const double l1 = std::log(1 + std::exp(-10.0) + std::exp(-5.0));
  EXPECT_NEAR(cross_entropy_forward<double>(logits.data(), targets.data(), nullptr, 3, 3, opts,
                                            log_probs.data(), nullptr),
              (kLse012 + l1) / 2, kHandTol);

  // Mask weights: loss_n = w_n · ce_n; the mean divides by Σ w over counted rows.
  targets = {2, -100, 1};
  const std::vector<double> mask = {2.0, 100.0, 0.5};  // row 1's weight is ignored with it
  const double weighted = cross_entropy_forward<double>(logits.data(), targets.data(), mask.data(), 3, 3, {},
                                                        log_probs.data(), losses.data());
  EXPECT_NEAR(weighted, (2.0 * kLse012 + 0.5 * (1 + kLse012)) / 2.5, kHandTol);
  EXPECT_NEAR(losses[0], 2.0 * kLse012, kHandTol);
  EXPECT_NEAR(losses[2], 0.5 * (1 + kLse012), kHandTol);
  CrossEntropyOptions sum_opts;
  sum_opts.reduction = Reduction::kSum;
  EXPECT_NEAR(cross_entropy_forward<double>(logits.data(), targets.data(), mask.data(), 3, 3, sum_opts,
                                            log_probs.data(), nullptr),
              2.0 * kLse012 + 0.5 * (1 + kLse012), kHandTol);
}

// Label smoothing ε: the target is (1 - ε)·onehot + ε/C. Logits (0, 1, 2) against class 2 with
// ε = 0.3: lse - 0.7·2 - 0.1·(0 + 1 + 2), lse = 2 + kLse012; with ε = 1, lse - the mean logit. The
// gradient is softmax - the smoothed target.
TEST(Kernels, CrossEntropyLabelSmoothing) {
  const std::vector<double> logits = {0, 1, 2};
  const std::int32_t target = 2;
  std::vector<double> log_probs(3), dlogits(3, 0.0);
  CrossEntropyOptions opts;
  opts.label_smoothing = 0.3;
  EXPECT_NEAR(
      cross_entropy_forward<double>(logits.data(), &target, nullptr, 1, 3, opts, log_probs.data(), nullptr),
      0.3 + kLse012, kHandTol);
  const double dloss = 1.0;
  cross_entropy_backward<double>(log_probs.data(), &target, nullptr, 1, 3, opts, &dloss, dlogits.data());
  for (int c = 0; c < 3; ++c)
    EXPECT_NEAR(dlogits[static_cast<size_t>(c)], std::exp(c - 2 - kLse012) - (c == 2 ? 0.8 : 0.1), kHandTol)
        << c;
  opts.label_smoothing = 1.0;
  EXPECT_NEAR(
      cross_entropy_forward<double>(logits.data(), &target, nullptr, 1, 3, opts, log_probs.data(), nullptr),
      1.0 + kLse012, kHandTol);
  for (const double bad : {-0.1, 1.5}) {
    opts.label_smoothing = bad;
    EXPECT_THROW(
        cross_entropy_forward<double>(logits.data(), &target, nullptr, 1, 3, opts, log_probs.data(), nullptr),
        Error);
  }
}

TEST(Kernels, CrossEntropyAllIgnoredIsZero) {
  const std::vector<double> logits = {1, 2, 3, 4, 5, 6};
  const std::vector<std::int32_t> targets = {-100, -100};
  std::vector<double> log_probs(6), losses(2, -1.0);
  for (const Reduction r : {Reduction::kMean, Reduction::kSum, Reduction::kNone}) {
    CrossEntropyOptions opts;
    opts.reduction = r;
    EXPECT_EQ(cross_entropy_forward<double>(logits.data(), targets.data(), nullptr, 2, 3, opts,
                                            log_probs.data(), losses.data()),
              0.0);
    EXPECT_EQ(losses, (std::vector<double>{0, 0}));
  }
  // Zero gradient too.
  const double dloss = 1.0;
  std::vector<double> dlogits(6, 0.0);
  cross_entropy_backward<double>(log_probs.data(), targets.data(), nullptr, 2, 3, {}, &dloss, dlogits.data());
  EXPECT_EQ(dlogits, std::vector<double>(6, 0.0));
}

TEST(Kernels, CrossEntropyOutOfRangeTargetThrows) {
  const std::vector<double> logits = {1, 2, 3, 4, 5, 6};
  std::vector<double> log_probs(6);
  for (const std::int32_t bad : {3, -1, 7}) {
    const std::vector<std::int32_t> targets = {0, bad};
    EXPECT_THROW(cross_entropy_forward<double>(logits.data(), targets.data(), nullptr, 2, 3, {},
                                               log_probs.data(), nullptr),
                 Error)
        << "target " << bad;
  }
}

// ---- mse, sum, mean ---------------------------------------------------------------------------------------

TYPED_TEST(KernelTest, MseForward) {
  using T = TypeParam;
  // diffs (1, 0, -2, 0.5) -> squares (1, 0, 4, 0.25): sum 5.25, mean 1.3125 (all exact)
  const std::vector<T> pred = {1, 2, 3, 4.5}, target = {0, 2, 5, 4};
  EXPECT_EQ(mse_forward<T>(pred.data(), target.data(), 4, Reduction::kMean, nullptr), T(1.3125));
  EXPECT_EQ(mse_forward<T>(pred.data(), target.data(), 4, Reduction::kSum, nullptr), T(5.25));
  std::vector<T> losses(4, T(-1));
  mse_forward<T>(pred.data(), target.data(), 4, Reduction::kNone, losses.data());
  EXPECT_EQ(losses, (std::vector<T>{1, 0, 4, 0.25}));
  EXPECT_EQ(mse_forward<T>(pred.data(), target.data(), 0, Reduction::kMean, nullptr), T(0));  // n = 0
}

TYPED_TEST(KernelTest, SumAndMean) {
  using T = TypeParam;
  std::vector<T> x(100);
  std::iota(x.begin(), x.end(), T(1));
  EXPECT_EQ(sum_forward(x.data(), 100), T(5050));
  EXPECT_EQ(mean_forward(x.data(), 100), T(50.5));
  EXPECT_EQ(mean_forward<T>(x.data(), 0), T(0));
  EXPECT_EQ(sum_forward<T>(x.data(), 0), T(0));
}

TEST(Kernels, FloatSumAccumulatesInDouble) {
  // 10^6 copies of 0.1f: the double accumulator is off by ~10^-6 relative 10^-11, far below one float
  // ulp, so the float result is the correctly rounded 100000.0015 (within 1 ulp); a float
  // accumulator would drift by ~1%.
  constexpr index_t n = 1000000;
  const std::vector<float> tenth(n, 0.1f);
  const double exact = double(n) * double(0.1f);
  constexpr double kUlps = 1.0;
  EXPECT_NEAR(double(sum_forward(tenth.data(), n)), exact, kUlps * exact * eps_of<float>());
  EXPECT_NEAR(double(mean_forward(tenth.data(), n)), double(0.1f), kUlps * 0.1 * eps_of<float>());
}

// ---- dropout mask
// -------------------------------------------------------------------------------------------

TYPED_TEST(KernelTest, DropoutMask) {
  using T = TypeParam;
  constexpr index_t n = 100000;
  // Kept count ~ Binomial(n, 1 - p): its fraction has σ = sqrt(p (1 - p) / n) ≈ 0.00145 for p = 0.3.
  // 5 σ: a false failure has probability < 1e-6 (and the seed is fixed anyway).
  constexpr double kSigmas = 5.0;
  for (const double p_double : {0.3, 0.5, 0.9}) {
    const T p = static_cast<T>(p_double);
    SCOPED_TRACE("p=" + std::to_string(p_double));
    Rng rng(2024);
    std::vector<T> mask(n, T(-1));
    dropout_mask(rng, p, mask.data(), n);
    const T keep = T(1) / (T(1) - p);
    index_t kept = 0;
    for (index_t i = 0; i < n; ++i) {
      ASSERT_TRUE(mask[i] == T(0) || mask[i] == keep) << "mask[" << i << "] = " << mask[i];
      kept += mask[i] != T(0);
    }
    const double fraction = double(kept) / double(n);
    const double sigma = std::sqrt(p_double * (1 - p_double) / double(n));
    EXPECT_NEAR(fraction, 1 - p_double, kSigmas * sigma);

    // Same seed, same mask.
    Rng rng2(2024);
    std::vector<T> mask2(n);
    dropout_mask(rng2, p, mask2.data(), n);
    EXPECT_EQ(mask, mask2);
    // A different seed gives a different mask.
    Rng rng3(2025);
    dropout_mask(rng3, p, mask2.data(), n);
    EXPECT_NE(mask, mask2);
  }
  // p = 0 keeps everything at scale 1.
  Rng rng(1);
  std::vector<T> all(1000, T(-1));
  dropout_mask(rng, T(0), all.data(), 1000);
  EXPECT_EQ(all, std::vector<T>(1000, T(1)));
  // p outside [0, 1) throws.
  for (const double bad : {-0.1, 1.0, 1.5})
    EXPECT_THROW(dropout_mask(rng, T(bad), all.data(), 10), Error) << bad;
  EXPECT_THROW(dropout_mask(rng, std::numeric_limits<T>::quiet_NaN(), all.data(), 10), Error);
}

}  // namespace
}  // namespace recur::ops
