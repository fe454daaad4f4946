// Parity of the optimizers, clip_grad_norm and the learning-rate schedules with PyTorch 1.13
// (tools/make_goldens.py: optimizers.json, schedules.json).
//
// optimizers.json: 5 steps of every torch.optim configuration in "runs" from the same θ0 with the
// same gradients; each run also holds torch's optimizer state after the last step. Options absent
// from a run take torch's defaults, so recur's defaults are checked too. Each run is checked in
// double (near exact) and float (float rounding only): the trajectory, and state() against torch's
// state under the same names.
// schedules.json: ReduceLROnPlateau, CosineAnnealingLR (+ LinearLR warmup) and char-rnn's decay
// (MultiplicativeLR) for fixed loss sequences / step counts, in double.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "golden_file.h"
#include "recur/train/optimizer.h"
#include "recur/train/schedule.h"
#include "test_util.h"

namespace recur {
namespace {

// Ordered: a run's "state" keeps torch's state order, which state() must reproduce.
using parity::json;
using recur::testing::all_close;

// Double: PyTorch's float64 up to the order of a few operations per element (worst 8.9e-16 over all
// runs when written). Float: float rounding of O(1) numbers over 5 steps (worst 2.7e-7).
constexpr double kDoubleAtol = 1e-12, kDoubleRtol = 1e-10;
constexpr double kFloatAtol = 2e-6, kFloatRtol = 2e-5;

template <class T>
struct Tolerance;
template <>
struct Tolerance<double> {
  static constexpr double atol = kDoubleAtol, rtol = kDoubleRtol;
};
template <>
struct Tolerance<float> {
  static constexpr double atol = kFloatAtol, rtol = kFloatRtol;
};

const json& golden(const std::string& name) {
  return parity::load(name);
}

// torch's keyword arguments on top of recur's defaults (which must equal torch's).
train::OptimizerOptions optimizer_options(const std::string& optimizer, const json& o) {
  auto set = [&o](const char* key, auto& field) {
    if (o.contains(key)) field = o[key].get<std::decay_t<decltype(field)>>();
  };
  auto set_betas = [&o](double& beta1, double& beta2) {
    if (o.contains("betas")) {
      beta1 = o["betas"][0];
      beta2 = o["betas"][1];
    }
  };
  if (optimizer == "SGD") {
    train::SgdOptions s;
    set("lr", s.lr);
    set("momentum", s.momentum);
    set("weight_decay", s.weight_decay);
    set("nesterov", s.nesterov);
    return s;
  }
  if (optimizer == "Adagrad") {
    train::AdagradOptions s;
    set("lr", s.lr);
    set("lr_decay", s.lr_decay);
    set("weight_decay", s.weight_decay);
    set("initial_accumulator_value", s.initial_accumulator_value);
    set("eps", s.eps);
    return s;
  }
  if (optimizer == "RMSprop") {
    train::RmsPropOptions s;
    set("lr", s.lr);
    set("alpha", s.alpha);
    set("eps", s.eps);
    set("weight_decay", s.weight_decay);
    set("momentum", s.momentum);
    set("centered", s.centered);
    return s;
  }
  if (optimizer == "Adam") {
    train::AdamOptions s;
    set("lr", s.lr);
    set_betas(s.beta1, s.beta2);
    set("eps", s.eps);
    set("weight_decay", s.weight_decay);
    return s;
  }
  if (optimizer == "AdamW") {
    train::AdamWOptions s;
    set("lr", s.lr);
    set_betas(s.beta1, s.beta2);
    set("eps", s.eps);
    set("weight_decay", s.weight_decay);
    return s;
  }
  throw Error("optimizers.json: unknown optimizer '" + optimizer + "'");
}

template <class T>
class OptimizerParity : public ::testing::Test {};
using Scalars = ::testing::Types<double, float>;
TYPED_TEST_SUITE(OptimizerParity, Scalars);

TYPED_TEST(OptimizerParity, TrajectoriesAndState) {
  using T = TypeParam;
  const json& c = golden("optimizers");
  const auto theta0 = c["theta0"].get<std::vector<double>>();
  const auto grads = c["grads"].get<std::vector<std::vector<double>>>();
  ASSERT_EQ(grads.size(), 5u);
  std::map<std::string, int> runs_per_optimizer;
  for (const auto& item : c["runs"].items()) {
    const std::string name = item.key();
    const json& run = item.value();
    SCOPED_TRACE(name);
    ++runs_per_optimizer[run["optimizer"].get<std::string>()];
    nn::ParameterTable<T> params;
    const int id = params.add("theta", {static_cast<index_t>(theta0.size())});
    params.freeze();
    Tensor<T> theta = params.value(id), grad = params.grad(id);
    for (index_t i = 0; i < theta.numel(); ++i) theta[i] = static_cast<T>(theta0[static_cast<size_t>(i)]);
    auto optimizer = train::make_optimizer<T>(params, optimizer_options(run["optimizer"], run["options"]));
    const auto trajectory = run["trajectory"].get<std::vector<std::vector<double>>>();
    for (size_t step = 0; step < grads.size(); ++step) {
      for (index_t i = 0; i < grad.numel(); ++i)
        grad[i] = static_cast<T>(grads[step][static_cast<size_t>(i)]);
      optimizer->step();
      EXPECT_TRUE(all_close(theta.data(), trajectory[step].data(), theta.numel(), Tolerance<T>::atol,
                            Tolerance<T>::rtol))
          << "after step " << step + 1;
    }
    // The state after 5 steps: torch's names in torch's order, torch's numbers. (The table has one
    // 7-element parameter at offset 0, so the flat state is the parameter's state.)
    const train::OptimizerState<T> state = optimizer->state();
    const json& want = run["state"];
    ASSERT_EQ(state.size(), want.size()) << optimizer->describe();
    size_t k = 0;
    for (const auto& entry : want.items()) {
      const auto& [key, tensor] = state[k++];
      EXPECT_EQ(key, entry.key());
      const auto values = entry.value().get<std::vector<double>>();
      ASSERT_EQ(static_cast<size_t>(tensor.numel()), values.size()) << key;
      EXPECT_TRUE(
          all_close(tensor.data(), values.data(), tensor.numel(), Tolerance<T>::atol, Tolerance<T>::rtol))
          << key;
    }
  }
  // Every optimizer is covered (and a run that failed to parse would show here).
  EXPECT_EQ(runs_per_optimizer, (std::map<std::string, int>{
                                    {"SGD", 3}, {"Adam", 2}, {"AdamW", 2}, {"Adagrad", 2}, {"RMSprop", 2}}));
}

TYPED_TEST(OptimizerParity, ClipGradNorm) {
  using T = TypeParam;
  const json& c = golden("optimizers");
  const auto g0 = c["grads"][0].get<std::vector<double>>();
  for (const auto& item : c["clip"].items()) {
    const std::string name = item.key();
    const json& clip = item.value();
    SCOPED_TRACE(name);
    nn::ParameterTable<T> params;
    const int id = params.add("p", {static_cast<index_t>(g0.size())});
    params.freeze();
    Tensor<T> grad = params.grad(id);
    for (index_t i = 0; i < grad.numel(); ++i) grad[i] = static_cast<T>(g0[static_cast<size_t>(i)]);
    const T norm = train::clip_grad_norm(params, static_cast<T>(clip["max_norm"].get<double>()));
    EXPECT_NEAR(norm, clip["norm"].get<double>(), Tolerance<T>::atol + Tolerance<T>::rtol);
    const auto want = clip["grad"].get<std::vector<double>>();
    EXPECT_TRUE(all_close(grad.data(), want.data(), grad.numel(), Tolerance<T>::atol, Tolerance<T>::rtol));
  }
}

// ---- schedules ---------------------------------------------------------------------------------

train::PlateauOptions plateau_options(const json& o) {
  train::PlateauOptions p;  // torch's defaults
  if (o.contains("factor")) p.factor = o["factor"];
  if (o.contains("patience")) p.patience = o["patience"];
  if (o.contains("threshold")) p.threshold = o["threshold"];
  if (o.contains("threshold_mode"))
    p.threshold_mode = o["threshold_mode"] == "abs" ? train::ThresholdMode::kAbs : train::ThresholdMode::kRel;
  if (o.contains("cooldown")) p.cooldown = o["cooldown"];
  if (o.contains("min_lr")) p.min_lr = o["min_lr"];
  if (o.contains("eps")) p.eps = o["eps"];
  return p;
}

// The same multiplications and max() as torch: bit-identical rates.
TEST(ScheduleParity, ReduceLrOnPlateau) {
  const json& c = golden("schedules");
  int cases = 0;
  for (const char* name : {"plateau", "plateau_abs", "plateau_defaults", "plateau_eps"}) {
    SCOPED_TRACE(name);
    const json& run = c.at(name);
    train::PlateauSchedule schedule(run["lr"], plateau_options(run["options"]));
    const auto losses = run["losses"].get<std::vector<double>>();
    const auto lrs = run["lrs"].get<std::vector<double>>();
    ASSERT_EQ(losses.size(), lrs.size());
    for (size_t k = 0; k < losses.size(); ++k) {
      schedule.on_validation(losses[k]);
      EXPECT_EQ(schedule.learning_rate(), lrs[k]) << "after loss " << k << " = " << losses[k];
    }
    EXPECT_LT(lrs.back(), lrs.front());  // every case reduces at least once
    ++cases;
  }
  EXPECT_EQ(cases, 4);
}

// torch computes the cosine recursively from the previous rate, recur in closed form: rounding
// (worst 3.5e-18 when written).
TEST(ScheduleParity, CosineAnnealingWithAndWithoutWarmup) {
  const json& c = golden("schedules");
  for (const char* name : {"cosine", "cosine_warmup"}) {
    SCOPED_TRACE(name);
    const json& run = c.at(name);
    train::CosineSchedule schedule(run["lr"], {.total_iterations = run["total_iterations"],
                                               .warmup_iterations = run["warmup_iterations"],
                                               .eta_min = run["eta_min"]});
    const auto lrs = run["lrs"].get<std::vector<double>>();
    ASSERT_EQ(static_cast<long>(lrs.size()), run["total_iterations"].get<long>() + 1);
    for (size_t i = 0; i < lrs.size(); ++i) {
      EXPECT_NEAR(schedule.learning_rate(), lrs[i], kDoubleAtol + kDoubleRtol * lrs[i])
          << "after " << i << " steps";
      schedule.on_step();
    }
  }
}

TEST(ScheduleParity, CharRnnDecayIsMultiplicativeLr) {
  const json& run = golden("schedules").at("char_rnn_decay");
  train::CharRnnDecay schedule(run["lr"], {.decay = run["decay"], .decay_after = run["decay_after"]});
  const auto lrs = run["lrs"].get<std::vector<double>>();
  ASSERT_EQ(lrs.size(), 9u);
  for (size_t k = 0; k < lrs.size(); ++k) {
    EXPECT_EQ(schedule.learning_rate(), lrs[k]) << "after " << k << " epochs";
    schedule.on_epoch_end();
  }
}

}  // namespace
}  // namespace recur
