// Rng: recur's own seeded generator, so the same seed gives the same numbers on every machine and
// with every standard library (std:: distributions are implementation-defined).
//
// Engine: PCG32 (PCG-XSH-RR, 64-bit state, 32-bit output; O'Neill 2014). `stream` selects one of
// 2^63 independent sequences for the same seed (e.g. one per data-loader worker).
// uniform(): 24 random bits for float, 53 for double, in [0, 1). normal(): Box–Muller.
#pragma once

#include <cstdint>

namespace recur {

class Rng {
 public:
  explicit Rng(std::uint64_t seed, std::uint64_t stream = 0);

  std::uint32_t next_u32() {  // inline: kernels draw one per element (dropout masks)
    const std::uint64_t old = state_;
    state_ = old * kPcgMultiplier + increment_;
    const auto xorshifted = static_cast<std::uint32_t>(((old >> 18u) ^ old) >> 27u);
    const auto rot = static_cast<std::uint32_t>(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
  }
  std::uint64_t next_u64();
  // Uniform integer in [0, bound) without modulo bias; bound >= 1.
  std::uint32_t below(std::uint32_t bound);
  float uniform_float();    // [0, 1)
  double uniform_double();  // [0, 1)
  template <class T>
  T uniform(T lo, T hi);  // [lo, hi)
  template <class T>
  T normal(T mean = T(0), T stddev = T(1));
  bool bernoulli(double p);  // true with probability p

  // The full state, for checkpoints: restoring it continues the same sequence.
  struct State {
    std::uint64_t state, increment;
    bool has_spare;
    double spare;
  };
  State state() const { return {state_, increment_, has_spare_, spare_}; }
  void set_state(const State& s);

 private:
  static constexpr std::uint64_t kPcgMultiplier = 6364136223846793005ULL;
  std::uint64_t state_ = 0, increment_ = 0;
  bool has_spare_ = false;  // Box–Muller yields pairs; the second is kept here
  double spare_ = 0.0;
};

template <>
float Rng::uniform<float>(float lo, float hi);
template <>
double Rng::uniform<double>(double lo, double hi);
extern template float Rng::normal<float>(float, float);
extern template double Rng::normal<double>(double, double);

}  // namespace recur
