// Learning-rate schedules. A training loop reports three kinds of event, and each schedule reacts to
// the ones it is defined by:
//
//   on_step()              after every optimizer step            CosineSchedule
//   on_epoch_end()         after each full pass over the data    CharRnnDecay
//   on_validation(loss)    after each evaluation on held-out     PlateauSchedule
//
// and learning_rate() is the rate for the next optimizer step:
//
//   for (...) { opt.set_learning_rate(T(schedule.learning_rate())); opt.step(); schedule.on_step(); ... }
//
// Resume: state() is a few named numbers (counters, the current rate, the best loss) and
// load_state() restores them, so a resumed schedule produces the same rates bit for bit.
// Schedules compute in double whatever the optimizer's scalar type.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace recur::train {

using ScheduleState = std::vector<std::pair<std::string, double>>;

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual std::string name() const = 0;      // "constant", "char_rnn_decay", "plateau", "cosine"
  virtual std::string describe() const = 0;  // name and options, for logs
  virtual double learning_rate() const = 0;  // for the next optimizer step

  virtual void on_step() {}
  virtual void on_epoch_end() {}
  virtual void on_validation(double /*loss*/) {}

  virtual ScheduleState state() const = 0;
  // Checks the names (same order as state()) and the values' ranges; changes nothing on error.
  virtual void load_state(const ScheduleState& state) = 0;
};

// ---- constant ----------------------------------------------------------------------------------

struct ConstantOptions {};

class ConstantSchedule final : public LrSchedule {
 public:
  explicit ConstantSchedule(double lr, const ConstantOptions& options = {});
  std::string name() const override { return "constant"; }
  std::string describe() const override;
  double learning_rate() const override { return lr_; }
  ScheduleState state() const override { return {}; }
  void load_state(const ScheduleState& state) override;

 private:
  double lr_;
};

// ---- char-rnn's exponential decay --------------------------------------------------------------

// karpathy/char-rnn (train.lua): at the end of epoch k (k = 1, 2, ...), if k >= decay_after then
// lr *= decay. The defaults are char-rnn's --learning_rate_decay 0.97 --learning_rate_decay_after 10:
// epochs 1..10 run at the base rate, epoch 11 at 0.97 times it, epoch 12 at 0.97², ...
struct CharRnnDecayOptions {
  double decay = 0.97;    // in (0, 1]
  long decay_after = 10;  // >= 0
};

class CharRnnDecay final : public LrSchedule {
 public:
  CharRnnDecay(double lr, const CharRnnDecayOptions& options = {});
  std::string name() const override { return "char_rnn_decay"; }
  std::string describe() const override;
  double learning_rate() const override { return lr_; }
  void on_epoch_end() override;
  ScheduleState state() const override;  // lr, epochs
  void load_state(const ScheduleState& state) override;
  long epochs() const { return epochs_; }

 private:
  CharRnnDecayOptions options_;
  double lr_;
  long epochs_ = 0;  // completed
};

// ---- reduce on plateau -------------------------------------------------------------------------

enum class ThresholdMode { kRel, kAbs };

// torch.optim.lr_scheduler.ReduceLROnPlateau in mode "min", driven by validation losses (or a
// higher-is-better metric negated). A loss is an improvement when loss < best - |best|·threshold
// (kRel: torch's best·(1 - threshold) for a positive best, and right for a negative one too) or
// loss < best - threshold (kAbs); best starts at +inf. After more than `patience` evaluations in a row
// without improvement the rate becomes max(lr·factor, min_lr) — unless that changes it by no more than eps —
// and the next `cooldown` evaluations count no bad epochs. A NaN loss is never an improvement.
struct PlateauOptions {
  double factor = 0.1;  // in (0, 1)
  long patience = 10;
  double threshold = 1e-4;
  ThresholdMode threshold_mode = ThresholdMode::kRel;
  long cooldown = 0;
  double min_lr = 0.0;
  double eps = 1e-8;
};

class PlateauSchedule final : public LrSchedule {
 public:
  PlateauSchedule(double lr, const PlateauOptions& options = {});
  std::string name() const override { return "plateau"; }
  std::string describe() const override;
  double learning_rate() const override { return lr_; }
  void on_validation(double loss) override;
  ScheduleState state() const override;  // lr, best, num_bad_epochs, cooldown_counter, evaluations
  void load_state(const ScheduleState& state) override;

  double best() const { return best_; }
  long num_bad_epochs() const { return num_bad_epochs_; }

 private:
  PlateauOptions options_;
  double lr_;
  double best_;
  long num_bad_epochs_ = 0, cooldown_counter_ = 0, evaluations_ = 0;
};

// ---- cosine annealing with linear warmup -------------------------------------------------------

// The rate for step i + 1, after i steps (N = total_iterations, W = warmup_iterations):
//   i < W:       lr·(i + 1)/W                                   (linear warmup, reaching lr at i = W-1)
//   W <= i <= N: eta_min + (lr - eta_min)·(1 + cos(π·(i - W)/(N - W)))/2
//   i > N:       eta_min
// With W = 0 this is torch.optim.lr_scheduler.CosineAnnealingLR(T_max = N, eta_min) stepped once per
// iteration, except past N, where torch's cosine rises again (period 2N) and this one stays at
// eta_min. torch computes the cosine recursively from the previous rate; this closed form agrees
// with it to rounding.
struct CosineOptions {
  long total_iterations = 0;  // N > W, required
  long warmup_iterations = 0;
  double eta_min = 0.0;
};

class CosineSchedule final : public LrSchedule {
 public:
  CosineSchedule(double lr, const CosineOptions& options);
  std::string name() const override { return "cosine"; }
  std::string describe() const override;
  double learning_rate() const override { return at(iteration_); }
  double at(long iteration) const;  // the rate after `iteration` steps, as above
  void on_step() override { ++iteration_; }
  ScheduleState state() const override;  // iteration
  void load_state(const ScheduleState& state) override;
  long iteration() const { return iteration_; }

 private:
  double lr_;
  CosineOptions options_;
  long iteration_ = 0;
};

// ---- choosing one at run time ------------------------------------------------------------------

using ScheduleOptions = std::variant<ConstantOptions, CharRnnDecayOptions, PlateauOptions, CosineOptions>;

std::unique_ptr<LrSchedule> make_schedule(double lr, const ScheduleOptions& options);

}  // namespace recur::train
