// Trainer: the training loop every task shares, with exact resume.
//
//   for each iteration:  loss = task.training_batch(epoch, index)  → backward → clip → (skip if not
//                        finite) → optimizer step → schedule events → progress, metrics.jsonl
//   every eval_every:    task.validate() → best.safetensors (model only) when the task's best
//                        metric improves, last.safetensors (model + everything --resume needs),
//                        loss.svg
//
// A task (a model and its data: a character LM, later a tagger or a seq2seq model) plugs in by
// implementing TrainingTask. The trainer owns the counters, the clipping and non-finite policy, the
// dropout RNG, checkpoints and reporting; the task owns batches, the forward pass and whatever
// state it carries between batches (the hidden state of truncated BPTT), which it saves and restores
// through the same checkpoint.
//
// Resume is exact: restore() brings back weights (the task loaded them), optimizer state, the
// schedule, the RNG, the iteration and the task's carried state, so training k iterations, stopping
// and resuming to N gives the weights of training N straight through, bit for bit (same threads).
// SIGINT (Ctrl-C), SIGTERM and SIGHUP finish the current iteration, save last.safetensors and return.
// The checkpoint directory is not locked here: hold a train::RunDirectory (train/run_directory.h)
// around the run, as `recur train` does.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "recur/autograd/tape.h"
#include "recur/io/safetensors.h"
#include "recur/rng.h"
#include "recur/train/optimizer.h"
#include "recur/train/progress.h"
#include "recur/train/schedule.h"

namespace recur::train {

class MetricsLog;
class LossPlot;

// Validation metrics by name: {"loss": 1.38} for a language model, {"loss": …, "accuracy": …} for a
// classifier. Ordered by name, so metrics.jsonl and messages list them the same way every time.
using Metrics = std::map<std::string, double>;

// The metric that selects best.safetensors, and its direction: loss and RMSE lower is better;
// accuracy, F1 and BLEU higher.
struct BestMetric {
  std::string name = "loss";
  bool higher_is_better = false;
};

// One training batch: its mean loss on the tape and how many tokens (predictions, elements) it
// holds, for the tokens column of metrics.jsonl and the progress rate.
struct TrainingBatch {
  ag::Var<float> loss;
  std::int64_t tokens = 0;
};

// A model and its data, as the trainer sees them. A small task writes params(), its batches and
// its loss, and model_file(); the rest has defaults.
class TrainingTask {
 public:
  virtual ~TrainingTask() = default;
  virtual nn::ParameterTable<float>& params() = 0;
  // Batches in one pass over the training data (an epoch).
  virtual long batches_per_epoch() const = 0;
  // Records the mean loss of training batch `index` of epoch `epoch` (0 ≤ index <
  // batches_per_epoch()) on `tape`.
  virtual TrainingBatch training_batch(ag::Tape<float>& tape, long epoch, long index, Rng& rng) = 0;
  // After each iteration: whether the optimizer step was applied (false: the loss or gradient was
  // not finite and the step was skipped).
  virtual void after_step(bool /*applied*/) {}
  virtual bool has_validation() const { return false; }
  // The validation metrics (called only when has_validation()); must include best_metric().name.
  virtual Metrics validate() { return {}; }
  virtual BestMetric best_metric() const { return {}; }
  // The validation loss of guessing uniformly (ln K for K outcomes), or NaN where the task has no
  // such loss. A model whose validation loss is over kDivergedOverGuessing times it has diverged:
  // the trainer never saves it and stops the run.
  virtual double guessing_loss() const { return std::numeric_limits<double>::quiet_NaN(); }
  // Called after best.safetensors was written in `dir`: files that describe the best model's
  // validation beside it (a tagger's per-tag table and confusion matrix).
  virtual void write_best_reports(const std::filesystem::path& /*dir*/) const {}
  // The model as a file that stands alone (tensors and the metadata a reader needs).
  virtual io::Safetensors model_file() const = 0;
  // State carried between batches, in and out of last.safetensors (tensor names under "train.").
  virtual void save_state(io::Safetensors& /*file*/) const {}
  virtual void load_state(const io::Safetensors& /*file*/) {}
};

// A validation loss this many times that of guessing uniformly is a diverged model, not a poor one:
// orders of magnitude above where training starts (ln K) and above any model that learned anything.
inline constexpr double kDivergedOverGuessing = 10.0;

enum class ClipMode { kNorm, kValue };

struct TrainerOptions {
  long total_iterations = 0;
  long eval_every = 1000;
  double grad_clip = 5.0;
  ClipMode clip_mode = ClipMode::kNorm;
  int max_nonfinite_steps = 10;
  std::filesystem::path checkpoint_dir = "cv";
  ProgressOptions progress;
  std::string plot_title;
  std::vector<std::pair<double, std::string>> reference_lines;  // drawn on loss.svg
  // Saved verbatim in recur.train["options"]: the settings a program needs to rebuild the run.
  nlohmann::ordered_json run_settings;
  // An exponential moving average of the weights (Polyak averaging; Marian's exponential
  // smoothing), 0 for none. After each applied step s (1, 2, …):
  //   avg ← avg + (1 − d)(w − avg),  d = min(ema_decay, (1 + s) / (10 + s))
  // (the warm-up keeps the first steps from weighing for long). Validation, best.safetensors and
  // the model in last.safetensors are the average; last.safetensors also keeps the raw weights
  // ("train.ema.raw"), from which training continues.
  double ema_decay = 0.0;
};

class Trainer {
 public:
  Trainer(TrainingTask& task, Optimizer<float>& optimizer, LrSchedule& schedule, Rng& rng,
          TrainerOptions options);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Restores a run saved in last.safetensors (the task's weights are already loaded).
  void restore(const io::Safetensors& file);

  // Trains to total_iterations, or until SIGINT, SIGTERM or SIGHUP. Throws after max_nonfinite_steps
  // non-finite steps in a row, or at an evaluation that finds the model diverged (see
  // guessing_loss()), leaving the last checkpoint and best.safetensors as they were.
  void run();

  // Prints a line without tearing the progress bar (valid during and after run()).
  void message(const std::string& text);

  long iteration() const { return iteration_; }
  // Names this run in every checkpoint it writes (recur.train and recur.best "run"): 16 random hex
  // digits drawn when the run starts, kept by --resume. Tells a copy of a run's checkpoint from
  // another run's.
  const std::string& run_id() const { return run_id_; }
  // The best value of the task's best_metric() so far (±inf before any validation).
  double best_value() const { return best_value_; }
  long best_iteration() const { return best_iteration_; }
  // Whether run() stopped early for SIGINT, SIGTERM or SIGHUP (after saving), and which.
  bool interrupted() const { return interrupt_signal_ != 0; }
  int interrupt_signal() const { return interrupt_signal_; }

 private:
  void evaluate_and_save(bool final_evaluation);
  void write_train_record(double epoch);  // the window's "train" record in metrics.jsonl
  void save(const std::filesystem::path& path, bool with_training_state) const;
  // What a run that stops on a diverged model leaves: the last good checkpoint, or none.
  std::string last_good_checkpoint() const;
  // Exchanges the weights with average_ (with ema_decay: around an evaluation, so that it and the
  // files see the average); weights_are_average_ says which holds which.
  void swap_average();
  void update_average();

  TrainingTask& task_;
  Optimizer<float>& optimizer_;
  LrSchedule& schedule_;
  Rng& rng_;
  TrainerOptions options_;
  bool improves(double value) const;

  BestMetric best_metric_;
  // The validation metric that drives the schedule (a plateau's): the one that selects the best
  // model; "loss" in runs saved before it was recorded, which followed the loss.
  std::string schedule_metric_;
  long iteration_ = 0, best_iteration_ = 0;
  std::int64_t tokens_ = 0;
  int nonfinite_in_row_ = 0;
  double best_value_;
  int interrupt_signal_ = 0;
  std::string run_id_;
  Tensor<float> average_;  // with ema_decay: the moving average of every weight (flat); else empty
  bool weights_are_average_ = false;
  // The checkpoint this run last saved or resumed from (empty: none yet).
  std::filesystem::path last_good_;
  std::unique_ptr<ProgressReporter> progress_;
  std::unique_ptr<MetricsLog> metrics_;
  std::unique_ptr<LossPlot> plot_;
  // The iterations since the last "train" record: sums over the finite steps, and the skipped ones.
  struct LogWindow {
    double loss = 0, grad_norm = 0;
    long steps = 0, skipped = 0;
  };
  LogWindow window_;
};

// The run a checkpoint written by Trainer belongs to (Trainer::run_id()), if it names one (files
// before run ids, or not a trainer's, do not).
std::optional<std::string> run_id_of(const io::Safetensors& file);

// Scales every gradient element into [-limit, limit]; returns the L2 norm before clipping.
float clip_grad_value(nn::ParameterTable<float>& params, float limit);

}  // namespace recur::train
