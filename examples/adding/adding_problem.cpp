// The adding problem (Hochreiter & Schmidhuber 1997): a sequence of T pairs (value ~ U[0,1],
// marker ∈ {0,1}) with exactly two markers, one in each half; the target is the sum of the two
// marked values. Predicting the constant 1 gives MSE 1/6 ≈ 0.167, so a model is learning once its
// MSE falls clearly below that; the task needs memory across up to T steps.
//
// Model: one fused recurrent layer (LSTM by default; --cell picks any of recur's cells) and a linear
// read-out of the last hidden state, trained with Adam and gradient clipping.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>

#include "recur/autograd/functions.h"
#include "recur/init.h"
#include "recur/layers/rnn.h"
#include "recur/threads.h"
#include "recur/train/optimizer.h"

namespace {

using recur::index_t;
using recur::Rng;
using recur::Shape;
using recur::Tensor;
namespace ag = recur::ag;
namespace nn = recur::nn;

struct Config {
  index_t seq_len = 50;
  index_t hidden = 32;
  std::string cell = "lstm";
  index_t batch = 32;
  int steps = 2000;
  double lr = 1e-2;
  double clip = 1.0;
  int log_every = 250;
  std::uint64_t seed = 1;
};

struct Batch {
  Tensor<float> inputs;   // (T, B, 2) time-major
  Tensor<float> targets;  // (B, 1)
};

Batch make_batch(index_t T, index_t B, Rng& rng) {
  Batch batch;
  batch.inputs = Tensor<float>(Shape{T, B, 2});
  batch.targets = Tensor<float>(Shape{B, 1});
  const auto half = static_cast<std::uint32_t>(T / 2);
  for (index_t b = 0; b < B; ++b) {
    const index_t first = rng.below(half), second = half + rng.below(static_cast<std::uint32_t>(T) - half);
    for (index_t t = 0; t < T; ++t) {
      const float value = rng.uniform_float();
      const bool marked = t == first || t == second;
      batch.inputs[(t * B + b) * 2] = value;
      batch.inputs[(t * B + b) * 2 + 1] = marked ? 1.0f : 0.0f;
      if (marked) batch.targets[b] += value;
    }
  }
  return batch;
}

// A stacked recurrent layer (any cell) and a linear read-out of the top layer's last state.
class AddingModel {
 public:
  AddingModel(recur::nn::CellKind cell, index_t hidden, Rng& rng)
      : rnn_(params_, {.cell = cell, .input_size = 2, .hidden_size = hidden}, "rnn.") {
    W_out_ = params_.add("head.weight", {1, hidden});
    b_out_ = params_.add("head.bias", {1});
    params_.freeze();
    rnn_.init(rng);  // PyTorch's default: U(±1/sqrt(H))
    const auto k = static_cast<float>(1.0 / std::sqrt(double(hidden)));
    for (int id : {W_out_, b_out_}) {
      Tensor<float> v = params_.value(id);
      recur::init::uniform(v, -k, k, rng);
    }
  }

  nn::ParameterTable<float>& params() { return params_; }

  // Returns the prediction (B, 1) for a batch.
  ag::Var<float> forward(ag::Tape<float>& tape, const Batch& batch) const {
    const recur::layers::RnnResult<float> r = rnn_.forward(tape.constant(batch.inputs));
    return ag::linear(r.final_state.h.back(), ag::param(tape, params_, W_out_),
                      ag::param(tape, params_, b_out_));
  }

 private:
  nn::ParameterTable<float> params_;
  recur::layers::Rnn<float> rnn_;
  int W_out_, b_out_;
};

float evaluate(const AddingModel& model, const Batch& batch) {
  ag::Tape<float> tape;
  ag::NoGrad<float> no_grad(tape);
  return ag::mse(model.forward(tape, batch), tape.constant(batch.targets)).item();
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  CLI::App app{"recur demo: an LSTM learns the adding problem"};
  app.add_option("--seq-len", config.seq_len, "sequence length T")->check(CLI::Range(4, 1000));
  app.add_option("--hidden", config.hidden, "hidden size H")->check(CLI::Range(1, 4096));
  app.add_option("--cell", config.cell, "rnn_tanh, rnn_relu, lstm, gru, gru_reset_before or jordan")
      ->capture_default_str();
  app.add_option("--batch", config.batch, "batch size B")->check(CLI::Range(1, 4096));
  app.add_option("--steps", config.steps, "training steps")->check(CLI::Range(1, 10000000));
  app.add_option("--lr", config.lr, "Adam learning rate")->check(CLI::PositiveNumber);
  app.add_option("--clip", config.clip, "gradient-norm clip")->check(CLI::PositiveNumber);
  app.add_option("--log-every", config.log_every, "steps between progress lines")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--seed", config.seed, "random seed");
  CLI11_PARSE(app, argc, argv);

  try {
    Rng rng(config.seed);
    AddingModel model(recur::nn::parse_cell_kind(config.cell), config.hidden, rng);
    recur::train::Adam<float> adam(model.params(), {.lr = config.lr});
    Rng data_rng(config.seed, /*stream=*/1);
    Rng eval_rng(config.seed, /*stream=*/2);
    const Batch held_out = make_batch(config.seq_len, 512, eval_rng);

    fmt::print("adding problem: {} T={} H={} B={} steps={} lr={} threads={} params={}\n", config.cell,
               config.seq_len, config.hidden, config.batch, config.steps, config.lr, recur::num_threads(),
               model.params().numel());
    fmt::print("baseline (always predict 1): MSE {:.4f}; initial held-out MSE {:.4f}\n", 1.0 / 6.0,
               evaluate(model, held_out));
    const auto start = std::chrono::steady_clock::now();
    double running = 0;
    int in_window = 0;
    for (int step = 1; step <= config.steps; ++step) {
      const Batch batch = make_batch(config.seq_len, config.batch, data_rng);
      ag::Tape<float> tape;
      model.params().zero_grad();
      const ag::Var<float> loss = ag::mse(model.forward(tape, batch), tape.constant(batch.targets));
      tape.backward(loss);
      recur::train::clip_grad_norm(model.params(), static_cast<float>(config.clip));
      adam.step();
      running += loss.item();
      ++in_window;
      if (step % config.log_every == 0 || step == config.steps) {
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        fmt::print("step {:6d}  train MSE {:.4f}  held-out MSE {:.4f}  ({:.1f} s)\n", step,
                   running / in_window, evaluate(model, held_out), seconds);
        std::fflush(stdout);
        running = 0;
        in_window = 0;
      }
    }
    const float final_mse = evaluate(model, held_out);
    fmt::print("final held-out MSE {:.4f} ({:.1f}x below the baseline)\n", final_mse,
               (1.0 / 6.0) / final_mse);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
