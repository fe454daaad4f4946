// Tests for the vectorized exp / tanh / sigmoid (src/ops/vmath.cpp): ulp error of the float kernels
// against the correctly rounded result, special values, the double versions, in place and odd lengths.
#include "recur/ops/vmath.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace recur {
namespace {

// Max error in ulp of the float kernels. Measured exhaustively over all 2^32 floats (g++ 12 -O3, with
// and without -march=native): exp 1, tanh 1, sigmoid 2. A larger error is a regression.
constexpr std::int64_t kExpMaxUlp = 1;
constexpr std::int64_t kTanhMaxUlp = 1;
constexpr std::int64_t kSigmoidMaxUlp = 2;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kMinNormal = std::numeric_limits<float>::min();
constexpr float kExpHi = 88.72283172607421875f;   // largest x with exp(x) <= FLT_MAX
constexpr float kExpLo = -87.33654022216796875f;  // smallest x with exp(x) >= FLT_MIN

using Kernel = void (*)(const float*, float*, index_t);

// References: the double result rounded to float (correctly rounded up to rare double-rounding ties).
float ref_exp(float x) {
  return static_cast<float>(std::exp(static_cast<double>(x)));
}
float ref_tanh(float x) {
  return static_cast<float>(std::tanh(static_cast<double>(x)));
}
double sigmoid_double(double x) {
  if (x >= 0) return 1 / (1 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1 + e);
}
float ref_sigmoid(float x) {
  return static_cast<float>(sigmoid_double(x));
}

// Float bits mapped onto a line where adjacent floats differ by 1 (and -0 == +0).
std::int64_t ordered(float f) {
  const std::int32_t b = std::bit_cast<std::int32_t>(f);
  return b >= 0 ? b : -static_cast<std::int64_t>(b & 0x7fffffff);
}
std::int64_t ulp_distance(float a, float b) {
  const std::int64_t d = ordered(a) - ordered(b);
  return d < 0 ? -d : d;
}

bool same_bits(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) ||
         std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
}
bool same_bits(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) ||
         std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

std::string show(float x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g (%a)", static_cast<double>(x), static_cast<double>(x));
  return buf;
}

// Calls fn(chunk) on chunks of up to 1M inputs: the special values and `extra`, then every stride-th
// float bit pattern in [-limit, limit] (both signs).
template <class Fn>
void sweep(float limit, int stride, const std::vector<float>& extra, Fn fn) {
  std::vector<float> xs = {0.0f,
                           -0.0f,
                           std::numeric_limits<float>::denorm_min(),
                           -1e-40f,
                           kMinNormal,
                           -kMinNormal,
                           1e-30f,
                           -1e-30f,
                           1.0f,
                           -1.0f,
                           kInf,
                           -kInf,
                           kNaN,
                           -kNaN,
                           std::numeric_limits<float>::max(),
                           std::numeric_limits<float>::lowest(),
                           1e30f,
                           -1e30f};
  xs.insert(xs.end(), extra.begin(), extra.end());
  fn(xs);
  xs.clear();
  const std::uint32_t last = std::bit_cast<std::uint32_t>(limit);
  for (std::uint32_t b = 0; b <= last; b += static_cast<std::uint32_t>(stride)) {
    const float x = std::bit_cast<float>(b);
    xs.push_back(x);
    xs.push_back(-x);
    if (xs.size() >= (std::size_t{1} << 20)) fn(xs), xs.clear();
  }
  fn(xs);
}

// x and its float neighbours.
std::vector<float> around(std::initializer_list<float> points) {
  std::vector<float> xs;
  for (float p : points) {
    float lo = p, hi = p;
    for (int i = 0; i < 4; ++i) lo = std::nextafter(lo, -kInf), hi = std::nextafter(hi, kInf);
    for (float x = lo; x <= hi; x = std::nextafter(x, kInf)) xs.push_back(x);
  }
  return xs;
}

struct Worst {
  std::int64_t ulp = 0;
  float x = 0, got = 0, want = 0;
};

// Runs `kernel` on the sweep of [-limit, limit] plus `extra` (1M-element arrays) and returns the
// largest ulp error where the reference is a normal float. Elsewhere the result must match exactly (inf,
// NaN) or be 0 / within 1e-38 (subnormal or zero reference); with no_subnormal, a nonzero result below
// FLT_MIN is an error too.
Worst measure(Kernel kernel, float (*ref)(float), float limit, const std::vector<float>& extra,
              bool no_subnormal) {
  Worst worst;
  int failures = 0;
  std::vector<float> y;
  sweep(limit, 97, extra, [&](const std::vector<float>& xs) {
    y.resize(xs.size());
    kernel(xs.data(), y.data(), static_cast<index_t>(xs.size()));
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const float x = xs[i], got = y[i], want = ref(x);
      bool ok = true;
      if (std::isnan(want) || std::isinf(want)) {
        ok = same_bits(got, want);
      } else if (std::fabs(want) < kMinNormal) {
        ok = got == 0.0f || std::fabs(got - want) <= 1e-38f;
      } else {
        const std::int64_t u = ulp_distance(got, want);
        if (u > worst.ulp) worst = {u, x, got, want};
      }
      if (no_subnormal && got != 0.0f && std::fabs(got) < kMinNormal) ok = false;
      if (!ok && ++failures <= 10)
        ADD_FAILURE() << "x = " << show(x) << ": got " << show(got) << ", want " << show(want);
    }
  });
  return worst;
}

std::string describe(const Worst& w) {
  return "worst x = " + show(w.x) + ": got " + show(w.got) + ", want " + show(w.want) + " (" +
         std::to_string(w.ulp) + " ulp)";
}

TEST(Vmath, ExpFloatUlp) {
  const std::vector<float> extra = around({kExpHi, kExpLo, -88.0f, 88.0f, 0.5f, -0.5f, 0x1p-24f});
  const Worst w = measure(vmath::exp<float>, ref_exp, 90.0f, extra, /*no_subnormal=*/true);
  EXPECT_LE(w.ulp, kExpMaxUlp) << describe(w);
}

TEST(Vmath, TanhFloatUlp) {
  // 0.625: the switch from the polynomial to the exp formula; ~9.01: where tanh rounds to 1.
  const std::vector<float> extra = around({0.625f, -0.625f, 9.01f, -9.01f, 44.0f, -44.0f, 100.0f, -100.0f});
  const Worst w = measure(vmath::tanh<float>, ref_tanh, 20.0f, extra, /*no_subnormal=*/false);
  EXPECT_LE(w.ulp, kTanhMaxUlp) << describe(w);
}

TEST(Vmath, SigmoidFloatUlp) {
  // Large negative x: sigmoid ~ exp(x) reaches the subnormal range; ~16.6: where it rounds to 1.
  const std::vector<float> extra = around({kExpLo, -87.0f, -90.0f, -103.0f, -104.0f, 16.6f, 17.0f, 88.8f});
  const Worst w = measure(vmath::sigmoid<float>, ref_sigmoid, 20.0f, extra, /*no_subnormal=*/false);
  EXPECT_LE(w.ulp, kSigmoidMaxUlp) << describe(w);
}

TEST(Vmath, SpecialValues) {
  const float xs[] = {0.0f, -0.0f, kInf, -kInf, kNaN, 1000.0f, -1000.0f};
  float e[7], t[7], s[7];
  vmath::exp(xs, e, 7);
  vmath::tanh(xs, t, 7);
  vmath::sigmoid(xs, s, 7);
  EXPECT_EQ(e[0], 1.0f);
  EXPECT_EQ(e[1], 1.0f);
  EXPECT_EQ(e[2], kInf);
  EXPECT_TRUE(same_bits(e[3], 0.0f));
  EXPECT_TRUE(std::isnan(e[4]));
  EXPECT_EQ(e[5], kInf);
  EXPECT_TRUE(same_bits(e[6], 0.0f));
  EXPECT_TRUE(same_bits(t[0], 0.0f));
  EXPECT_TRUE(same_bits(t[1], -0.0f));
  EXPECT_EQ(t[2], 1.0f);
  EXPECT_EQ(t[3], -1.0f);
  EXPECT_TRUE(std::isnan(t[4]));
  EXPECT_EQ(t[5], 1.0f);
  EXPECT_EQ(t[6], -1.0f);
  EXPECT_EQ(s[0], 0.5f);
  EXPECT_EQ(s[1], 0.5f);
  EXPECT_EQ(s[2], 1.0f);
  EXPECT_TRUE(same_bits(s[3], 0.0f));
  EXPECT_TRUE(std::isnan(s[4]));
  EXPECT_EQ(s[5], 1.0f);
  EXPECT_TRUE(same_bits(s[6], 0.0f));
  EXPECT_EQ(vmath::exp_scalar(kExpHi + 0.0001f), kInf);
  EXPECT_GE(vmath::exp_scalar(kExpLo), kMinNormal);
  EXPECT_EQ(vmath::exp_scalar(std::nextafter(kExpLo, -kInf)), 0.0f);
}

// The scalar forms share the array kernels' arithmetic: bitwise equal results.
TEST(Vmath, ScalarMatchesArray) {
  int failures = 0;
  std::vector<float> e, t, s;
  sweep(100.0f, 997, {}, [&](const std::vector<float>& xs) {
    const auto n = static_cast<index_t>(xs.size());
    e.resize(xs.size()), t.resize(xs.size()), s.resize(xs.size());
    vmath::exp(xs.data(), e.data(), n);
    vmath::tanh(xs.data(), t.data(), n);
    vmath::sigmoid(xs.data(), s.data(), n);
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const bool ok = same_bits(vmath::exp_scalar(xs[i]), e[i]) &&
                      same_bits(vmath::tanh_scalar(xs[i]), t[i]) &&
                      same_bits(vmath::sigmoid_scalar(xs[i]), s[i]);
      if (!ok && ++failures <= 10) ADD_FAILURE() << "scalar and array results differ at x = " << show(xs[i]);
    }
  });
}

// Lengths around the vector width, y == x, and no write past y[n - 1].
TEST(Vmath, InPlaceAndOddLengths) {
  const Kernel kernels[] = {vmath::exp<float>, vmath::tanh<float>, vmath::sigmoid<float>};
  float (*const scalars[])(float) = {vmath::exp_scalar, vmath::tanh_scalar, vmath::sigmoid_scalar};
  for (int k = 0; k < 3; ++k) {
    for (const index_t n : {0, 1, 7, 15, 16, 17, 31, 33, 1001}) {
      std::vector<float> x(static_cast<std::size_t>(n));
      for (index_t i = 0; i < n; ++i) x[i] = -12.0f + 0.0371f * static_cast<float>(i);
      std::vector<float> y(static_cast<std::size_t>(n) + 8, 42.0f);
      kernels[k](x.data(), y.data(), n);
      std::vector<float> z = x;
      kernels[k](z.data(), z.data(), n);
      for (index_t i = 0; i < n; ++i) {
        ASSERT_TRUE(same_bits(y[i], scalars[k](x[i]))) << "kernel " << k << ", n = " << n << ", i = " << i;
        ASSERT_TRUE(same_bits(z[i], y[i])) << "in place, kernel " << k << ", n = " << n << ", i = " << i;
      }
      for (std::size_t i = static_cast<std::size_t>(n); i < y.size(); ++i)
        ASSERT_EQ(y[i], 42.0f) << "n = " << n;
    }
  }
}

// The double versions are std:: (sigmoid: the formula 1/(1+exp(-x)), e/(1+e) for x < 0), exactly.
TEST(Vmath, DoubleMatchesStd) {
  std::vector<double> x = {0.0,
                           -0.0,
                           1e-300,
                           -1e-300,
                           4.9e-324,
                           std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity(),
                           std::numeric_limits<double>::quiet_NaN(),
                           709.78,
                           709.79,
                           -745.1,
                           -745.2,
                           1e300,
                           -1e300};
  for (int i = -20000; i <= 20000; ++i) x.push_back(0.0371 * i);
  const auto n = static_cast<index_t>(x.size());
  std::vector<double> e(x.size()), t(x.size()), s(x.size());
  vmath::exp(x.data(), e.data(), n);
  vmath::tanh(x.data(), t.data(), n);
  vmath::sigmoid(x.data(), s.data(), n);
  for (std::size_t i = 0; i < x.size(); ++i) {
    ASSERT_TRUE(same_bits(e[i], std::exp(x[i]))) << "exp x = " << x[i];
    ASSERT_TRUE(same_bits(t[i], std::tanh(x[i]))) << "tanh x = " << x[i];
    ASSERT_TRUE(same_bits(s[i], sigmoid_double(x[i]))) << "sigmoid x = " << x[i];
  }
  std::vector<double> y = x;
  vmath::sigmoid(y.data(), y.data(), n);
  for (std::size_t i = 0; i < x.size(); ++i) ASSERT_TRUE(same_bits(y[i], s[i])) << "in place, x = " << x[i];
}

}  // namespace
}  // namespace recur
