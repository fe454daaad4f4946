// recur::Rng (PCG32 against the reference algorithm and its published demo output; statistics of
// the distributions; checkpointing the state) and the initializers in recur::init.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "recur/init.h"
#include "recur/rng.h"
#include "test_util.h"

namespace recur {
namespace {

using ::recur::testing::all_close;

// Statistical checks use n = 200000 draws and a 5 σ band: with the fixed seeds they are
// deterministic, and a correct generator would fail one only with probability < 1e-6.
constexpr int kDraws = 200000;
constexpr double kSigmas = 5.0;

// ---- PCG32 --------------------------------------------------------------------------------------------

// The reference algorithm (pcg-random.org, pcg_basic.c), written out independently of recur.
struct Pcg32Reference {
  std::uint64_t state = 0, inc = 0;

  std::uint32_t next() {
    const std::uint64_t old = state;
    state = old * 6364136223846793005ULL + inc;
    const auto xorshifted = static_cast<std::uint32_t>(((old >> 18u) ^ old) >> 27u);
    const auto rot = static_cast<std::uint32_t>(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
  }
  // pcg32_srandom_r(rng, initstate, initseq)
  Pcg32Reference(std::uint64_t initstate, std::uint64_t initseq) {
    inc = (initseq << 1u) | 1u;
    next();
    state += initstate;
    next();
  }
};

TEST(Rng, MatchesPcgReferenceDemo) {
  // pcg32-demo: pcg32_srandom_r(&rng, 42u, 54u) then pcg32_random_r prints these first.
  const std::uint32_t expected[] = {0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e};
  Rng rng(42, 54);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(rng.next_u32(), expected[i]) << "output " << i;
  // The independent reference reproduces the demo too (so it is a valid oracle below).
  Pcg32Reference ref(42, 54);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(ref.next(), expected[i]) << "reference output " << i;
}

TEST(Rng, MatchesPcgReferenceForOtherSeedsAndStreams) {
  struct SeedStream {
    std::uint64_t seed, stream;
  };
  for (const SeedStream s : {SeedStream{0, 0}, SeedStream{12345, 0}, SeedStream{0xdeadbeefcafef00dULL, 7},
                             SeedStream{1, 0x7fffffffffffffffULL}}) {
    Rng rng(s.seed, s.stream);
    Pcg32Reference ref(s.seed, s.stream);
    for (int i = 0; i < 1000; ++i) {
      ASSERT_EQ(rng.next_u32(), ref.next()) << "seed " << s.seed << " stream " << s.stream << " output " << i;
    }
  }
}

TEST(Rng, DefaultStreamIsZero) {
  Rng a(99), b(99, 0);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.next_u32(), b.next_u32());
}

TEST(Rng, NextU64IsTwoConsecutiveU32) {
  Rng rng(7, 3);
  Pcg32Reference ref(7, 3);
  for (int i = 0; i < 100; ++i) {
    const std::uint64_t v = rng.next_u64();
    const std::uint32_t first = ref.next(), second = ref.next();
    const auto hi = static_cast<std::uint32_t>(v >> 32), lo = static_cast<std::uint32_t>(v);
    EXPECT_TRUE((hi == first && lo == second) || (hi == second && lo == first)) << "draw " << i;
  }
}

// Number of equal positions among the first n outputs of two generators.
int coincidences(Rng a, Rng b, int n) {
  int same = 0;
  for (int i = 0; i < n; ++i) same += a.next_u32() == b.next_u32();
  return same;
}

TEST(Rng, DifferentStreamsAndSeedsDiffer) {
  // Independent 32-bit outputs coincide with probability 2^-32 per position: expect 0 of 1000.
  EXPECT_EQ(coincidences(Rng(42, 54), Rng(42, 55), 1000), 0);
  EXPECT_EQ(coincidences(Rng(42, 0), Rng(42, 1), 1000), 0);
  EXPECT_EQ(coincidences(Rng(42, 54), Rng(43, 54), 1000), 0);
  EXPECT_EQ(coincidences(Rng(1, 0), Rng(2, 0), 1000), 0);
  EXPECT_EQ(coincidences(Rng(42, 54), Rng(42, 54), 1000), 1000);  // and the same ones agree
}

// ---- distributions ---------------------------------------------------------------------------------------

TEST(Rng, UniformIsInUnitIntervalWithFullResolution) {
  Rng rng(1);
  float fmin = 1, fmax = 0;
  double dmin = 1, dmax = 0;
  for (int i = 0; i < kDraws; ++i) {
    const float f = rng.uniform_float();
    const double d = rng.uniform_double();
    ASSERT_GE(f, 0.0f);
    ASSERT_LT(f, 1.0f);
    ASSERT_GE(d, 0.0);
    ASSERT_LT(d, 1.0);
    // 24 random bits for float and 53 for double: every value is a multiple of 2^-24 / 2^-53.
    ASSERT_EQ(std::ldexp(double(f), 24), std::floor(std::ldexp(double(f), 24))) << f;
    ASSERT_EQ(std::ldexp(d, 53), std::floor(std::ldexp(d, 53))) << d;
    fmin = std::min(fmin, f);
    fmax = std::max(fmax, f);
    dmin = std::min(dmin, d);
    dmax = std::max(dmax, d);
  }
  // With 2·10^5 draws the extremes are within ~10^-4 of the ends (probability of missing: e^-20).
  EXPECT_LT(fmin, 1e-4f);
  EXPECT_GT(fmax, 1 - 1e-4f);
  EXPECT_LT(dmin, 1e-4);
  EXPECT_GT(dmax, 1 - 1e-4);
}

TEST(Rng, UniformRange) {
  Rng rng(2);
  for (int i = 0; i < 10000; ++i) {
    const double d = rng.uniform<double>(-3.0, 5.0);
    ASSERT_GE(d, -3.0);
    ASSERT_LT(d, 5.0);
    const float f = rng.uniform<float>(0.5f, 0.75f);
    ASSERT_GE(f, 0.5f);
    ASSERT_LT(f, 0.75f);
  }
}

struct Moments {
  double mean, variance;
};

template <class Draw>
Moments moments(Draw&& draw) {
  double s = 0, s2 = 0;
  for (int i = 0; i < kDraws; ++i) {
    const double x = draw();
    s += x;
    s2 += x * x;
  }
  const double mean = s / kDraws;
  return {mean, s2 / kDraws - mean * mean};
}

TEST(Rng, UniformMoments) {
  // U[0, 1): mean 1/2, variance 1/12. σ of the sample mean = sqrt(1/12 / n); σ of the sample
  // variance = sqrt((μ4 - σ⁴) / n) with μ4 = 1/80.
  const double n = kDraws;
  const double mean_tol = kSigmas * std::sqrt(1.0 / 12 / n);
  const double var_tol = kSigmas * std::sqrt((1.0 / 80 - 1.0 / 144) / n);
  Rng rng(3);
  const Moments d = moments([&] { return rng.uniform_double(); });
  EXPECT_NEAR(d.mean, 0.5, mean_tol);
  EXPECT_NEAR(d.variance, 1.0 / 12, var_tol);
  const Moments f = moments([&] { return double(rng.uniform_float()); });
  EXPECT_NEAR(f.mean, 0.5, mean_tol);
  EXPECT_NEAR(f.variance, 1.0 / 12, var_tol);
}

TEST(Rng, NormalMoments) {
  // N(m, s²): σ of the sample mean = s / sqrt(n); σ of the sample variance = s² sqrt(2 / n).
  const double n = kDraws;
  Rng rng(4);
  const Moments z = moments([&] { return rng.normal<double>(); });
  EXPECT_NEAR(z.mean, 0.0, kSigmas / std::sqrt(n));
  EXPECT_NEAR(z.variance, 1.0, kSigmas * std::sqrt(2 / n));
  const Moments g = moments([&] { return double(rng.normal<float>(3.0f, 2.0f)); });
  EXPECT_NEAR(g.mean, 3.0, kSigmas * 2 / std::sqrt(n));
  EXPECT_NEAR(g.variance, 4.0, kSigmas * 4 * std::sqrt(2 / n));
  // Shape, not only moments: P(|Z| < 1) = 0.682689, P(|Z| < 2) = 0.954500 (binomial σ per band).
  int within1 = 0, within2 = 0;
  for (int i = 0; i < kDraws; ++i) {
    const double x = std::abs(rng.normal<double>());
    within1 += x < 1;
    within2 += x < 2;
  }
  EXPECT_NEAR(within1 / n, 0.682689, kSigmas * std::sqrt(0.682689 * (1 - 0.682689) / n));
  EXPECT_NEAR(within2 / n, 0.954500, kSigmas * std::sqrt(0.954500 * (1 - 0.954500) / n));
}

TEST(Rng, BernoulliFrequency) {
  const double n = kDraws;
  Rng rng(5);
  for (const double p : {0.1, 0.5, 0.73}) {
    int hits = 0;
    for (int i = 0; i < kDraws; ++i) hits += rng.bernoulli(p);
    EXPECT_NEAR(hits / n, p, kSigmas * std::sqrt(p * (1 - p) / n)) << "p=" << p;
  }
  for (int i = 0; i < 1000; ++i) {
    ASSERT_FALSE(rng.bernoulli(0.0));
    ASSERT_TRUE(rng.bernoulli(1.0));
  }
}

TEST(Rng, BelowRangeAndUniformity) {
  Rng rng(6);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(rng.below(1), 0u);
  for (const std::uint32_t bound : {2u, 7u, 1000u, 0x80000001u, 0xffffffffu}) {
    std::uint32_t hi = 0;
    for (int i = 0; i < 10000; ++i) {
      const std::uint32_t v = rng.below(bound);
      ASSERT_LT(v, bound);
      hi = std::max(hi, v);
    }
    // The top quarter is reached: P(10^4 draws all miss it) <= 0.75^10^4 (for bound 2: 0.5^10^4).
    EXPECT_GE(hi, (bound - 1) - (bound - 1) / 4) << "bound " << bound;
  }
  // Counts per value of below(10): each ~ Binomial(n, 1/10).
  const int buckets = 10;
  std::vector<int> count(buckets, 0);
  for (int i = 0; i < kDraws; ++i) ++count[rng.below(buckets)];
  const double expected = double(kDraws) / buckets;
  const double tol = kSigmas * std::sqrt(kDraws * 0.1 * 0.9);
  for (int b = 0; b < buckets; ++b) EXPECT_NEAR(count[b], expected, tol) << "value " << b;
  // bound = 3·2^30 + 1: a plain modulo would make the low third of the range twice as likely.
  const std::uint32_t big = 3u * (1u << 30) + 1u;
  int low_third = 0;
  for (int i = 0; i < kDraws; ++i) low_third += rng.below(big) < big / 3;
  EXPECT_NEAR(double(low_third) / kDraws, 1.0 / 3, kSigmas * std::sqrt(2.0 / 9 / kDraws));
  EXPECT_THROW(rng.below(0), Error);
}

TEST(Rng, StateRoundTripContinuesTheSequence) {
  Rng rng(77, 5);
  for (int i = 0; i < 13; ++i) rng.next_u32();
  (void)rng.normal<double>();  // leaves the second Box–Muller value pending
  const Rng::State saved = rng.state();
  EXPECT_TRUE(saved.has_spare);

  auto draw_mix = [](Rng& r) {
    std::vector<double> out;
    for (int i = 0; i < 5; ++i) {
      out.push_back(r.normal<double>());
      out.push_back(double(r.next_u32()));
      out.push_back(r.uniform_double());
      out.push_back(double(r.below(1000)));
    }
    return out;
  };
  const std::vector<double> first = draw_mix(rng);

  Rng other(1, 1);  // unrelated state, overwritten by set_state
  other.set_state(saved);
  EXPECT_EQ(draw_mix(other), first);
  rng.set_state(saved);
  EXPECT_EQ(draw_mix(rng), first);

  Rng::State bad = saved;
  bad.increment &= ~std::uint64_t(1);  // PCG increments are odd
  EXPECT_THROW(other.set_state(bad), Error);
}

// ---- initializers --------------------------------------------------------------------------------------

template <class T>
double max_abs(const Tensor<T>& t) {
  double m = 0;
  for (index_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(double(t[i])));
  return m;
}

template <class T>
Moments tensor_moments(const Tensor<T>& t) {
  double s = 0, s2 = 0;
  for (index_t i = 0; i < t.numel(); ++i) {
    s += t[i];
    s2 += double(t[i]) * t[i];
  }
  const double n = double(t.numel()), mean = s / n;
  return {mean, s2 / n - mean * mean};
}

TEST(Init, UniformBounds) {
  Rng rng(10);
  Tensor<float> t(Shape{400, 500});
  init::uniform(t, -0.5f, 2.0f, rng);
  float lo = 10, hi = -10;
  for (index_t i = 0; i < t.numel(); ++i) {
    lo = std::min(lo, t[i]);
    hi = std::max(hi, t[i]);
  }
  EXPECT_GE(lo, -0.5f);
  EXPECT_LT(hi, 2.0f);
  EXPECT_LT(lo, -0.5f + 1e-3f);  // 2·10^5 draws reach within 10^-3 of both ends
  EXPECT_GT(hi, 2.0f - 1e-3f);
  const Moments m = tensor_moments(t);
  EXPECT_NEAR(m.mean, 0.75, kSigmas * 2.5 * std::sqrt(1.0 / 12 / double(t.numel())));
  EXPECT_THROW(init::uniform(t, 1.0f, 0.0f, rng), Error);
}

TEST(Init, XavierUniformBound) {
  for (const double gain : {1.0, 2.0}) {
    Rng rng(11);
    Tensor<double> w(Shape{300, 500});  // fan_out 300, fan_in 500
    init::xavier_uniform(w, rng, gain);
    const double bound = gain * std::sqrt(6.0 / (300 + 500));
    const double m = max_abs(w);
    EXPECT_LT(m, bound) << "gain " << gain;
    // 1.5·10^5 draws: P(max|w| < 0.999·bound) = 0.999^150000 ≈ e^-150.
    EXPECT_GT(m, 0.999 * bound) << "gain " << gain;
    const Moments mo = tensor_moments(w);
    const double var = bound * bound / 3;  // U[-b, b]
    EXPECT_NEAR(mo.mean, 0.0, kSigmas * std::sqrt(var / double(w.numel())));
  }
  // A non-square float matrix: the bound uses fan_in + fan_out in either orientation.
  Rng rng(12);
  Tensor<float> w(Shape{20, 1000});
  init::xavier_uniform(w, rng);
  const double bound = std::sqrt(6.0 / 1020);
  EXPECT_LT(max_abs(w), bound);
  EXPECT_GT(max_abs(w), 0.999 * bound);
}

TEST(Init, XavierNormalStd) {
  for (const double gain : {1.0, 1.5}) {
    Rng rng(13);
    Tensor<double> w(Shape{300, 500});
    init::xavier_normal(w, rng, gain);
    const double std_expected = gain * std::sqrt(2.0 / 800);
    const Moments m = tensor_moments(w);
    const double n = double(w.numel());
    // σ of the sample variance is var · sqrt(2 / n).
    EXPECT_NEAR(m.variance, std_expected * std_expected,
                kSigmas * std_expected * std_expected * std::sqrt(2 / n))
        << "gain " << gain;
    EXPECT_NEAR(m.mean, 0.0, kSigmas * std_expected / std::sqrt(n)) << "gain " << gain;
  }
}

// G = W·Wᵀ (rows × rows) when `rows_gram`, else Wᵀ·W (cols × cols), in double.
template <class T>
std::vector<double> gram(const Tensor<T>& w, bool rows_gram) {
  const index_t R = w.dim(0), C = w.dim(1), n = rows_gram ? R : C, k = rows_gram ? C : R;
  std::vector<double> g(static_cast<size_t>(n * n), 0.0);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j)
      for (index_t l = 0; l < k; ++l)
        g[i * n + j] += rows_gram ? double(w[i * C + l]) * w[j * C + l] : double(w[l * C + i]) * w[l * C + j];
  return g;
}

std::vector<double> scaled_identity(index_t n, double s) {
  std::vector<double> id(static_cast<size_t>(n * n), 0.0);
  for (index_t i = 0; i < n; ++i) id[i * n + i] = s;
  return id;
}

// A float entry carries a rounding of eps/2 relative; a length-k dot product of unit vectors then
// errs by ~k·eps/2 ≤ 1.2e-6 for k = 20, so 1e-5 (times gain²) is comfortably above the noise while
// a non-orthogonal matrix (off-diagonal ~ 1/sqrt(k) ~ 0.2) is far outside it. double: 1e-12.
constexpr double kOrthoTolFloat = 1e-5;
constexpr double kOrthoTolDouble = 1e-12;

template <class T>
class InitTypedTest : public ::testing::Test {};
using FloatTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(InitTypedTest, FloatTypes);

TYPED_TEST(InitTypedTest, OrthogonalRowsAndColumns) {
  using T = TypeParam;
  const double base_tol = std::is_same_v<T, float> ? kOrthoTolFloat : kOrthoTolDouble;
  struct Case {
    index_t rows, cols;
    double gain;
  };
  std::uint64_t seed = 20;
  for (const Case c : {Case{8, 20, 1.0}, Case{20, 8, 1.0}, Case{16, 16, 1.0}, Case{8, 20, 2.0},
                       Case{20, 8, 0.5}, Case{16, 16, 3.0}, Case{1, 5, 1.0}, Case{5, 1, 1.0}}) {
    SCOPED_TRACE(std::to_string(c.rows) + "x" + std::to_string(c.cols) + " gain " + std::to_string(c.gain));
    Rng rng(seed++);
    Tensor<T> w = Tensor<T>::full(Shape{c.rows, c.cols}, T(99));
    init::orthogonal(w, rng, T(c.gain));
    const double g2 = c.gain * c.gain, tol = base_tol * std::max(1.0, g2);
    if (c.rows <= c.cols) {
      EXPECT_TRUE(all_close(gram(w, true), scaled_identity(c.rows, g2), tol, 0.0)) << "W·Wᵀ";
    }
    if (c.rows >= c.cols) {
      EXPECT_TRUE(all_close(gram(w, false), scaled_identity(c.cols, g2), tol, 0.0)) << "Wᵀ·W";
    }
    // Every row (rows ≤ cols) or column has norm gain, so no entry exceeds it.
    EXPECT_LE(max_abs(w), c.gain * (1 + tol));
  }
}

TEST(Init, OrthogonalIsSeededAndRandom) {
  Rng a(30), b(30), c(31);
  Tensor<double> wa(Shape{16, 16}), wb(Shape{16, 16}), wc(Shape{16, 16});
  init::orthogonal(wa, a);
  init::orthogonal(wb, b);
  init::orthogonal(wc, c);
  EXPECT_EQ(wa.to_vector(), wb.to_vector());  // same seed, same matrix
  EXPECT_NE(wa.to_vector(), wc.to_vector());
  // Haar-distributed, so not a signed permutation / identity: many entries are far from 0 and ±1.
  int generic = 0;
  for (index_t i = 0; i < wa.numel(); ++i) generic += std::abs(wa[i]) > 0.01 && std::abs(wa[i]) < 0.99;
  EXPECT_GT(generic, 200);
}

TEST(Init, Identity) {
  Tensor<float> w = Tensor<float>::full(Shape{3, 5}, 7.0f);
  init::identity(w, 2.0f);
  for (index_t i = 0; i < 3; ++i)
    for (index_t j = 0; j < 5; ++j) EXPECT_EQ(w.at({i, j}), i == j ? 2.0f : 0.0f) << i << "," << j;
  Tensor<double> t = Tensor<double>::full(Shape{5, 3}, -1.0);
  init::identity(t);
  for (index_t i = 0; i < 5; ++i)
    for (index_t j = 0; j < 3; ++j) EXPECT_EQ(t.at({i, j}), i == j ? 1.0 : 0.0) << i << "," << j;
}

TEST(Init, MatrixInitializersNeedRank2) {
  Rng rng(40);
  for (const Shape& s : {Shape{5}, Shape{2, 3, 4}, Shape{}}) {
    SCOPED_TRACE(s.str());
    Tensor<float> t(s);
    EXPECT_THROW(init::xavier_uniform(t, rng), Error);
    EXPECT_THROW(init::xavier_normal(t, rng), Error);
    EXPECT_THROW(init::orthogonal(t, rng), Error);
    EXPECT_THROW(init::identity(t), Error);
  }
  // The elementwise initializers accept any rank.
  Tensor<float> t(Shape{2, 3, 4});
  EXPECT_NO_THROW(init::uniform(t, -1.0f, 1.0f, rng));
  EXPECT_NO_THROW(init::normal(t, 0.0f, 1.0f, rng));
}

}  // namespace
}  // namespace recur

namespace recur {
namespace {

// Exact draws for fixed seeds, the same with and without FMA (rng.cpp is built with
// -ffp-contract=off): if these move, every seeded initialization in recur moves with them.
TEST(RngGolden, UniformDrawsAreBitExact) {
  Rng floats(7);
  const float want_floats[] = {0x1.7e351p-1f, 0x1.c00b9p-3f, 0x1.8804e8p-2f, 0x1.1ec8f2p-1f};
  for (float want : want_floats) EXPECT_EQ(floats.uniform<float>(-0.37f, 0.81f), want);
  Rng doubles(9);
  EXPECT_EQ(doubles.uniform<double>(-3.0, 5.0), 0x1.206cce5411204p+0);
  EXPECT_EQ(doubles.uniform<double>(-3.0, 5.0), 0x1.3b76830e4076cp+1);
}

// normal() also goes through glibc's log/sin/cos, which are not guaranteed to round identically
// on every CPU; on one machine these values are exact.
TEST(RngGolden, NormalDrawsAreBitExactHere) {
  Rng rng(7);
  EXPECT_EQ(rng.normal<double>(0.5, 2.0), -0x1.5079ca6963af7p+1);
  EXPECT_EQ(rng.normal<double>(0.5, 2.0), -0x1.97d892d7dcd4ep+1);
  EXPECT_EQ(rng.normal<double>(0.5, 2.0), -0x1.722c0aac39d3p+1);
}

}  // namespace
}  // namespace recur
