// recur_adding: a recurrent network learns the adding problem (adding_task.h), trained by
// train::Trainer like every recur task: progress, metrics.jsonl, loss.svg, best/last checkpoints in
// --checkpoint-dir, Adam with gradient-norm clipping.
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "adding_task.h"
#include "recur/threads.h"
#include "recur/train/optimizer.h"
#include "recur/train/schedule.h"

int main(int argc, char** argv) {
  recur::examples::AddingConfig config;
  int steps = 2000, log_every = 250;
  double lr = 1e-2, clip = 1.0;
  std::string checkpoint_dir = "adding_run";
  CLI::App app{"recur demo: a recurrent network learns the adding problem"};
  app.add_option("--seq-len", config.seq_len, "sequence length T")
      ->check(CLI::Range(4, 1000))
      ->capture_default_str();
  app.add_option("--hidden", config.hidden, "hidden size H")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--num-layers", config.num_layers, "stacked layers")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  app.add_option("--cell", config.cell, "rnn_tanh, rnn_relu, lstm, gru, gru_reset_before or jordan")
      ->capture_default_str();
  app.add_option("--batch", config.batch, "batch size B")->check(CLI::Range(1, 4096))->capture_default_str();
  app.add_option("--steps", steps, "training steps")->check(CLI::Range(1, 10000000))->capture_default_str();
  app.add_option("--lr", lr, "Adam learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--clip", clip, "gradient-norm clip")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--log-every", log_every, "steps between validations")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--seed", config.seed, "random seed")->capture_default_str();
  app.add_option("--checkpoint-dir", checkpoint_dir, "best/last.safetensors, metrics.jsonl, loss.svg")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    recur::examples::AddingTask task(config);
    recur::train::AdamOptions adam;
    adam.lr = lr;
    const auto optimizer = recur::train::make_optimizer(task.params(), adam);
    const auto schedule = recur::train::make_schedule(lr, recur::train::ConstantOptions{});
    recur::Rng rng(config.seed, 3);
    recur::train::TrainerOptions t;
    t.total_iterations = steps;
    t.eval_every = log_every;
    t.grad_clip = clip;
    t.checkpoint_dir = checkpoint_dir;
    t.progress.mode = recur::train::ProgressOptions::Mode::kLog;
    t.progress.log_every = log_every;
    t.plot_title = fmt::format("adding problem, {} H={} T={}", config.cell, config.hidden, config.seq_len);
    t.reference_lines = {{1.0 / 6.0, "predict 1"}};
    recur::train::Trainer trainer(task, *optimizer, *schedule, rng, t);
    fmt::print("adding problem: {} T={} H={} B={} steps={} lr={} threads={} params={}\n", config.cell,
               config.seq_len, config.hidden, config.batch, steps, lr, recur::num_threads(),
               task.params().numel());
    fmt::print("baseline (always predict 1): MSE {:.4f}; initial held-out MSE {:.4f}\n", 1.0 / 6.0,
               task.held_out_mse());
    std::fflush(stdout);
    trainer.run();
    fmt::print("best held-out MSE {:.4f} at step {} ({:.1f}x below the baseline); final {:.4f}\n",
               trainer.best_value(), trainer.best_iteration(), (1.0 / 6.0) / trainer.best_value(),
               task.held_out_mse());
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
