// The adding problem (Hochreiter & Schmidhuber 1997): a sequence of T pairs (value ~ U[0,1],
// marker ∈ {0,1}) with exactly two markers, one in each half; the target is the sum of the two
// marked values. Predicting the constant 1 gives MSE 1/6 ≈ 0.167, so a model is learning once its
// MSE falls clearly below that; the task needs memory across up to T steps.
//
// Model: one LSTM layer composed from tape ops (autograd/composed_cells.h) and a linear read-out of the last
// hidden state, trained with Adam and gradient clipping. This is the project's demo until the
// char-level language model exists.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>

#include "recur/autograd/functions.h"
#include "recur/autograd/composed_cells.h"
#include "recur/init.h"
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
  index_t batch = 32;
  int steps = 2000;
  double lr = 1e-2;
  double clip = 1.0;
  int log_every = 250;
  std::uint64_t seed = 1;
};

struct Batch {
  std::vector<Tensor<float>> inputs;  // T tensors of (B, 2)
  Tensor<float> targets;              // (B, 1)
};

Batch make_batch(index_t T, index_t B, Rng& rng) {
  Batch batch;
  for (index_t t = 0; t < T; ++t) batch.inputs.emplace_back(Shape{B, 2});
  batch.targets = Tensor<float>(Shape{B, 1});
  const auto half = static_cast<std::uint32_t>(T / 2);
  for (index_t b = 0; b < B; ++b) {
    const index_t first = rng.below(half), second = half + rng.below(static_cast<std::uint32_t>(T) - half);
    for (index_t t = 0; t < T; ++t) {
      const float value = rng.uniform_float();
      const bool marked = t == first || t == second;
      batch.inputs[t][b * 2] = value;
      batch.inputs[t][b * 2 + 1] = marked ? 1.0f : 0.0f;
      if (marked) batch.targets[b] += value;
    }
  }
  return batch;
}

class AddingModel {
 public:
  AddingModel(index_t hidden, Rng& rng) : hidden_(hidden) {
    W_ih_ = params_.add("lstm.weight_ih_l0", {4 * hidden, 2});
    W_hh_ = params_.add("lstm.weight_hh_l0", {4 * hidden, hidden});
    b_ih_ = params_.add("lstm.bias_ih_l0", {4 * hidden});
    b_hh_ = params_.add("lstm.bias_hh_l0", {4 * hidden});
    W_out_ = params_.add("head.weight", {1, hidden});
    b_out_ = params_.add("head.bias", {1});
    params_.freeze();
    // PyTorch's default: every LSTM/Linear parameter ~ U(±1/sqrt(H)).
    const auto k = static_cast<float>(1.0 / std::sqrt(double(hidden)));
    for (int id = 0; id < params_.size(); ++id) {
      Tensor<float> v = params_.value(id);
      recur::init::uniform(v, -k, k, rng);
    }
  }

  nn::ParameterTable<float>& params() { return params_; }

  // Returns the prediction (B, 1) for a batch.
  ag::Var<float> forward(ag::Tape<float>& tape, const Batch& batch) const {
    const index_t B = batch.targets.dim(0);
    recur::ag::LstmState<float> state{tape.constant(Tensor<float>(Shape{B, hidden_})),
                                      tape.constant(Tensor<float>(Shape{B, hidden_}))};
    const auto W_ih = ag::param(tape, params_, W_ih_), W_hh = ag::param(tape, params_, W_hh_);
    const auto b_ih = ag::param(tape, params_, b_ih_), b_hh = ag::param(tape, params_, b_hh_);
    for (const Tensor<float>& x : batch.inputs)
      state = recur::ag::lstm_cell_composed(tape.constant(x), state, W_ih, W_hh, b_ih, b_hh);
    return ag::linear(state.h, ag::param(tape, params_, W_out_), ag::param(tape, params_, b_out_));
  }

 private:
  index_t hidden_;
  nn::ParameterTable<float> params_;
  int W_ih_, W_hh_, b_ih_, b_hh_, W_out_, b_out_;
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
  app.add_option("--hidden", config.hidden, "LSTM hidden size H")->check(CLI::Range(1, 4096));
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
    AddingModel model(config.hidden, rng);
    recur::train::Adam<float> adam(model.params(), {.lr = config.lr});
    Rng data_rng(config.seed, /*stream=*/1);
    Rng eval_rng(config.seed, /*stream=*/2);
    const Batch held_out = make_batch(config.seq_len, 512, eval_rng);

    fmt::print("adding problem: T={} H={} B={} steps={} lr={} threads={} params={}\n", config.seq_len,
               config.hidden, config.batch, config.steps, config.lr, recur::num_threads(),
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
