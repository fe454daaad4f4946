// Vectorizable exp / tanh / sigmoid (see include/recur/ops/vmath.h).
//
// METHOD_PLACEHOLDER
#include "recur/ops/vmath.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace recur::vmath {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

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
  const float y =
      std::bit_cast<float>(std::bit_cast<std::uint32_t>(p) + (std::bit_cast<std::uint32_t>(t) << 23));
  return x <= kHi ? (x < kLo ? 0.0f : y) : x + kInf;  // x + inf: +inf for overflow, NaN for NaN
}

inline float tanh_f(float x) {
  constexpr float kSmall = 0.625f;
  const float z = x * x;
  const float ps = x + x * z *
                           (-3.33332819422E-1f +
                            z * (1.33314422036E-1f + z * (-5.37397155531E-2f +
                                                          z * (2.06390887954E-2f + z * -5.70498872745E-3f))));
  const float e = exp_f(-2.0f * std::fabs(x));
  const float pl = std::copysign((1.0f - e) / (1.0f + e), x);
  return std::fabs(x) < kSmall ? ps : pl;
}

inline float sigmoid_f(float x) {
  const float e = exp_f(-std::fabs(x));
  return (x >= 0.0f ? 1.0f : e) / (1.0f + e);
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
