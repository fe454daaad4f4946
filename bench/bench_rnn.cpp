// One fused recurrent layer (nn/scan.h) over T = 100 steps, unidirectional, input size I = H, called
// on raw buffers so no tape is involved: inference forward (no trace: the input projection runs step
// by step), training forward (with a ScanTrace: one input-projection GEMM over all T·B rows) and the
// training step of the layer (training forward, then backward with every weight gradient and dx).
// Inputs, weights, gradients and the trace are allocated once per case; what scan_forward and
// scan_backward allocate internally (projections, gate gradients, scratch) is part of the time.
// One more case runs the LSTM training step through the tape (layers::Rnn::forward, then
// tape.backward of the output's sum) to show the tape's overhead.
//
// Counters: "tokens/s" = T·B per iteration; "GFLOPs" = GEMM FLOPs per second, forward 2·G·H·(I+H)
// per token (G = 4 LSTM, 3 GRU, 1 RNN), forward + backward 3x that (dx, dW_ih, dW_hh and the
// per-step dh GEMM double the forward). Threads follow RECUR_NUM_THREADS (default: the cores)
// except in the "threads" cases.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "recur/autograd/functions.h"
#include "recur/layers/rnn.h"
#include "recur/nn/scan.h"
#include "recur/rng.h"
#include "recur/threads.h"

namespace {

using recur::index_t;
using recur::nn::CellKind;

constexpr index_t kT = 100;

enum class Mode { kInference, kTrainingForward, kTrainingStep };

std::vector<float> random_vector(index_t n, float bound, std::uint64_t seed) {
  recur::Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = rng.uniform<float>(-bound, bound);
  return v;
}

// GEMM FLOPs of one forward token: 2·G·H·(I+H).
double forward_flops_per_token(CellKind kind, index_t I, index_t H) {
  return 2.0 * recur::nn::gate_count(kind) * double(H) * double(I + H);
}

void set_counters(benchmark::State& state, CellKind kind, index_t B, index_t H, bool backward) {
  const double tokens = double(kT * B);
  state.counters["tokens/s"] = benchmark::Counter(tokens, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOPs"] =
      benchmark::Counter((backward ? 3.0 : 1.0) * tokens * forward_flops_per_token(kind, H, H),
                         benchmark::Counter::kIsIterationInvariantRate);
}

// Everything one layer reads and writes, allocated once (PyTorch's U(±1/√H) weights).
struct Layer {
  Layer(CellKind cell, index_t B, index_t H)
      : kind(cell),
        dims{kT, B, H, H},
        trace(kind, dims),
        x(random_vector(kT * B * H, 1.f, 1)),
        W_ih(random_vector(gate_count() * H * H, bound(), 2)),
        W_hh(random_vector(gate_count() * H * H, bound(), 3)),
        b_ih(random_vector(gate_count() * H, bound(), 4)),
        b_hh(random_vector(gate_count() * H, bound(), 5)),
        y(size(kT * B * H)),
        h_n(size(B * H)),
        c_n(size(B * H)),
        dy(size(kT * B * H), 1.f),  // the gradient of sum(y)
        dW_ih(W_ih.size()),
        dW_hh(W_hh.size()),
        db_ih(b_ih.size()),
        db_hh(b_hh.size()),
        dx(x.size()) {
    weights.W_ih = W_ih.data();
    weights.W_hh = W_hh.data();
    weights.b_ih = b_ih.data();
    weights.b_hh = b_hh.data();
    grads.dW_ih = dW_ih.data();
    grads.dW_hh = dW_hh.data();
    grads.db_ih = db_ih.data();
    grads.db_hh = db_hh.data();
    grads.dx = dx.data();
  }

  static size_t size(index_t n) { return static_cast<size_t>(n); }
  index_t gate_count() const { return recur::nn::gate_count(kind); }
  float bound() const { return 1.f / std::sqrt(float(dims.H)); }

  void forward(bool training) {
    recur::nn::scan_forward<float>(kind, dims, recur::nn::Direction::kForward, weights, x.data(), nullptr,
                                   nullptr, nullptr, y.data(), h_n.data(), c_n.data(),
                                   training ? &trace : nullptr);
  }
  void backward() {
    recur::nn::scan_backward<float>(kind, dims, recur::nn::Direction::kForward, weights, x.data(), nullptr,
                                    trace, dy.data(), nullptr, nullptr, grads);
  }

  CellKind kind;
  recur::nn::ScanDims dims;
  recur::nn::ScanTrace<float> trace;
  std::vector<float> x, W_ih, W_hh, b_ih, b_hh, y, h_n, c_n, dy, dW_ih, dW_hh, db_ih, db_hh, dx;
  recur::nn::ScanWeights<float> weights;
  recur::nn::ScanGrads<float> grads;
};

// Args: H, B, and with kThreadsArg the thread count (else the default num_threads()).
template <CellKind kKind, Mode kMode, bool kThreadsArg = false>
void BM_FusedLayer(benchmark::State& state) {
  const index_t H = state.range(0), B = state.range(1);
  const int previous_threads = recur::num_threads();
  if constexpr (kThreadsArg) recur::set_num_threads(static_cast<int>(state.range(2)));
  Layer layer(kKind, B, H);
  for (auto _ : state) {
    layer.forward(kMode != Mode::kInference);
    if constexpr (kMode == Mode::kTrainingStep) layer.backward();
    benchmark::DoNotOptimize(layer.y.data());
    benchmark::DoNotOptimize(layer.dx.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, kKind, B, H, kMode == Mode::kTrainingStep);
  recur::set_num_threads(previous_threads);
}

// The same LSTM training step through the tape: Rnn::forward records the fused layer as one node,
// tape.backward(sum(y)) runs it backward (dy = ones, as in the raw case; dx included).
void BM_LstmTapeStep(benchmark::State& state) {
  const index_t H = state.range(0), B = state.range(1);
  recur::nn::ParameterTable<float> params;
  recur::layers::RnnOptions options;
  options.cell = CellKind::kLstm;
  options.input_size = H;
  options.hidden_size = H;
  const recur::layers::Rnn<float> rnn(params, options);
  params.freeze();
  recur::Rng rng(2);
  rnn.init(rng);
  const std::vector<float> x_values = random_vector(kT * B * H, 1.f, 1);
  const recur::Tensor<float> x(recur::Shape{kT, B, H}, x_values);
  recur::ag::Tape<float> tape;
  for (auto _ : state) {
    tape.clear();
    const recur::ag::Var<float> input = tape.variable(x);
    const recur::layers::RnnResult<float> r = rnn.forward(input, {}, {}, /*training=*/true);
    tape.backward(recur::ag::sum(r.output));
    benchmark::DoNotOptimize(params.flat_grads().data());
    benchmark::ClobberMemory();
  }
  set_counters(state, CellKind::kLstm, B, H, true);
}

void LstmShapes(benchmark::internal::Benchmark* b) {
  for (index_t H : {128, 512})
    for (index_t B : {1, 32, 64}) b->Args({H, B});
  b->ArgNames({"H", "B"});
}
void LargeShape(benchmark::internal::Benchmark* b) {
  b->Args({512, 64})->ArgNames({"H", "B"});
}
void ThreadPair(benchmark::internal::Benchmark* b) {
  b->Args({512, 64, 1})->Args({512, 64, 2})->ArgNames({"H", "B", "threads"});
}

BENCHMARK(BM_FusedLayer<CellKind::kLstm, Mode::kInference>)
    ->Name("lstm_forward_inference")
    ->Apply(LstmShapes)
    ->UseRealTime();
BENCHMARK(BM_FusedLayer<CellKind::kLstm, Mode::kTrainingForward>)
    ->Name("lstm_forward_training")
    ->Apply(LstmShapes)
    ->UseRealTime();
BENCHMARK(BM_FusedLayer<CellKind::kLstm, Mode::kTrainingStep>)
    ->Name("lstm_forward_backward")
    ->Apply(LstmShapes)
    ->UseRealTime();
BENCHMARK(BM_FusedLayer<CellKind::kGru, Mode::kInference>)
    ->Name("gru_forward_inference")
    ->Apply(LargeShape)
    ->UseRealTime();
BENCHMARK(BM_FusedLayer<CellKind::kGru, Mode::kTrainingForward>)
    ->Name("gru_forward_training")
    ->Apply(LargeShape)
    ->UseRealTime();
BENCHMARK(BM_FusedLayer<CellKind::kGru, Mode::kTrainingStep>)
    ->Name("gru_forward_backward")
    ->Apply(LargeShape)
    ->UseRealTime();
BENCHMARK(BM_FusedLayer<CellKind::kRnnTanh, Mode::kInference>)
    ->Name("rnn_tanh_forward_inference")
    ->Apply(LargeShape)
    ->UseRealTime();
BENCHMARK(BM_FusedLayer<CellKind::kRnnTanh, Mode::kTrainingForward>)
    ->Name("rnn_tanh_forward_training")
    ->Apply(LargeShape)
    ->UseRealTime();
BENCHMARK(BM_FusedLayer<CellKind::kRnnTanh, Mode::kTrainingStep>)
    ->Name("rnn_tanh_forward_backward")
    ->Apply(LargeShape)
    ->UseRealTime();
BENCHMARK(BM_FusedLayer<CellKind::kLstm, Mode::kTrainingStep, true>)
    ->Name("lstm_forward_backward_threads")
    ->Apply(ThreadPair)
    ->UseRealTime();
BENCHMARK(BM_LstmTapeStep)
    ->Name("lstm_forward_backward_tape")
    ->Args({512, 64})
    ->ArgNames({"H", "B"})
    ->UseRealTime();

}  // namespace
