// Vectorizable exp / tanh / sigmoid (see include/recur/ops/vmath.h).
//
// Float kernels: branch-free inline functions; the array loops call them and g++ -O3 vectorizes the
// loops (SSE2, and AVX2/AVX-512 with -march=native). No intrinsics, no -ffast-math.
//  exp:     Cody-Waite reduction x = n*ln2 + r, n = round(x*log2(e)) by the 1.5*2^23 trick, |r| <= ln2/2,
//           ln2 split into a 9-bit hi part (n*hi exact) and a lo part; exp(r) = 1 + r + r^2*q(r) with
//           the degree-7 Cephes expf coefficients; 2^n added to the exponent bits. x > 88.7228 gives
//           +inf, x < -87.3365 gives 0 (never a subnormal result), NaN gives NaN.
//  tanh:    |x| < 0.625: |x| + |x|^3*P(x^2) (Cephes tanhf coefficients); else 1 - 2e/(1+e) with
//           e = exp(-2|x|), which saturates to 1. Sign restored by copysign (tanh(-0) = -0).
//  sigmoid: e = exp(-|x|); 1/(1+e) for x >= 0, e/(1+e) for x < 0.
// Max error vs the correctly rounded result, measured over all 2^32 floats with g++ 12 -O3 with and
// without -march=native (FMA contraction on / off): exp 1 ulp, tanh 1 ulp, sigmoid 2 ulp.
// Double versions: std:: (double is the gradient-check precision; accuracy matters, speed does not).
#include "recur/ops/vmath.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace recur::vmath {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// c ? a : b without a branch. With a plain ?: g++ sinks each arm's arithmetic into its own block,
// then cannot if-convert it for SSE2 (float ops may trap) and the loop is not vectorized.
inline float select(bool c, float a, float b) {
  const std::uint32_t m = 0u - static_cast<std::uint32_t>(c);
  return std::bit_cast<float>((std::bit_cast<std::uint32_t>(a) & m) | (std::bit_cast<std::uint32_t>(b) & ~m));
}

inline float exp_f(float x) {
  constexpr float kLog2e = 1.44269504f;
  constexpr float kLn2Hi = 0.693359375f;  // 9 significant bits: n * kLn2Hi is exact
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kMagic = 0x1.8p23f;  // t + kMagic rounds t to an integer kept in the low mantissa bits
  constexpr float kHi = 88.72283172607421875f;   // largest x with exp(x) <= FLT_MAX
  constexpr float kLo = -87.33654022216796875f;  // smallest x with exp(x) >= FLT_MIN
  const float t = x * kLog2e + kMagic;
  const float n = t - kMagic;
  const float r = (x - n * kLn2Hi) - n * kLn2Lo;
  const float q =
      5.0000001201E-1f +
      r * (1.6666665459E-1f +
           r * (4.1665795894E-2f + r * (8.3334519073E-3f + r * (1.3981999507E-3f + r * 1.9875691500E-4f))));
  const float p = 1.0f + (r + r * r * q);
  // 2^n: the low bits of t hold n; << 23 moves them into the exponent field (the magic's bits fall off).
  // For kLo <= x <= kHi, n is in [-126, 128] and the result is normal; outside, y is garbage and discarded.
  const float y =
      std::bit_cast<float>(std::bit_cast<std::uint32_t>(p) + (std::bit_cast<std::uint32_t>(t) << 23));
  const float big = x + kInf;  // +inf for x > kHi, NaN for NaN
  return select(x <= kHi, select(x < kLo, 0.0f, y), big);
}

inline float tanh_f(float x) {
  constexpr float kSmall = 0.625f;
  const float a = std::fabs(x), z = a * a;
  const float ps = a + a * z *
                           (-3.33332819422E-1f +
                            z * (1.33314422036E-1f + z * (-5.37397155531E-2f +
                                                          z * (2.06390887954E-2f + z * -5.70498872745E-3f))));
  const float e = exp_f(-2.0f * a);
  const float pl = 1.0f - 2.0f * e / (1.0f + e);
  return std::copysign(select(a < kSmall, ps, pl), x);
}

inline float sigmoid_f(float x) {
  const float e = exp_f(-std::fabs(x));
  return select(x >= 0.0f, 1.0f, e) / (1.0f + e);
}

}  // namespace

float exp_scalar(float x) {
  return exp_f(x);
}
float tanh_scalar(float x) {
  return tanh_f(x);
}
float sigmoid_scalar(float x) {
  return sigmoid_f(x);
}

template <class T>
void exp(const T* x, T* y, index_t n) {
  if constexpr (std::is_same_v<T, float>) {
    for (index_t i = 0; i < n; ++i) y[i] = exp_f(x[i]);
  } else {
    for (index_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
  }
}

template <class T>
void tanh(const T* x, T* y, index_t n) {
  if constexpr (std::is_same_v<T, float>) {
    for (index_t i = 0; i < n; ++i) y[i] = tanh_f(x[i]);
  } else {
    for (index_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
  }
}

template <class T>
void sigmoid(const T* x, T* y, index_t n) {
  if constexpr (std::is_same_v<T, float>) {
    for (index_t i = 0; i < n; ++i) y[i] = sigmoid_f(x[i]);
  } else {
    for (index_t i = 0; i < n; ++i) {
      const T e = std::exp(-std::fabs(x[i]));  // x < 0: e / (1 + e) with e = exp(x)
      y[i] = (x[i] >= 0 ? T(1) : e) / (1 + e);
    }
  }
}

template void exp<float>(const float*, float*, index_t);
template void exp<double>(const double*, double*, index_t);
template void tanh<float>(const float*, float*, index_t);
template void tanh<double>(const double*, double*, index_t);
template void sigmoid<float>(const float*, float*, index_t);
template void sigmoid<double>(const double*, double*, index_t);

}  // namespace recur::vmath
