// Elementwise and row kernels at RNN sizes: vectorized exp / tanh / sigmoid against std::, and
// softmax cross-entropy over a char vocabulary. Counter "elems/s" = elements processed per second.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "recur/ops/loss.h"
#include "recur/ops/vmath.h"
#include "recur/rng.h"

namespace {

using recur::index_t;

std::vector<float> random_vector(index_t n, float lo, float hi) {
  recur::Rng rng(7);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = rng.uniform<float>(lo, hi);
  return v;
}

enum class Fn { kExp, kTanh, kSigmoid };

template <Fn kFn, bool kVectorized>
void BM_Activation(benchmark::State& state) {
  const index_t n = state.range(0);
  const std::vector<float> x = random_vector(n, -8.f, 8.f);
  std::vector<float> y(static_cast<size_t>(n));
  for (auto _ : state) {
    if constexpr (kVectorized) {
      if constexpr (kFn == Fn::kExp) recur::vmath::exp(x.data(), y.data(), n);
      if constexpr (kFn == Fn::kTanh) recur::vmath::tanh(x.data(), y.data(), n);
      if constexpr (kFn == Fn::kSigmoid) recur::vmath::sigmoid(x.data(), y.data(), n);
    } else {
      for (index_t i = 0; i < n; ++i) {
        if constexpr (kFn == Fn::kExp) y[i] = std::exp(x[i]);
        if constexpr (kFn == Fn::kTanh) y[i] = std::tanh(x[i]);
        if constexpr (kFn == Fn::kSigmoid) y[i] = 1.f / (1.f + std::exp(-x[i]));
      }
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["elems/s"] = benchmark::Counter(double(n), benchmark::Counter::kIsIterationInvariantRate);
}

// 64 × 2048 = one LSTM step's gates at B = 64, H = 512 (fits in L2).
constexpr index_t kGateElements = 64 * 2048;
BENCHMARK(BM_Activation<Fn::kExp, true>)->Name("vmath_exp")->Arg(kGateElements);
BENCHMARK(BM_Activation<Fn::kExp, false>)->Name("std_exp")->Arg(kGateElements);
BENCHMARK(BM_Activation<Fn::kTanh, true>)->Name("vmath_tanh")->Arg(kGateElements);
BENCHMARK(BM_Activation<Fn::kTanh, false>)->Name("std_tanh")->Arg(kGateElements);
BENCHMARK(BM_Activation<Fn::kSigmoid, true>)->Name("vmath_sigmoid")->Arg(kGateElements);
BENCHMARK(BM_Activation<Fn::kSigmoid, false>)->Name("std_sigmoid")->Arg(kGateElements);

// Cross-entropy forward + backward over N = T·B rows and a vocabulary of V (65 = tiny-shakespeare).
void BM_CrossEntropy(benchmark::State& state) {
  const index_t N = state.range(0), V = state.range(1);
  const std::vector<float> logits = random_vector(N * V, -3.f, 3.f);
  std::vector<std::int32_t> targets(static_cast<size_t>(N));
  for (index_t n = 0; n < N; ++n) targets[static_cast<size_t>(n)] = static_cast<std::int32_t>(n % V);
  std::vector<float> log_probs(static_cast<size_t>(N * V)), dlogits(static_cast<size_t>(N * V));
  const recur::ops::CrossEntropyOptions options{};
  const float dloss = 1.f;
  for (auto _ : state) {
    const float loss =
        recur::ops::cross_entropy_forward(logits.data(), targets.data(), static_cast<const float*>(nullptr),
                                          N, V, options, log_probs.data(), static_cast<float*>(nullptr));
    recur::ops::cross_entropy_backward(log_probs.data(), targets.data(), static_cast<const float*>(nullptr),
                                       N, V, options, &dloss, dlogits.data());
    benchmark::DoNotOptimize(loss);
    benchmark::ClobberMemory();
  }
  state.counters["elems/s"] =
      benchmark::Counter(double(N * V), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_CrossEntropy)->Args({100 * 64, 65})->Args({35 * 20, 10000})->ArgNames({"N", "V"});

}  // namespace
