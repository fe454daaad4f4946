#include "recur/train/schedule.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <numbers>

#include "recur/common.h"

namespace recur::train {

namespace {

std::string shortest(double value) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof(buf), value).ptr;
  return std::string(buf, end);
}

void check_lr(const char* who, double lr) {
  RECUR_CHECK(std::isfinite(lr) && lr > 0,
              std::string(who) + ": learning rate must be finite and > 0, got " + shortest(lr));
}

// load_state: the names must be exactly `names`, in this order.
void check_names(const std::string& who, const ScheduleState& state,
                 std::initializer_list<const char*> names) {
  std::string want;
  for (const char* n : names) want += (want.empty() ? "" : ", ") + std::string(n);
  std::string got;
  for (const auto& entry : state) got += (got.empty() ? "" : ", ") + entry.first;
  bool ok = state.size() == names.size();
  size_t k = 0;
  for (const char* n : names) {
    if (!ok) break;
    ok = state[k++].first == n;
  }
  RECUR_CHECK(ok, who + "::load_state: expected state [" + want + "], got [" + got + "]");
}

// A counter stored as a double: a non-negative integer.
long as_count(const std::string& who, const std::pair<std::string, double>& entry) {
  const double v = entry.second;
  RECUR_CHECK(v >= 0 && v <= 9007199254740992.0 && v == std::floor(v),
              who + "::load_state: '" + entry.first + "' must be a non-negative integer, got " + shortest(v));
  return static_cast<long>(v);
}

double as_lr(const std::string& who, const std::pair<std::string, double>& entry) {
  const double v = entry.second;
  RECUR_CHECK(std::isfinite(v) && v >= 0,
              who + "::load_state: '" + entry.first + "' must be finite and >= 0, got " + shortest(v));
  return v;
}

}  // namespace

// ---- constant ----------------------------------------------------------------------------------

ConstantSchedule::ConstantSchedule(double lr, const ConstantOptions&) : lr_(lr) {
  check_lr("ConstantSchedule", lr);
}

std::string ConstantSchedule::describe() const {
  return "constant(lr=" + shortest(lr_) + ")";
}

void ConstantSchedule::load_state(const ScheduleState& state) {
  check_names(name(), state, {});
}

// ---- char-rnn decay ----------------------------------------------------------------------------

CharRnnDecay::CharRnnDecay(double lr, const CharRnnDecayOptions& options) : options_(options), lr_(lr) {
  check_lr("CharRnnDecay", lr);
  RECUR_CHECK(options.decay > 0 && options.decay <= 1,
              "CharRnnDecay: decay must be in (0, 1], got " + shortest(options.decay));
  RECUR_CHECK(options.decay_after >= 0,
              "CharRnnDecay: decay_after must be >= 0, got " + std::to_string(options.decay_after));
}

std::string CharRnnDecay::describe() const {
  return "char_rnn_decay(lr=" + shortest(lr_) + ", decay=" + shortest(options_.decay) +
         ", decay_after=" + std::to_string(options_.decay_after) + ")";
}

void CharRnnDecay::on_epoch_end() {
  ++epochs_;
  if (epochs_ >= options_.decay_after) lr_ *= options_.decay;  // train.lua: `if epoch >= decay_after`
}

ScheduleState CharRnnDecay::state() const {
  return {{"lr", lr_}, {"epochs", double(epochs_)}};
}

void CharRnnDecay::load_state(const ScheduleState& state) {
  check_names(name(), state, {"lr", "epochs"});
  const double lr = as_lr(name(), state[0]);
  const long epochs = as_count(name(), state[1]);
  lr_ = lr;
  epochs_ = epochs;
}

// ---- reduce on plateau -------------------------------------------------------------------------

PlateauSchedule::PlateauSchedule(double lr, const PlateauOptions& options)
    : options_(options), lr_(lr), best_(std::numeric_limits<double>::infinity()) {
  check_lr("PlateauSchedule", lr);
  RECUR_CHECK(options.factor > 0 && options.factor < 1,
              "PlateauSchedule: factor must be in (0, 1), got " + shortest(options.factor));
  RECUR_CHECK(options.patience >= 0,
              "PlateauSchedule: patience must be >= 0, got " + std::to_string(options.patience));
  RECUR_CHECK(options.threshold >= 0,
              "PlateauSchedule: threshold must be >= 0, got " + shortest(options.threshold));
  RECUR_CHECK(options.cooldown >= 0,
              "PlateauSchedule: cooldown must be >= 0, got " + std::to_string(options.cooldown));
  RECUR_CHECK(options.min_lr >= 0, "PlateauSchedule: min_lr must be >= 0, got " + shortest(options.min_lr));
  RECUR_CHECK(options.eps >= 0, "PlateauSchedule: eps must be >= 0, got " + shortest(options.eps));
}

std::string PlateauSchedule::describe() const {
  return "plateau(lr=" + shortest(lr_) + ", factor=" + shortest(options_.factor) +
         ", patience=" + std::to_string(options_.patience) + ", threshold=" + shortest(options_.threshold) +
         (options_.threshold_mode == ThresholdMode::kRel ? " rel" : " abs") +
         ", cooldown=" + std::to_string(options_.cooldown) + ", min_lr=" + shortest(options_.min_lr) + ")";
}

// ReduceLROnPlateau.step(metrics), line for line but for the relative bound of a negative best.
void PlateauSchedule::on_validation(double loss) {
  ++evaluations_;
  // The first finite loss improves on best = +inf (inf - inf would be NaN).
  const double margin = options_.threshold_mode == ThresholdMode::kAbs ? options_.threshold
                        : std::isfinite(best_)                         ? std::abs(best_) * options_.threshold
                                                                       : 0.0;
  const bool better = loss < best_ - margin;
  if (better) {
    best_ = loss;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs in cooldown do not count
  }
  if (num_bad_epochs_ > options_.patience) {
    const double new_lr = std::max(lr_ * options_.factor, options_.min_lr);
    if (lr_ - new_lr > options_.eps) lr_ = new_lr;
    cooldown_counter_ = options_.cooldown;
    num_bad_epochs_ = 0;
  }
}

ScheduleState PlateauSchedule::state() const {
  return {{"lr", lr_},
          {"best", best_},
          {"num_bad_epochs", double(num_bad_epochs_)},
          {"cooldown_counter", double(cooldown_counter_)},
          {"evaluations", double(evaluations_)}};
}

void PlateauSchedule::load_state(const ScheduleState& state) {
  check_names(name(), state, {"lr", "best", "num_bad_epochs", "cooldown_counter", "evaluations"});
  const double lr = as_lr(name(), state[0]);
  const double best = state[1].second;
  RECUR_CHECK(!std::isnan(best), name() + "::load_state: 'best' is NaN");
  const long bad = as_count(name(), state[2]), cooldown = as_count(name(), state[3]);
  const long evaluations = as_count(name(), state[4]);
  lr_ = lr;
  best_ = best;
  num_bad_epochs_ = bad;
  cooldown_counter_ = cooldown;
  evaluations_ = evaluations;
}

// ---- cosine ------------------------------------------------------------------------------------

CosineSchedule::CosineSchedule(double lr, const CosineOptions& options) : lr_(lr), options_(options) {
  check_lr("CosineSchedule", lr);
  RECUR_CHECK(options.warmup_iterations >= 0, "CosineSchedule: warmup_iterations must be >= 0, got " +
                                                  std::to_string(options.warmup_iterations));
  RECUR_CHECK(options.total_iterations > options.warmup_iterations,
              "CosineSchedule: total_iterations (" + std::to_string(options.total_iterations) +
                  ") must be greater than warmup_iterations (" + std::to_string(options.warmup_iterations) +
                  ")");
  RECUR_CHECK(std::isfinite(options.eta_min) && options.eta_min >= 0,
              "CosineSchedule: eta_min must be finite and >= 0, got " + shortest(options.eta_min));
}

std::string CosineSchedule::describe() const {
  return "cosine(lr=" + shortest(lr_) + ", total_iterations=" + std::to_string(options_.total_iterations) +
         ", warmup_iterations=" + std::to_string(options_.warmup_iterations) +
         ", eta_min=" + shortest(options_.eta_min) + ")";
}

double CosineSchedule::at(long iteration) const {
  RECUR_CHECK(iteration >= 0, "CosineSchedule: iteration must be >= 0, got " + std::to_string(iteration));
  const long W = options_.warmup_iterations, N = options_.total_iterations;
  if (iteration < W) return lr_ * double(iteration + 1) / double(W);
  if (iteration >= N) return options_.eta_min;
  const double progress = double(iteration - W) / double(N - W);
  return options_.eta_min + (lr_ - options_.eta_min) * (1 + std::cos(std::numbers::pi * progress)) / 2;
}

ScheduleState CosineSchedule::state() const {
  return {{"iteration", double(iteration_)}};
}

void CosineSchedule::load_state(const ScheduleState& state) {
  check_names(name(), state, {"iteration"});
  iteration_ = as_count(name(), state[0]);
}

// ---- make_schedule -----------------------------------------------------------------------------

std::unique_ptr<LrSchedule> make_schedule(double lr, const ScheduleOptions& options) {
  return std::visit(
      [lr](const auto& o) -> std::unique_ptr<LrSchedule> {
        using O = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<O, ConstantOptions>) return std::make_unique<ConstantSchedule>(lr, o);
        if constexpr (std::is_same_v<O, CharRnnDecayOptions>) return std::make_unique<CharRnnDecay>(lr, o);
        if constexpr (std::is_same_v<O, PlateauOptions>) return std::make_unique<PlateauSchedule>(lr, o);
        if constexpr (std::is_same_v<O, CosineOptions>) return std::make_unique<CosineSchedule>(lr, o);
      },
      options);
}

}  // namespace recur::train
