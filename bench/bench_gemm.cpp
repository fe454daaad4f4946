// GEMM seam at the shapes an RNN runs: the per-step recurrent product (B, H) · (4H, H)ᵀ, the
// hoisted input projection over T·B rows, and batch 1 (generation), where the seam routes to GEMV.
// Counter "GFLOPs" = 2·M·N·K per second.
#include <benchmark/benchmark.h>

#include <vector>

#include "gemm_backend.h"
#include "recur/ops/gemm.h"
#include "recur/ops/packed_gemm.h"
#include "recur/rng.h"
#include "recur/threads.h"

namespace {

using recur::index_t;
using recur::Trans;

std::vector<float> random_vector(index_t n, std::uint64_t seed) {
  recur::Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = rng.uniform<float>(-1.f, 1.f);
  return v;
}

// C (M, N) = A (M, K) · W (N, K)ᵀ: the nn.Linear layout used by every RNN weight.
template <bool kThroughSeam>
void BM_LinearGemm(benchmark::State& state) {
  const index_t M = state.range(0), N = state.range(1), K = state.range(2);
  recur::set_num_threads(static_cast<int>(state.range(3)));
  const std::vector<float> a = random_vector(M * K, 1), w = random_vector(N * K, 2);
  std::vector<float> c(static_cast<size_t>(M * N));
  for (auto _ : state) {
    if constexpr (kThroughSeam) {
      recur::gemm(Trans::kNo, Trans::kYes, M, N, K, 1.f, a.data(), K, w.data(), K, 0.f, c.data(), N);
    } else {  // the backend's GEMM called directly, single-threaded, no GEMV routing
      recur::detail::gemm_backend(Trans::kNo, Trans::kYes, M, N, K, 1.f, a.data(), K, w.data(), K, 0.f,
                                  c.data(), N);
    }
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPs"] =
      benchmark::Counter(2.0 * double(M * N * K), benchmark::Counter::kIsIterationInvariantRate);
  recur::set_num_threads(2);
}

// Args: M (rows = B or T·B), N (= 4H), K (= H), threads.
void RnnShapes(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) {
    for (index_t H : {128, 512}) {
      b->Args({1, 4 * H, H, threads});         // batch-1 generation step
      b->Args({32, 4 * H, H, threads});        // recurrent step, B = 32
      b->Args({64, 4 * H, H, threads});        // recurrent step, B = 64
      b->Args({100 * 64, 4 * H, H, threads});  // input projection, T = 100, B = 64
    }
  }
  b->ArgNames({"M", "N", "K", "threads"});
}

// The same products against W packed once (ops/packed_gemm.h), as the recurrent steps run them;
// packing is outside the timed loop (a layer packs once per sequence).
void BM_PackedGemm(benchmark::State& state) {
  const index_t M = state.range(0), N = state.range(1), K = state.range(2);
  recur::set_num_threads(static_cast<int>(state.range(3)));
  const std::vector<float> a = random_vector(M * K, 1), w = random_vector(N * K, 2);
  std::vector<float> c(static_cast<size_t>(M * N));
  const recur::PackedMatrix<float> packed(Trans::kYes, K, N, w.data(), K);
  for (auto _ : state) {
    recur::gemm_packed(M, a.data(), K, packed, 0.f, c.data(), N);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPs"] =
      benchmark::Counter(2.0 * double(M * N * K), benchmark::Counter::kIsIterationInvariantRate);
  recur::set_num_threads(2);
}

// The backward step's product dh_prev (B, H) = dG (B, 4H) · W_hh (4H, H): through the seam and
// packed. Args: M, N (= H), K (= 4H), threads.
template <bool kPacked>
void BM_BackwardStepGemm(benchmark::State& state) {
  const index_t M = state.range(0), N = state.range(1), K = state.range(2);
  recur::set_num_threads(static_cast<int>(state.range(3)));
  const std::vector<float> a = random_vector(M * K, 1), w = random_vector(K * N, 2);
  std::vector<float> c(static_cast<size_t>(M * N));
  const recur::PackedMatrix<float> packed(Trans::kNo, K, N, w.data(), N);
  for (auto _ : state) {
    if constexpr (kPacked)
      recur::gemm_packed(M, a.data(), K, packed, 0.f, c.data(), N);
    else
      recur::gemm(Trans::kNo, Trans::kNo, M, N, K, 1.f, a.data(), K, w.data(), N, 0.f, c.data(), N);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPs"] =
      benchmark::Counter(2.0 * double(M * N * K), benchmark::Counter::kIsIterationInvariantRate);
  recur::set_num_threads(2);
}

void BackwardShapes(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2})
    for (index_t H : {128, 512}) b->Args({64, H, 4 * H, threads});
  b->ArgNames({"M", "N", "K", "threads"});
}

// One core reading a buffer of the given bytes again and again (sum into 128 lanes): the rate at
// which batch-1 generation can stream weights from where they live (L2, or L3 beyond 2 MiB).
// Counter "GBps" = bytes read per second.
void BM_StreamRead(benchmark::State& state) {
  const index_t n = state.range(0) / index_t(sizeof(float));
  const std::vector<float> data = random_vector(n, 3);
  constexpr int kLanes = 128;  // 8 independent 512-bit add chains
  for (auto _ : state) {
    float lanes[kLanes] = {};
    for (index_t i = 0; i + kLanes <= n; i += kLanes)
      for (int j = 0; j < kLanes; ++j) lanes[j] += data[static_cast<size_t>(i + j)];
    benchmark::DoNotOptimize(lanes);
  }
  state.counters["GBps"] =
      benchmark::Counter(double(n) * sizeof(float) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
// 1 MiB (L2), one H512 LSTM matrix (4 MiB), and what a 2×512 LSTM step reads per generated token
// with the embedding rows precomputed: W_hh_l0, W_ih_l1, W_hh_l1 and the decoder (12.7 MB).
BENCHMARK(BM_StreamRead)
    ->Name("stream_read_1thread")
    ->Arg(1 << 20)
    ->Arg(4 << 20)
    ->Arg(12716032)
    ->UseRealTime();

BENCHMARK(BM_LinearGemm<true>)->Name("gemm_seam")->Apply(RnnShapes)->UseRealTime();
BENCHMARK(BM_PackedGemm)->Name("gemm_packed")->Apply(RnnShapes)->UseRealTime();
BENCHMARK(BM_BackwardStepGemm<false>)->Name("gemm_seam_backward_step")->Apply(BackwardShapes)->UseRealTime();
BENCHMARK(BM_BackwardStepGemm<true>)->Name("gemm_packed_backward_step")->Apply(BackwardShapes)->UseRealTime();
BENCHMARK(BM_LinearGemm<false>)
    ->Name("gemm_backend_1thread")
    ->Args({1, 2048, 512, 1})
    ->Args({64, 2048, 512, 1})
    ->ArgNames({"M", "N", "K", "threads"})
    ->UseRealTime();

}  // namespace
