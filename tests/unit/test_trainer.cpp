// train::Trainer with small tasks of its own: a classifier whose best model is chosen by a metric
// where higher is better, with batches of different sizes; a task that writes only the required
// methods; and exact resume of both.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "recur/autograd/functions.h"
#include "recur/io/parameters_io.h"
#include "recur/layers/linear.h"
#include "recur/train/run_directory.h"
#include "recur/train/trainer.h"

namespace recur::train {
namespace {

namespace fs = std::filesystem;

// Logistic regression on two noisy Gaussian clouds in 2-D: 60 training points in batches of 7
// (the last batch holds 4), 40 validation points. validate() gives loss and accuracy.
class Clouds final : public TrainingTask {
 public:
  explicit Clouds(bool select_by_accuracy) : select_by_accuracy_(select_by_accuracy) {
    params_.freeze();
    Rng rng(1);
    linear_.init(rng);
    Rng data(2);
    for (int i = 0; i < 100; ++i) {
      const int label = i % 2;
      const float cx = label ? 1.0f : -1.0f;
      points_.push_back({cx + 1.2f * data.normal<float>(), 1.2f * data.normal<float>()});
      labels_.push_back(label);
    }
  }

  nn::ParameterTable<float>& params() override { return params_; }
  long batches_per_epoch() const override { return 9; }  // ceil(60 / 7)
  TrainingBatch training_batch(ag::Tape<float>& tape, long /*epoch*/, long index, Rng&) override {
    const int begin = static_cast<int>(index) * 7, end = std::min(60, begin + 7);
    return {loss_of(tape, begin, end), end - begin};
  }
  bool has_validation() const override { return true; }
  Metrics validate() override {
    ag::Tape<float> tape;
    ag::NoGrad<float> no_grad(tape);
    const ag::Var<float> logits = logits_of(tape, 60, 100);
    int correct = 0;
    for (int i = 0; i < 40; ++i) {
      const float* row = logits.value().data() + 2 * i;
      correct += (row[1] > row[0] ? 1 : 0) == labels_[static_cast<size_t>(60 + i)];
    }
    return {{"loss", loss_of(tape, 60, 100).item()}, {"accuracy", correct / 40.0}};
  }
  BestMetric best_metric() const override {
    return select_by_accuracy_ ? BestMetric{"accuracy", true} : BestMetric{};
  }
  double guessing_loss() const override { return std::log(2.0); }  // two classes
  io::Safetensors model_file() const override {
    io::Safetensors file;
    io::store_parameters(file, params_);
    return file;
  }

 private:
  ag::Var<float> logits_of(ag::Tape<float>& tape, int begin, int end) const {
    Tensor<float> x(Shape{end - begin, 2});
    for (int i = begin; i < end; ++i) {
      x[2 * (i - begin)] = points_[static_cast<size_t>(i)][0];
      x[2 * (i - begin) + 1] = points_[static_cast<size_t>(i)][1];
    }
    return linear_.forward(tape.constant(x));
  }
  ag::Var<float> loss_of(ag::Tape<float>& tape, int begin, int end) const {
    return ag::cross_entropy(logits_of(tape, begin, end),
                             std::vector<std::int32_t>(labels_.begin() + begin, labels_.begin() + end));
  }

  bool select_by_accuracy_;
  nn::ParameterTable<float> params_;
  layers::Linear<float> linear_{params_, "linear.", 2, 2};
  std::vector<std::array<float, 2>> points_;
  std::vector<std::int32_t> labels_;
};

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("recur_trainer_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
            "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  TrainerOptions options(long iterations, const std::string& run) const {
    TrainerOptions o;
    o.total_iterations = iterations;
    o.eval_every = 5;
    o.checkpoint_dir = dir_ / run;
    o.progress.mode = ProgressOptions::Mode::kLog;
    o.progress.log_every = 1000;
    return o;
  }
  std::vector<nlohmann::json> records(const std::string& run, const char* event) const {
    std::vector<nlohmann::json> out;
    std::ifstream in(dir_ / run / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line);
      if (j.at("event") == event) out.push_back(j);
    }
    return out;
  }

  static std::string read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  fs::path dir_;
};

TEST_F(TrainerTest, MetricsLogOneTrainRecordPerLogWindowWithItsMeans) {
  // The same run logged every iteration and every 3: each coarse record holds the mean loss and
  // gradient norm of its window, and one closes before each evaluation (every 5) too.
  for (long every : {1L, 3L}) {
    Clouds task(false);
    auto optimizer = make_optimizer(task.params(), SgdOptions{0.5});
    auto schedule = make_schedule(0.5, ConstantOptions{});
    Rng rng(3);
    TrainerOptions o = options(10, "every" + std::to_string(every));
    o.progress.log_every = every;
    Trainer(task, *optimizer, *schedule, rng, o).run();
  }
  const auto fine = records("every1", "train");
  const auto coarse = records("every3", "train");
  ASSERT_EQ(fine.size(), 10u);
  const std::vector<long> ends = {3, 5, 6, 9, 10};
  ASSERT_EQ(coarse.size(), ends.size());
  long begin = 0;
  for (size_t r = 0; r < ends.size(); ++r) {
    SCOPED_TRACE(r);
    EXPECT_EQ(coarse[r].at("iteration"), ends[r]);
    EXPECT_EQ(coarse[r].at("steps"), ends[r] - begin);
    EXPECT_EQ(coarse[r].at("skipped"), 0);
    EXPECT_EQ(coarse[r].at("tokens"), fine[static_cast<size_t>(ends[r] - 1)].at("tokens"));
    double loss = 0, grad_norm = 0;
    for (long i = begin; i < ends[r]; ++i) {
      loss += fine[static_cast<size_t>(i)].at("loss").get<double>();
      grad_norm += fine[static_cast<size_t>(i)].at("grad_norm").get<double>();
    }
    constexpr double kSumOrder = 1e-12;  // the same sums, maybe in another order
    EXPECT_NEAR(coarse[r].at("loss").get<double>(), loss / double(ends[r] - begin), kSumOrder);
    EXPECT_NEAR(coarse[r].at("grad_norm").get<double>(), grad_norm / double(ends[r] - begin), kSumOrder);
    begin = ends[r];
  }
}

TEST_F(TrainerTest, TheBestModelIsChosenByTheTasksMetricAndDirection) {
  for (bool by_accuracy : {true, false}) {
    SCOPED_TRACE(by_accuracy ? "accuracy" : "loss");
    const std::string run = by_accuracy ? "acc" : "loss";
    Clouds task(by_accuracy);
    auto optimizer = make_optimizer(task.params(), SgdOptions{0.5});
    auto schedule = make_schedule(0.5, ConstantOptions{});
    Rng rng(3);
    Trainer trainer(task, *optimizer, *schedule, rng, options(40, run));
    trainer.run();
    // Every validation record has both metrics; the best is the max accuracy (first reached) or
    // the min loss.
    const auto vals = records(run, "val");
    ASSERT_EQ(vals.size(), 8u);
    double best = by_accuracy ? -1 : 1e9;
    long best_iteration = 0;
    for (const auto& v : vals) {
      ASSERT_TRUE(v.contains("val_loss") && v.contains("val_accuracy")) << v.dump();
      const double x = by_accuracy ? v.at("val_accuracy").get<double>() : v.at("val_loss").get<double>();
      if (by_accuracy ? x > best : x < best) {
        best = x;
        best_iteration = v.at("iteration").get<long>();
      }
    }
    EXPECT_EQ(trainer.best_value(), best);
    EXPECT_EQ(trainer.best_iteration(), best_iteration);
    if (by_accuracy) {
      EXPECT_GT(best, 0.7);  // it learned
    }
    const io::Safetensors saved = io::Safetensors::read_file((dir_ / run / "best.safetensors").string());
    const auto info = nlohmann::json::parse(saved.metadata().at("recur.best"));
    EXPECT_EQ(info.at("best_metric"), by_accuracy ? "accuracy" : "loss");
    EXPECT_EQ(info.at("best_value").get<double>(), best);
    EXPECT_EQ(info.at("best_iteration").get<long>(), best_iteration);
    // Tokens count each batch's own size: 4 epochs of 60 points and 4 more batches of 7.
    EXPECT_EQ(records(run, "train").back().at("tokens").get<long>(), 4 * 60 + 4 * 7);
  }
}

// Resume is exact, without and with weight averaging (the raw weights, the average and the files).
TEST_F(TrainerTest, ResumeIsExactAndKeepsTheTokenCount) {
  for (const double ema : {0.0, 0.95}) {
    SCOPED_TRACE("ema " + std::to_string(ema));
    const std::string tag = ema > 0 ? "_ema" : "";
    const auto train = [&](long iterations, const std::string& run, bool resume) {
      Clouds task(true);
      auto optimizer = make_optimizer(task.params(), AdamOptions{0.05});
      auto schedule = make_schedule(0.05, ConstantOptions{});
      Rng rng(3);
      TrainerOptions o = options(iterations, run);
      o.ema_decay = ema;
      Trainer trainer(task, *optimizer, *schedule, rng, o);
      if (resume) {
        const io::Safetensors last = io::Safetensors::read_file((dir_ / run / "last.safetensors").string());
        io::load_parameters(last, task.params(), {"train."});
        trainer.restore(last);
      }
      trainer.run();
      return std::vector<float>(task.params().flat_values().data(),
                                task.params().flat_values().data() + task.params().numel());
    };
    const std::vector<float> straight = train(23, "straight" + tag, false);
    train(13, "split" + tag, false);
    EXPECT_EQ(train(23, "split" + tag, true), straight);
    EXPECT_EQ(records("split" + tag, "train").back().at("tokens"),
              records("straight" + tag, "train").back().at("tokens"));
    const io::Safetensors a =
        io::Safetensors::read_file((dir_ / ("straight" + tag) / "last.safetensors").string());
    const io::Safetensors b =
        io::Safetensors::read_file((dir_ / ("split" + tag) / "last.safetensors").string());
    ASSERT_EQ(a.names(), b.names());
    for (const std::string& name : a.names())
      EXPECT_EQ(a.get<float>(name).to_vector(), b.get<float>(name).to_vector()) << name;
    // With averaging the saved model is the average, not the weights training ended on.
    EXPECT_EQ(a.contains("train.ema.raw"), ema > 0);
    if (ema > 0) {
      EXPECT_NE(a.get<float>("linear.weight").to_vector(),
                std::vector<float>(straight.begin(), straight.begin() + 4));
    }
  }
}

// Records what the trainer tells it after each validation.
class ScheduleSpy final : public LrSchedule {
 public:
  std::string name() const override { return "constant"; }
  std::string describe() const override { return "spy"; }
  double learning_rate() const override { return 0.5; }
  void on_validation(double value) override { seen.push_back(value); }
  ScheduleState state() const override { return {}; }
  void load_state(const ScheduleState&) override {}
  std::vector<double> seen;
};

// The metric that selects the best model drives the schedule (negated when higher is better): the
// loss, or -accuracy. A run saved before the schedule's metric was recorded goes on following the
// loss, as it did.
TEST_F(TrainerTest, TheScheduleFollowsTheMetricThatSelectsTheBest) {
  for (const bool by_accuracy : {false, true}) {
    SCOPED_TRACE(by_accuracy ? "accuracy" : "loss");
    const std::string run = by_accuracy ? "acc" : "loss";
    Clouds task(by_accuracy);
    auto optimizer = make_optimizer(task.params(), SgdOptions{0.5});
    ScheduleSpy spy;
    Rng rng(3);
    Trainer trainer(task, *optimizer, spy, rng, options(20, run));
    trainer.run();
    const auto vals = records(run, "val");
    ASSERT_EQ(spy.seen.size(), vals.size());
    for (size_t i = 0; i < vals.size(); ++i)
      EXPECT_EQ(spy.seen[i], by_accuracy ? -vals[i].at("val_accuracy").get<double>()
                                         : vals[i].at("val_loss").get<double>());
    io::Safetensors last = io::Safetensors::read_file((dir_ / run / "last.safetensors").string());
    auto state = nlohmann::json::parse(last.metadata().at("recur.train"));
    EXPECT_EQ(state.at("schedule_metric"), by_accuracy ? "accuracy" : "loss");
    if (!by_accuracy) continue;
    // The same checkpoint without the key, resumed for 5 more iterations: the loss drives it.
    state.erase("schedule_metric");
    last.metadata()["recur.train"] = state.dump();
    Clouds resumed(true);
    io::load_parameters(last, resumed.params(), {"train."});
    auto resumed_optimizer = make_optimizer(resumed.params(), SgdOptions{0.5});
    ScheduleSpy resumed_spy;
    Trainer more(resumed, *resumed_optimizer, resumed_spy, rng, options(25, run));
    more.restore(last);
    more.run();
    const auto after = records(run, "val");
    ASSERT_EQ(resumed_spy.seen.size(), 1u);
    EXPECT_EQ(resumed_spy.seen[0], after.back().at("val_loss").get<double>());
    // A metric the task does not report is refused, naming the key.
    state["schedule_metric"] = "f1";
    last.metadata()["recur.train"] = state.dump();
    Trainer refused(resumed, *resumed_optimizer, resumed_spy, rng, options(30, run));
    try {
      refused.restore(last);
      ADD_FAILURE() << "a schedule metric the task does not report was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("\"schedule_metric\" must be loss or accuracy, got f1"),
                std::string::npos)
          << e.what();
    }
  }
}

// A finite model whose validation loss is far above guessing has diverged: it replaces neither
// best.safetensors nor last.safetensors, and the run stops saying which checkpoint is intact.
TEST_F(TrainerTest, ADivergedModelIsNeverSavedAndStopsTheRun) {
  const auto train = [&](double learning_rate, long iterations, const io::Safetensors* resume) {
    Clouds task(false);
    auto optimizer = make_optimizer(task.params(), SgdOptions{static_cast<float>(learning_rate)});
    auto schedule = make_schedule(learning_rate, ConstantOptions{});
    Rng rng(3);
    Trainer trainer(task, *optimizer, *schedule, rng, options(iterations, "run"));
    if (resume) {
      io::load_parameters(*resume, task.params(), {"train."});
      trainer.restore(*resume);
    }
    trainer.run();
  };
  // From scratch at a learning rate of 1e6: the first evaluation finds logits of order 1e6 on the
  // overlapping clouds (a loss of that order on every misclassified point), and nothing is written.
  try {
    train(1e6, 10, nullptr);
    ADD_FAILURE() << "a diverged run ended normally";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("stopping at iteration 5: the model diverged (validation loss "), std::string::npos)
        << what;
    EXPECT_NE(what.find("over 10 times the 0.6931 of guessing uniformly"), std::string::npos) << what;
    EXPECT_NE(what.find("; no checkpoint was written"), std::string::npos) << what;
  }
  EXPECT_FALSE(fs::exists(dir_ / "run/best.safetensors"));
  EXPECT_FALSE(fs::exists(dir_ / "run/last.safetensors"));
  ASSERT_EQ(records("run", "val").size(), 1u);
  EXPECT_GT(records("run", "val")[0].at("val_loss").get<double>(), 10 * std::log(2.0));

  // A good run, then continued at that learning rate: the good files stay as they were.
  fs::remove_all(dir_ / "run");
  train(0.1, 10, nullptr);
  const io::Safetensors good = io::Safetensors::read_file((dir_ / "run/last.safetensors").string());
  const std::string best = read_bytes(dir_ / "run/best.safetensors");
  const std::string last = read_bytes(dir_ / "run/last.safetensors");
  try {
    train(1e6, 20, &good);
    ADD_FAILURE() << "a diverged run ended normally";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("stopping at iteration 15: the model diverged"), std::string::npos) << what;
    EXPECT_NE(
        what.find("the last good checkpoint " + (dir_ / "run/last.safetensors").string() + " is intact"),
        std::string::npos)
        << what;
  }
  EXPECT_EQ(read_bytes(dir_ / "run/best.safetensors"), best);
  EXPECT_EQ(read_bytes(dir_ / "run/last.safetensors"), last);
}

// One run per directory, also for a program that trains with the library: a second hold on a
// directory is refused while the first lasts; a finished run's directory needs its own checkpoint
// to be resumed, or overwrite.
TEST_F(TrainerTest, ARunDirectoryIsHeldByOneRun) {
  {
    const RunDirectory held(dir_ / "run", nullptr, false);
    EXPECT_TRUE(fs::exists(dir_ / "run/.lock"));
    try {
      const RunDirectory second(dir_ / "run", nullptr, false);
      ADD_FAILURE() << "a held directory was held twice";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("is in use by another recur train (pid "), std::string::npos)
          << e.what();
    }
    Clouds task(false);
    auto optimizer = make_optimizer(task.params(), SgdOptions{0.1f});
    auto schedule = make_schedule(0.1, ConstantOptions{});
    Rng rng(3);
    Trainer trainer(task, *optimizer, *schedule, rng, options(5, "run"));
    trainer.run();
  }
  EXPECT_THROW(RunDirectory(dir_ / "run", nullptr, false), Error);  // it holds a run now
  const io::Safetensors last = io::Safetensors::read_file((dir_ / "run/last.safetensors").string());
  EXPECT_NO_THROW(RunDirectory(dir_ / "run", &last, false));
  EXPECT_NO_THROW(RunDirectory(dir_ / "run", nullptr, true));
  EXPECT_FALSE(fs::exists(dir_ / "run/last.safetensors"));  // overwrite removed the run
}

// The least a task writes: parameters, batches, a loss and its model file. No validation: no
// best.safetensors, and last.safetensors at every evaluation.
class Minimal final : public TrainingTask {
 public:
  Minimal() {
    w_ = params_.add("w", Shape{1});
    params_.freeze();
  }
  nn::ParameterTable<float>& params() override { return params_; }
  long batches_per_epoch() const override { return 3; }
  TrainingBatch training_batch(ag::Tape<float>& tape, long, long index, Rng&) override {
    // (w - index)²: the mean over an epoch is least at w = 1.
    const ag::Var<float> d =
        ag::add(ag::param(tape, params_, w_), tape.constant(Tensor<float>(Shape{1}, {-float(index)})));
    return {ag::sum(ag::mul(d, d)), 1};
  }
  io::Safetensors model_file() const override {
    io::Safetensors file;
    io::store_parameters(file, params_);
    return file;
  }

 private:
  nn::ParameterTable<float> params_;
  int w_;
};

TEST_F(TrainerTest, AMinimalTaskTrainsWithTheDefaults) {
  Minimal task;
  // w ← w - 0.04 (w - index): within 0.05 of the epoch's optimum, 1, after 300 steps.
  auto optimizer = make_optimizer(task.params(), SgdOptions{0.02});
  auto schedule = make_schedule(0.02, ConstantOptions{});
  Rng rng(3);
  Trainer trainer(task, *optimizer, *schedule, rng, options(300, "minimal"));
  trainer.run();
  EXPECT_NEAR(task.params().value(0)[0], 1.0f, 0.1f);
  EXPECT_GT(std::abs(task.params().value(0)[0] - 0.0f), 0.5f);  // it moved from 0
  EXPECT_TRUE(fs::exists(dir_ / "minimal/last.safetensors"));
  EXPECT_FALSE(fs::exists(dir_ / "minimal/best.safetensors"));
  EXPECT_TRUE(records("minimal", "val").empty());
  // One train record per evaluation (every 5), as log_every (1000) is longer.
  EXPECT_EQ(records("minimal", "train").size(), 60u);
}

// Weight averaging on the minimal task, whose SGD steps are known: w ← w − lr · 2(w − index). The
// average follows the documented rule from w₀; last.safetensors holds it as the model and the raw
// weights beside it, and training goes on from the raw weights.
TEST_F(TrainerTest, WeightAveragingFollowsItsRuleAndTrainsOnTheRawWeights) {
  constexpr double kDecay = 0.9;
  constexpr long kSteps = 12;  // evaluations at 5, 10 and 12
  constexpr float kLr = 0.1f;
  Minimal task;
  auto optimizer = make_optimizer(task.params(), SgdOptions{kLr});
  auto schedule = make_schedule(kLr, ConstantOptions{});
  Rng rng(3);
  TrainerOptions o = options(kSteps, "ema");
  o.ema_decay = kDecay;
  Trainer trainer(task, *optimizer, *schedule, rng, o);
  trainer.run();
  // The same arithmetic by hand (float, as the trainer; the warm-up d = (1 + s) / (10 + s) rules
  // until it passes 0.9 at s = 80, so here every d is the warm-up's).
  float w = 0.0f, average = 0.0f;
  for (long s = 1; s <= kSteps; ++s) {
    w -= kLr * (2.0f * (w - static_cast<float>((s - 1) % 3)));
    const auto keep = static_cast<float>(std::min(kDecay, (1.0 + double(s)) / (10.0 + double(s))));
    average += (1.0f - keep) * (w - average);
  }
  constexpr float kSameArithmetic = 1e-6f;
  EXPECT_NEAR(task.params().value(0)[0], w, kSameArithmetic) << "training ends on the raw weights";
  EXPECT_GT(std::abs(w - average), 0.05f) << "the test needs an average away from the weights";
  const io::Safetensors last = io::Safetensors::read_file((dir_ / "ema/last.safetensors").string());
  EXPECT_NEAR(last.get<float>("w")[0], average, kSameArithmetic);
  ASSERT_TRUE(last.contains("train.ema.raw"));
  EXPECT_NEAR(last.get<float>("train.ema.raw")[0], w, kSameArithmetic);
  EXPECT_EQ(nlohmann::json::parse(last.metadata().at("recur.train")).at("ema_decay").get<double>(), kDecay);

  // Resuming that file without averaging is refused, naming the flag.
  Minimal other;
  auto sgd = make_optimizer(other.params(), SgdOptions{kLr});
  auto constant = make_schedule(kLr, ConstantOptions{});
  Trainer plain(other, *sgd, *constant, rng, options(20, "ema"));
  EXPECT_THROW(
      {
        try {
          plain.restore(last);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("resume it with its --ema"), std::string::npos) << e.what();
          throw;
        }
      },
      Error);
}

}  // namespace
}  // namespace recur::train
