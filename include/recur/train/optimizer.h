// Optimizers over a ParameterTable's flat buffers: one loop over all parameters per step.
// Update rules follow PyTorch 1.13's torch.optim (same hyper-parameter meaning and defaults;
// maximize / amsgrad / sparse gradients are not offered).
//
// State for checkpoints and exact resume: every optimizer keeps its per-element state as named flat
// (numel) buffers laid out like the table's flat value buffer, with PyTorch's names:
//
//   sgd       momentum_buffer (only when momentum != 0)
//   adagrad   sum
//   rmsprop   square_avg, momentum_buffer (momentum > 0), grad_avg (centered)
//   adam      exp_avg, exp_avg_sq
//   adamw     exp_avg, exp_avg_sq
//
// plus the number of steps taken (which drives Adam's bias corrections, Adagrad's lr_decay and SGD's
// "buffer = g on the first step"). state() copies them out; load_state() copies them back after
// checking names and sizes, and an optimizer so restored continues bit for bit as if it had never
// stopped. The learning rate is not part of this state: it belongs to the schedule (schedule.h),
// or to the options when there is none.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "recur/nn/parameters.h"

namespace recur::train {

template <class T>
using OptimizerState = std::vector<std::pair<std::string, Tensor<T>>>;

template <class T>
class Optimizer {
 public:
  // The table must be frozen; the state buffers are allocated here, sized like its flat buffers.
  explicit Optimizer(nn::ParameterTable<T>& params);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual void step() = 0;  // applies the gradients in params.flat_grads(); does not zero them

  virtual std::string name() const = 0;  // "sgd", "adagrad", "rmsprop", "adam", "adamw"
  // Hyper-parameters for logging, PyTorch's names ("lr" is the current learning rate; flags are 0/1).
  virtual std::vector<std::pair<std::string, double>> hyperparameters() const = 0;
  std::string describe() const;  // "adam(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0)"

  T learning_rate() const { return lr_; }
  void set_learning_rate(T lr);  // for schedules; lr >= 0
  long steps() const { return steps_; }

  // Deep copies of the named state buffers, each (numel), in the order listed above.
  OptimizerState<T> state() const;
  // Restores state() and the step count. The names must be exactly this optimizer's (any order),
  // each a (numel) tensor; nothing is changed when any check fails.
  void load_state(const OptimizerState<T>& state, long steps);

 protected:
  // Registers a named state buffer of numel elements, all `init`; returns it (shared storage).
  Tensor<T> add_state(std::string name, T init = T(0));

  nn::ParameterTable<T>& params_;
  T lr_ = T(0);
  long steps_ = 0;

 private:
  OptimizerState<T> state_;  // load_state copies into these buffers, so derived views stay valid
};

// ---- SGD ---------------------------------------------------------------------------------------

struct SgdOptions {
  double lr = 0.1;
  double momentum = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

// g ← g + wd·θ;  b ← μ·b + g (b = g on the first step);  θ ← θ - lr·(nesterov ? g + μ·b : b)
template <class T>
class Sgd final : public Optimizer<T> {
 public:
  Sgd(nn::ParameterTable<T>& params, const SgdOptions& options);
  void step() override;
  std::string name() const override { return "sgd"; }
  std::vector<std::pair<std::string, double>> hyperparameters() const override;

 private:
  SgdOptions options_;
  Tensor<T> momentum_;  // empty when momentum == 0
};

// ---- Adagrad -----------------------------------------------------------------------------------

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0.0;
  double weight_decay = 0.0;
  double initial_accumulator_value = 0.0;
  double eps = 1e-10;
};

// t-th step: g ← g + wd·θ;  s ← s + g²;  θ ← θ - lr / (1 + (t-1)·lr_decay) · g / (sqrt(s) + eps)
template <class T>
class Adagrad final : public Optimizer<T> {
 public:
  Adagrad(nn::ParameterTable<T>& params, const AdagradOptions& options);
  void step() override;
  std::string name() const override { return "adagrad"; }
  std::vector<std::pair<std::string, double>> hyperparameters() const override;

 private:
  AdagradOptions options_;
  Tensor<T> sum_;
};

// ---- RMSprop -----------------------------------------------------------------------------------

struct RmsPropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.0;
  bool centered = false;
};

// g ← g + wd·θ;  v ← α·v + (1-α)·g²;  centered: a ← α·a + (1-α)·g, d = sqrt(v - a²) + eps,
// else d = sqrt(v) + eps;  momentum: b ← μ·b + g/d (b starts at 0), θ ← θ - lr·b;  else θ ← θ - lr·g/d.
// One deliberate difference: centered, v - a² (≥ 0 in exact arithmetic) is clamped at 0 where
// rounding makes it negative, where PyTorch takes the sqrt of a negative number and gets NaN.
template <class T>
class RmsProp final : public Optimizer<T> {
 public:
  RmsProp(nn::ParameterTable<T>& params, const RmsPropOptions& options);
  void step() override;
  std::string name() const override { return "rmsprop"; }
  std::vector<std::pair<std::string, double>> hyperparameters() const override;

 private:
  RmsPropOptions options_;
  Tensor<T> square_avg_, momentum_, grad_avg_;  // the last two may be empty
};

// ---- Adam and AdamW ----------------------------------------------------------------------------

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // L2 added to the gradient (torch.optim.Adam, not AdamW)
};

// g ← g + wd·θ;  m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²;
// θ ← θ - lr · (m / (1-β1ᵗ)) / (sqrt(v / (1-β2ᵗ)) + eps)
template <class T>
class Adam final : public Optimizer<T> {
 public:
  Adam(nn::ParameterTable<T>& params, const AdamOptions& options);
  void step() override;
  std::string name() const override { return "adam"; }
  std::vector<std::pair<std::string, double>> hyperparameters() const override;

 private:
  AdamOptions options_;
  Tensor<T> m_, v_;
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;  // decoupled: scales θ, never enters m or v
};

// θ ← θ·(1 - lr·wd), then Adam's update with the raw gradient (torch.optim.AdamW).
template <class T>
class AdamW final : public Optimizer<T> {
 public:
  AdamW(nn::ParameterTable<T>& params, const AdamWOptions& options);
  void step() override;
  std::string name() const override { return "adamw"; }
  std::vector<std::pair<std::string, double>> hyperparameters() const override;

 private:
  AdamWOptions options_;
  Tensor<T> m_, v_;
};

// ---- choosing one at run time ------------------------------------------------------------------

// Typed configuration for programs that pick the optimizer from a flag (a CLI's "momentum" is
// SgdOptions with momentum set).
using OptimizerOptions = std::variant<SgdOptions, AdagradOptions, RmsPropOptions, AdamOptions, AdamWOptions>;

template <class T>
std::unique_ptr<Optimizer<T>> make_optimizer(nn::ParameterTable<T>& params, const OptimizerOptions& options);

// ---- gradient clipping -------------------------------------------------------------------------

// The global L2 norm of all gradients, accumulated in double; the same bits for any thread count.
template <class T>
double grad_norm(nn::ParameterTable<T>& params);

// Scales all gradients so their global L2 norm is at most max_norm (torch.nn.utils.clip_grad_norm_:
// factor max_norm / (norm + 1e-6) when that is < 1). Returns the norm before clipping.
template <class T>
T clip_grad_norm(nn::ParameterTable<T>& params, T max_norm);

}  // namespace recur::train
