#include "recur/rng.h"

#include <cmath>
#include <numbers>

#include "recur/common.h"

namespace recur {

Rng::Rng(std::uint64_t seed, std::uint64_t stream) {
  // PCG's reference seeding: increment must be odd; advance once before and after adding the seed.
  increment_ = (stream << 1u) | 1u;
  state_ = 0;
  next_u32();
  state_ += seed;
  next_u32();
}

std::uint64_t Rng::next_u64() {
  const std::uint64_t hi = next_u32();
  return (hi << 32) | next_u32();
}

std::uint32_t Rng::below(std::uint32_t bound) {
  RECUR_CHECK(bound >= 1, "Rng::below needs bound >= 1");
  // Lemire's rejection: multiply-shift, reject the biased low range.
  std::uint64_t m = std::uint64_t(next_u32()) * bound;
  auto low = static_cast<std::uint32_t>(m);
  if (low < bound) {
    const std::uint32_t threshold = (-bound) % bound;
    while (low < threshold) {
      m = std::uint64_t(next_u32()) * bound;
      low = static_cast<std::uint32_t>(m);
    }
  }
  return static_cast<std::uint32_t>(m >> 32);
}

float Rng::uniform_float() {
  return static_cast<float>(next_u32() >> 8) * 0x1.0p-24f;
}

double Rng::uniform_double() {
  return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

template <>
float Rng::uniform<float>(float lo, float hi) {
  return lo + (hi - lo) * uniform_float();
}

template <>
double Rng::uniform<double>(double lo, double hi) {
  return lo + (hi - lo) * uniform_double();
}

template <class T>
T Rng::normal(T mean, T stddev) {
  double z;
  if (has_spare_) {
    has_spare_ = false;
    z = spare_;
  } else {
    // Box–Muller on (0, 1] x [0, 1): 1 - u avoids log(0).
    const double u1 = 1.0 - uniform_double();
    const double u2 = uniform_double();
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    z = radius * std::cos(angle);
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
  }
  return mean + stddev * static_cast<T>(z);
}
template float Rng::normal<float>(float, float);
template double Rng::normal<double>(double, double);

bool Rng::bernoulli(double p) {
  return uniform_double() < p;
}

void Rng::set_state(const State& s) {
  RECUR_CHECK((s.increment & 1u) == 1u, "Rng::set_state: invalid state (even increment)");
  state_ = s.state;
  increment_ = s.increment;
  has_spare_ = s.has_spare;
  spare_ = s.spare;
}

}  // namespace recur
