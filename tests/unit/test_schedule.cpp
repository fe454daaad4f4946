// Learning-rate schedules: hand-computed rates for char-rnn's decay, ReduceLROnPlateau's rules
// (patience, relative / absolute threshold, cooldown, min_lr, eps, NaN) and cosine annealing with
// warmup; bit-identical resume through state() / load_state() and its validation; option errors.
// (PyTorch goldens for the torch-equivalent ones: tests/parity/test_optimizer_parity.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include "recur/train/schedule.h"
#include "test_util.h"

namespace recur {
namespace {

using ::recur::testing::throws_error_with;
using train::ScheduleState;

// The rate after each validation loss.
std::vector<double> plateau_rates(double lr, const train::PlateauOptions& options,
                                  const std::vector<double>& losses) {
  train::PlateauSchedule schedule(lr, options);
  std::vector<double> out;
  for (double loss : losses) {
    schedule.on_validation(loss);
    out.push_back(schedule.learning_rate());
  }
  return out;
}

using V = std::vector<double>;

TEST(ConstantSchedule, IgnoresEveryEvent) {
  train::ConstantSchedule s(0.25);
  s.on_step();
  s.on_epoch_end();
  s.on_validation(1e9);
  EXPECT_EQ(s.learning_rate(), 0.25);
  EXPECT_EQ(s.state(), ScheduleState{});
  s.load_state({});
  EXPECT_TRUE(throws_error_with(
      [&] {
        s.load_state({{"lr", 1.0}});
      },
      {"constant::load_state", "expected state []"}));
  EXPECT_EQ(s.describe(), "constant(lr=0.25)");
}

TEST(CharRnnDecay, DecaysAfterEachEpochFromDecayAfterOn) {
  // char-rnn's defaults (0.97 after 10) from 2e-3: epochs 1..10 at 2e-3, epoch 11 at 1.94e-3, ...
  train::CharRnnDecay s(2e-3);
  for (int epoch = 1; epoch <= 9; ++epoch) {
    s.on_epoch_end();
    s.on_step();           // ignored
    s.on_validation(5.0);  // ignored
    EXPECT_EQ(s.learning_rate(), 2e-3) << "after epoch " << epoch;
  }
  s.on_epoch_end();  // the 10th
  EXPECT_EQ(s.epochs(), 10);
  EXPECT_DOUBLE_EQ(s.learning_rate(), 1.94e-3);
  s.on_epoch_end();
  EXPECT_DOUBLE_EQ(s.learning_rate(), 1.8818e-3);
  // decay_after = 0: every epoch, from the first.
  train::CharRnnDecay every(1.0, {.decay = 0.5, .decay_after = 0});
  every.on_epoch_end();
  every.on_epoch_end();
  EXPECT_EQ(every.learning_rate(), 0.25);
  EXPECT_EQ(every.describe(), "char_rnn_decay(lr=0.25, decay=0.5, decay_after=0)");
}

TEST(PlateauSchedule, PatienceCountsEvaluationsWithoutImprovement) {
  // patience 2: the first loss improves on +inf, then three equal losses are 1, 2, 3 bad epochs;
  // 3 > 2 reduces, and the count starts over.
  EXPECT_EQ(plateau_rates(1.0, {.factor = 0.5, .patience = 2}, {1, 1, 1, 1, 1, 1, 1}),
            (V{1, 1, 1, 0.5, 0.5, 0.5, 0.25}));
  // patience 0: every evaluation without improvement reduces.
  EXPECT_EQ(plateau_rates(1.0, {.factor = 0.5, .patience = 0}, {3, 2, 2, 1, 1}), (V{1, 1, 0.5, 0.5, 0.25}));
  // An improvement resets the count.
  EXPECT_EQ(plateau_rates(1.0, {.factor = 0.5, .patience = 1}, {3, 3, 2, 2, 2}), (V{1, 1, 1, 1, 0.5}));
}

TEST(PlateauSchedule, ThresholdIsRelativeOrAbsolute) {
  train::PlateauSchedule rel(1.0, {.factor = 0.5, .patience = 0});  // threshold 1e-4 relative
  rel.on_validation(1.0);
  rel.on_validation(0.99995);  // not below 1·(1 - 1e-4) = 0.9999: bad, reduces
  EXPECT_EQ(rel.learning_rate(), 0.5);
  EXPECT_EQ(rel.best(), 1.0);
  rel.on_validation(0.99985);  // below 0.9999: an improvement
  EXPECT_EQ(rel.learning_rate(), 0.5);
  EXPECT_EQ(rel.best(), 0.99985);

  train::PlateauSchedule abs(
      1.0, {.factor = 0.5, .patience = 0, .threshold = 0.1, .threshold_mode = train::ThresholdMode::kAbs});
  abs.on_validation(1.0);
  abs.on_validation(0.95);  // not below 1 - 0.1
  EXPECT_EQ(abs.learning_rate(), 0.5);
  abs.on_validation(0.85);
  EXPECT_EQ(abs.learning_rate(), 0.5);
  EXPECT_EQ(abs.best(), 0.85);
}

TEST(PlateauSchedule, RelativeThresholdOnNegativeValuesAsksForABetterOne) {
  // A higher-is-better metric reaches the schedule negated (-accuracy). torch's bound best·(1 -
  // threshold) lies above a negative best, so a slightly worse value would count as better; the
  // bound best - |best|·threshold lies below it whatever its sign.
  train::PlateauSchedule s(1.0, {.factor = 0.5, .patience = 0});
  s.on_validation(-1.0);
  s.on_validation(-0.99995);  // worse: a reduction
  EXPECT_EQ(s.best(), -1.0);
  EXPECT_EQ(s.learning_rate(), 0.5);
  s.on_validation(-1.00005);  // better, but not by 1e-4 of |best|: another
  EXPECT_EQ(s.learning_rate(), 0.25);
  s.on_validation(-1.0002);  // better by more
  EXPECT_EQ(s.best(), -1.0002);
  EXPECT_EQ(s.learning_rate(), 0.25);
}

TEST(PlateauSchedule, CooldownIgnoresBadEpochs) {
  // patience 0, cooldown 2: a reduction, then two evaluations that count nothing, then reductions
  // resume (and each starts a new cooldown).
  EXPECT_EQ(plateau_rates(1.0, {.factor = 0.5, .patience = 0, .cooldown = 2}, {1, 1, 1, 1, 1, 1, 1, 1}),
            (V{1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125}));
}

TEST(PlateauSchedule, MinLrAndEps) {
  // The rate stops at min_lr.
  EXPECT_EQ(plateau_rates(1.0, {.factor = 0.1, .patience = 0, .min_lr = 0.05}, {1, 1, 1, 1}),
            (V{1, 0.1, 0.05, 0.05}));
  // A reduction that changes the rate by no more than eps (1e-8) is skipped: 1.6e-8 stays.
  EXPECT_EQ(plateau_rates(3.2e-8, {.factor = 0.5, .patience = 0}, {1, 1, 1, 1}),
            (V{3.2e-8, 1.6e-8, 1.6e-8, 1.6e-8}));
}

TEST(PlateauSchedule, NanLossIsNeverAnImprovement) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  train::PlateauSchedule s(1.0, {.factor = 0.5, .patience = 1});
  s.on_validation(nan);  // not an improvement on +inf: best stays +inf
  EXPECT_EQ(s.best(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(s.num_bad_epochs(), 1);
  s.on_validation(nan);
  EXPECT_EQ(s.learning_rate(), 0.5);
}

TEST(CosineSchedule, ClosedFormWithoutWarmup) {
  train::CosineSchedule s(0.1, {.total_iterations = 100, .eta_min = 0.001});
  EXPECT_EQ(s.at(0), 0.1);
  EXPECT_NEAR(s.at(50), (0.1 + 0.001) / 2, 1e-15);  // cos(π/2) = 0
  EXPECT_NEAR(s.at(25), 0.001 + 0.099 * (1 + std::sqrt(0.5)) / 2, 1e-15);
  EXPECT_EQ(s.at(100), 0.001);
  EXPECT_EQ(s.at(101), 0.001);  // stays at eta_min (torch's would rise again)
  EXPECT_EQ(s.at(10000), 0.001);
  for (long i = 1; i <= 100; ++i) EXPECT_LT(s.at(i), s.at(i - 1)) << i;
  // learning_rate() follows on_step(); other events are ignored.
  for (int i = 0; i < 25; ++i) s.on_step();
  s.on_epoch_end();
  s.on_validation(1.0);
  EXPECT_EQ(s.iteration(), 25);
  EXPECT_EQ(s.learning_rate(), s.at(25));
  EXPECT_THROW(s.at(-1), Error);
}

TEST(CosineSchedule, LinearWarmupThenCosine) {
  // W = 4: lr/4, lr/2, 3lr/4, lr, then the cosine over N - W = 8 iterations from lr.
  train::CosineSchedule s(0.8, {.total_iterations = 12, .warmup_iterations = 4});
  EXPECT_EQ(s.at(0), 0.2);
  EXPECT_EQ(s.at(1), 0.4);
  EXPECT_NEAR(s.at(2), 0.6, 1e-15);
  EXPECT_EQ(s.at(3), 0.8);
  EXPECT_EQ(s.at(4), 0.8);
  EXPECT_NEAR(s.at(8), 0.4, 1e-15);
  EXPECT_NEAR(s.at(10), 0.8 * (1 + std::cos(0.75 * std::numbers::pi)) / 2, 1e-15);
  EXPECT_EQ(s.at(12), 0.0);
  EXPECT_EQ(s.describe(), "cosine(lr=0.8, total_iterations=12, warmup_iterations=4, eta_min=0)");
}

// ---- resume -----------------------------------------------------------------------------------

// A fixed mixed stream of events: steps, epoch ends every 5 steps, validations every 3 steps with
// losses that improve, stall and improve again.
void event(train::LrSchedule& s, int k) {
  s.on_step();
  if (k % 5 == 4) s.on_epoch_end();
  if (k % 3 == 2) s.on_validation(k < 20 ? 2.0 - 0.05 * k : (k < 40 ? 1.0 : 0.9 - 0.001 * k));
}

std::vector<std::function<std::unique_ptr<train::LrSchedule>()>> schedule_factories() {
  return {
      [] { return train::make_schedule(0.1, train::ConstantOptions{}); },
      [] { return train::make_schedule(0.1, train::CharRnnDecayOptions{.decay = 0.9, .decay_after = 2}); },
      [] {
        return train::make_schedule(0.1, train::PlateauOptions{.factor = 0.5, .patience = 1, .cooldown = 1});
      },
      [] {
        return train::make_schedule(
            0.1, train::CosineOptions{.total_iterations = 50, .warmup_iterations = 5, .eta_min = 1e-4});
      },
  };
}

TEST(ScheduleState, ResumeIsBitIdentical) {
  constexpr int kEvents = 60;
  for (const auto& make : schedule_factories()) {
    std::vector<double> straight;
    auto s = make();
    SCOPED_TRACE(s->describe());
    for (int k = 0; k < kEvents; ++k) {
      event(*s, k);
      straight.push_back(s->learning_rate());
    }
    if (s->name() != "constant") {
      EXPECT_NE(straight.front(), straight.back()) << "the event stream must move the rate";
    }
    for (const int stop : {0, 7, 23, 41}) {
      auto a = make();
      std::vector<double> resumed;
      for (int k = 0; k < stop; ++k) {
        event(*a, k);
        resumed.push_back(a->learning_rate());
      }
      const ScheduleState saved = a->state();
      a.reset();
      auto b = make();
      b->load_state(saved);
      EXPECT_EQ(b->state(), saved);
      for (int k = stop; k < kEvents; ++k) {
        event(*b, k);
        resumed.push_back(b->learning_rate());
      }
      EXPECT_EQ(resumed, straight) << "resumed after " << stop << " events";
    }
  }
}

TEST(ScheduleState, NamesAndValues) {
  train::PlateauSchedule p(0.1, {.factor = 0.5, .patience = 0, .cooldown = 3});
  p.on_validation(2.0);
  p.on_validation(2.0);  // reduces, cooldown 3
  EXPECT_EQ(p.state(), (ScheduleState{{"lr", 0.05},
                                      {"best", 2.0},
                                      {"num_bad_epochs", 0.0},
                                      {"cooldown_counter", 3.0},
                                      {"evaluations", 2.0}}));
  EXPECT_EQ(train::PlateauSchedule(1.0).state()[1].second, std::numeric_limits<double>::infinity());
  train::CharRnnDecay d(0.1, {.decay = 0.5, .decay_after = 1});
  d.on_epoch_end();
  EXPECT_EQ(d.state(), (ScheduleState{{"lr", 0.05}, {"epochs", 1.0}}));
  train::CosineSchedule c(0.1, {.total_iterations = 10});
  c.on_step();
  EXPECT_EQ(c.state(), (ScheduleState{{"iteration", 1.0}}));
}

TEST(ScheduleState, LoadStateValidatesAndChangesNothingOnError) {
  train::PlateauSchedule p(0.1, {});
  const ScheduleState before = p.state();
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  auto plateau = [](double lr, double best, double bad, double cooldown, double evaluations) {
    return ScheduleState{{"lr", lr},
                         {"best", best},
                         {"num_bad_epochs", bad},
                         {"cooldown_counter", cooldown},
                         {"evaluations", evaluations}};
  };
  EXPECT_TRUE(throws_error_with(
      [&] {
        p.load_state({{"lr", 0.1}});
      },
      {"plateau::load_state",
       "expected state [lr, best, num_bad_epochs, "
       "cooldown_counter, evaluations], got [lr]"}));
  ScheduleState swapped = plateau(0.1, 1, 0, 0, 0);
  std::swap(swapped[0], swapped[1]);
  EXPECT_TRUE(throws_error_with([&] { p.load_state(swapped); }, {"got [best, lr,"}));
  EXPECT_TRUE(
      throws_error_with([&] { p.load_state(plateau(-0.1, 1, 0, 0, 0)); }, {"'lr' must be finite and >= 0"}));
  EXPECT_TRUE(throws_error_with([&] { p.load_state(plateau(inf, 1, 0, 0, 0)); }, {"'lr'"}));
  EXPECT_TRUE(throws_error_with([&] { p.load_state(plateau(0.1, nan, 0, 0, 0)); }, {"'best' is NaN"}));
  EXPECT_TRUE(throws_error_with([&] { p.load_state(plateau(0.1, 1, 1.5, 0, 0)); },
                                {"'num_bad_epochs' must be a non-negative integer, got 1.5"}));
  EXPECT_TRUE(throws_error_with([&] { p.load_state(plateau(0.1, 1, 0, -1, 0)); }, {"'cooldown_counter'"}));
  EXPECT_TRUE(throws_error_with([&] { p.load_state(plateau(0.1, 1, 0, 0, -2)); }, {"'evaluations'"}));
  EXPECT_EQ(p.state(), before);
  p.load_state(plateau(0.01, inf, 2, 1, 7));  // +inf best (no evaluation yet) is fine
  EXPECT_EQ(p.learning_rate(), 0.01);

  train::CosineSchedule c(0.1, {.total_iterations = 10});
  EXPECT_TRUE(throws_error_with(
      [&] {
        c.load_state({{"iterations", 3}});
      },
      {"cosine::load_state", "[iteration]"}));
  EXPECT_TRUE(throws_error_with([&] { c.load_state({{"iteration", 1e300}}); }, {"'iteration'"}));
  train::CharRnnDecay d(0.1);
  EXPECT_TRUE(throws_error_with([&] { d.load_state({{"lr", 0.1}, {"epochs", nan}}); }, {"'epochs'"}));
}

TEST(Schedules, MakeScheduleAndInvalidOptions) {
  const std::vector<std::pair<train::ScheduleOptions, std::string>> named = {
      {train::ConstantOptions{}, "constant"},
      {train::CharRnnDecayOptions{}, "char_rnn_decay"},
      {train::PlateauOptions{}, "plateau"},
      {train::CosineOptions{.total_iterations = 3}, "cosine"}};
  for (const auto& [options, name] : named) {
    auto s = train::make_schedule(0.5, options);
    EXPECT_EQ(s->name(), name);
    EXPECT_EQ(s->learning_rate(), 0.5);
    EXPECT_EQ(s->describe().rfind(name + "(lr=0.5", 0), 0u) << s->describe();
  }
  auto make = [](double lr, const train::ScheduleOptions& o) {
    return [lr, o] { train::make_schedule(lr, o); };
  };
  EXPECT_TRUE(throws_error_with(make(0.0, train::ConstantOptions{}), {"ConstantSchedule", "> 0, got 0"}));
  EXPECT_TRUE(
      throws_error_with(make(0.1, train::CharRnnDecayOptions{.decay = 1.5}), {"decay must be in (0, 1]"}));
  EXPECT_TRUE(throws_error_with(make(0.1, train::CharRnnDecayOptions{.decay_after = -1}), {"decay_after"}));
  EXPECT_TRUE(
      throws_error_with(make(0.1, train::PlateauOptions{.factor = 1.0}), {"factor must be in (0, 1)"}));
  EXPECT_TRUE(throws_error_with(make(0.1, train::PlateauOptions{.patience = -1}), {"patience"}));
  EXPECT_TRUE(throws_error_with(make(0.1, train::PlateauOptions{.min_lr = -1}), {"min_lr"}));
  EXPECT_TRUE(throws_error_with(make(0.1, train::CosineOptions{}), {"total_iterations (0) must be greater"}));
  EXPECT_TRUE(
      throws_error_with(make(0.1, train::CosineOptions{.total_iterations = 5, .warmup_iterations = 5}),
                        {"warmup_iterations (5)"}));
  EXPECT_TRUE(
      throws_error_with(make(0.1, train::CosineOptions{.total_iterations = 5, .eta_min = -1}), {"eta_min"}));
}

}  // namespace
}  // namespace recur
