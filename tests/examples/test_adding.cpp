// examples/adding on train::Trainer: a short run learns the adding problem (held-out MSE far below
// the 1/6 of always predicting 1) and writes the run directory every task writes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "adding_task.h"
#include "recur/threads.h"
#include "recur/train/optimizer.h"
#include "recur/train/schedule.h"

namespace recur::examples {
namespace {

namespace fs = std::filesystem;

TEST(AddingExample, AShortRunLearnsTheProblem) {
  const fs::path dir = fs::temp_directory_path() / ("recur_adding_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  set_num_threads(1);
  AddingConfig config;
  config.seq_len = 20;
  config.hidden = 16;
  config.batch = 32;
  config.batches_per_epoch = 100;
  AddingTask task(config);
  const double before = task.held_out_mse();
  train::AdamOptions adam;
  adam.lr = 1e-2;
  const auto optimizer = train::make_optimizer(task.params(), adam);
  const auto schedule = train::make_schedule(adam.lr, train::ConstantOptions{});
  Rng rng(1, 3);
  train::TrainerOptions t;
  t.total_iterations = 1000;
  t.eval_every = 250;
  t.grad_clip = 1.0;
  t.checkpoint_dir = dir;
  t.progress.mode = train::ProgressOptions::Mode::kLog;
  t.progress.log_every = 1000;
  train::Trainer trainer(task, *optimizer, *schedule, rng, t);
  trainer.run();
  // Predicting the constant 1 scores 1/6; a model that adds the two marked values scores near 0.
  constexpr double kBaseline = 1.0 / 6.0;
  EXPECT_GT(before, kBaseline / 2);
  EXPECT_LT(trainer.best_value(), kBaseline / 10) << "held-out MSE after 1000 steps";
  for (const char* f : {"best.safetensors", "last.safetensors", "metrics.jsonl", "loss.svg"})
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace recur::examples
