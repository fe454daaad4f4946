#include "recur/train/optimizer.h"

#include <cmath>

namespace recur::train {

template <class T>
Sgd<T>::Sgd(nn::ParameterTable<T>& params, const SgdOptions& options)
    : Optimizer<T>(params), options_(options) {
  RECUR_CHECK(options.lr > 0 && options.momentum >= 0 && options.weight_decay >= 0, "Sgd: invalid options");
  this->lr_ = static_cast<T>(options.lr);
}

template <class T>
void Sgd<T>::step() {
  Tensor<T> values = this->params_.flat_values(), grads = this->params_.flat_grads();
  const index_t n = values.numel();
  const T lr = this->lr_, mu = static_cast<T>(options_.momentum), wd = static_cast<T>(options_.weight_decay);
  const bool first = this->steps_ == 0;
  if (mu != T(0) && momentum_.empty()) momentum_.assign(static_cast<size_t>(n), T(0));
  T* theta = values.data();
  const T* g_raw = grads.data();
  for (index_t i = 0; i < n; ++i) {
    T g = g_raw[i] + wd * theta[i];
    if (mu != T(0)) {
      T& b = momentum_[static_cast<size_t>(i)];
      b = first ? g : mu * b + g;
      g = options_.nesterov ? g + mu * b : b;
    }
    theta[i] -= lr * g;
  }
  ++this->steps_;
}

template <class T>
Adam<T>::Adam(nn::ParameterTable<T>& params, const AdamOptions& options)
    : Optimizer<T>(params), options_(options) {
  RECUR_CHECK(options.lr > 0 && options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 &&
                  options.beta2 < 1 && options.eps >= 0 && options.weight_decay >= 0,
              "Adam: invalid options");
  this->lr_ = static_cast<T>(options.lr);
}

template <class T>
void Adam<T>::step() {
  Tensor<T> values = this->params_.flat_values(), grads = this->params_.flat_grads();
  const index_t n = values.numel();
  if (m_.empty()) {
    m_.assign(static_cast<size_t>(n), T(0));
    v_.assign(static_cast<size_t>(n), T(0));
  }
  ++this->steps_;
  const double t = static_cast<double>(this->steps_);
  const T b1 = static_cast<T>(options_.beta1), b2 = static_cast<T>(options_.beta2);
  const T wd = static_cast<T>(options_.weight_decay), eps = static_cast<T>(options_.eps);
  const T step_size = static_cast<T>(double(this->lr_) / (1.0 - std::pow(options_.beta1, t)));
  const T inv_sqrt_bias2 = static_cast<T>(1.0 / std::sqrt(1.0 - std::pow(options_.beta2, t)));
  T* theta = values.data();
  const T* g_raw = grads.data();
  T *m = m_.data(), *v = v_.data();
  for (index_t i = 0; i < n; ++i) {
    const T g = g_raw[i] + wd * theta[i];
    m[i] = b1 * m[i] + (T(1) - b1) * g;
    v[i] = b2 * v[i] + (T(1) - b2) * g * g;
    theta[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bias2 + eps);
  }
}

template <class T>
T clip_grad_norm(nn::ParameterTable<T>& params, T max_norm) {
  RECUR_CHECK(max_norm > T(0), "clip_grad_norm: max_norm must be positive");
  Tensor<T> grads = params.flat_grads();
  double sum_sq = 0;
  for (index_t i = 0; i < grads.numel(); ++i) sum_sq += double(grads[i]) * grads[i];
  const double norm = std::sqrt(sum_sq);
  const double factor = double(max_norm) / (norm + 1e-6);
  if (factor < 1.0) {
    for (index_t i = 0; i < grads.numel(); ++i) grads[i] = static_cast<T>(grads[i] * factor);
  }
  return static_cast<T>(norm);
}

template class Sgd<float>;
template class Sgd<double>;
template class Adam<float>;
template class Adam<double>;
template float clip_grad_norm<float>(nn::ParameterTable<float>&, float);
template double clip_grad_norm<double>(nn::ParameterTable<double>&, double);

}  // namespace recur::train
