// The flags every `recur train TASK` shares — optimizer, schedule, clipping, the run, resume,
// threads and progress — defined once, with the machinery around them: --config, the resolved
// config.toml, and --resume (which takes the run's settings from the checkpoint; a flag given again
// with the value the run has is accepted, a change is an error unless the flag may change).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "recur/io/safetensors.h"
#include "recur/train/optimizer.h"
#include "recur/train/schedule.h"
#include "recur/train/trainer.h"
#include "settings.h"

namespace recur::cli {

struct TrainerFlags {
  index_t batch_size = 50;  // each task sets its own default before add_trainer_flags
  // optimization
  std::string optimizer = "rmsprop";
  double learning_rate = 2e-3;
  double decay_rate = 0.95;  // RMSprop's alpha (char-rnn's name)
  double momentum = 0.9;     // for --optimizer momentum
  double weight_decay = 0.0;
  double grad_clip = 5.0;
  std::string clip_mode = "norm";
  double ema = 0.0;  // decay of the weights' moving average; 0: none
  std::string lr_schedule = "char-rnn";
  double learning_rate_decay = 0.97;
  int learning_rate_decay_after = 10;
  double plateau_factor = 0.5;
  int plateau_patience = 1;
  long warmup_iters = 0;
  double min_lr = 0.0;
  // run
  int max_epochs = 50;
  long max_iters = 0;
  long eval_val_every = 1000;
  std::uint64_t seed = 123;
  std::string checkpoint_dir = "cv";
  int max_nonfinite_steps = 10;
  std::string val_data, test_data;  // see add_data_flags
  std::string init_from, resume, config, progress = "auto";
  bool overwrite = false;
  long log_every = 100;
  int threads = 0;
};

// Adds the shared flags to a task's `train` subcommand, in groups shown by --help.
void add_trainer_flags(CLI::App& command, TrainerFlags& flags);

// The data flags every task shares: --data (the task's own help and default), --val-data (the
// task reads it as its validation set instead of a split of --data) and --test-data (scored by
// evaluate_test_data with the best model when training ends).
void add_data_flags(CLI::App& command, std::string& data, const std::string& data_help, TrainerFlags& flags,
                    const std::string& group);

// --test-data: the best model (else the last) of the run evaluated on the file through its task
// (models::open_checkpoint → TaskModel::evaluate), printed and appended to metrics.jsonl as
// {"event": "test", "test_<metric>": …}. Does nothing without --test-data.
void evaluate_test_data(const TrainerFlags& flags);

// The model flags whose names every recurrent task shares (--model, --rnn-size, --num-layers,
// --embedding-size, --dropout), with the task's defaults and help group. --model takes the
// recurrent cells and the task's `other_models` (the LM's "window").
void add_model_flags(CLI::App& command, std::string& model, index_t& rnn_size, int& num_layers,
                     index_t& embedding_size, double& dropout, const std::string& group,
                     const std::vector<std::string>& other_models = {});

// The run's settings, applied in the task's train callback before anything else:
// --config FILE fills flags not given on the command line; --resume FILE fills them from the
// checkpoint and checks the given ones. Returns the resume checkpoint when there is one.
std::optional<io::Safetensors> resolve_settings(CLI::App& command, TrainerFlags& flags,
                                                const std::string& task);

// Checks the shared choices (optimizer, schedule, clip mode, progress) once settings are final.
void check_trainer_flags(const TrainerFlags& flags);

// The settings to save in recur.train and config.toml: every flag except --resume, --config and
// --init-from's when resuming.
Settings run_settings(const CLI::App& command);

// What the trainer needs from the flags; `total` iterations (from --max-iters or --max-epochs).
std::unique_ptr<train::Optimizer<float>> make_optimizer(const TrainerFlags& flags,
                                                        nn::ParameterTable<float>& params);
std::unique_ptr<train::LrSchedule> make_schedule(const TrainerFlags& flags, long total);
// --eval-val-every 0: once per epoch of `batches_per_epoch`.
train::TrainerOptions trainer_options(const TrainerFlags& flags, long total, long batches_per_epoch,
                                      const Settings& settings);
// --max-iters, or --max-epochs × batches per epoch.
long total_iterations(const TrainerFlags& flags, long batches_per_epoch);

// Writes <checkpoint-dir>/config.toml (atomically).
void write_run_config(const TrainerFlags& flags, const Settings& settings, const std::string& task);

// The closing lines: how to continue an interrupted run, the best metric, the next command
// ("sample with: recur sample"). Then, for a run a signal stopped, throws ExitCode{128 + signal}.
void print_run_summary(const train::Trainer& trainer, const TrainerFlags& flags, const std::string& task,
                       const std::string& metric, const std::string& next_command);

}  // namespace recur::cli
