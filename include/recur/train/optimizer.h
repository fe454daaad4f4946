// Optimizers over a ParameterTable's flat buffers: one loop over all parameters per step.
// Update rules follow PyTorch's torch.optim (same hyper-parameter meaning and defaults).
#pragma once

#include <vector>

#include "recur/nn/parameters.h"

namespace recur::train {

template <class T>
class Optimizer {
 public:
  explicit Optimizer(nn::ParameterTable<T>& params) : params_(params) {}
  virtual ~Optimizer() = default;
  virtual void step() = 0;  // applies the gradients in params.flat_grads(); does not zero them
  T learning_rate() const { return lr_; }
  void set_learning_rate(T lr) { lr_ = lr; }  // for schedules
  long steps() const { return steps_; }

 protected:
  nn::ParameterTable<T>& params_;
  T lr_ = T(0);
  long steps_ = 0;
};

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

 private:
  SgdOptions options_;
  std::vector<T> momentum_;
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // L2 added to the gradient (torch.optim.Adam, not AdamW)
};

// m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²;  θ ← θ - lr · (m / (1-β1ᵗ)) / (sqrt(v / (1-β2ᵗ)) + eps)
template <class T>
class Adam final : public Optimizer<T> {
 public:
  Adam(nn::ParameterTable<T>& params, const AdamOptions& options);
  void step() override;

 private:
  AdamOptions options_;
  std::vector<T> m_, v_;
};

// Scales all gradients so their global L2 norm is at most max_norm (torch.nn.utils.clip_grad_norm_:
// factor max_norm / (norm + 1e-6) when that is < 1). Returns the norm before clipping.
template <class T>
T clip_grad_norm(nn::ParameterTable<T>& params, T max_norm);

}  // namespace recur::train
