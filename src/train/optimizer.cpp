#include "recur/train/optimizer.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

#include "recur/threads.h"

namespace recur::train {

namespace {

// Updates are elementwise and memory-bound (a few streams of n floats): split over recur's threads
// when each gets at least this many parameters. Every element is computed the same way whatever
// the split, so results do not depend on the thread count.
constexpr index_t kMinParametersPerThread = index_t(1) << 15;

// body(i) for every parameter index i in [0, n), in parallel for large n.
template <class Body>
void for_each_parameter(index_t n, Body&& body) {
  parallel_for(n, kMinParametersPerThread, [&](index_t begin, index_t end) {
    for (index_t i = begin; i < end; ++i) body(i);
  });
}

// "lr = 0" style errors: the optimizer, the option and the offending value.
void check_option(bool ok, const char* optimizer, const char* option, double value, const char* rule) {
  if (!ok) {
    char buf[32];
    const auto end = std::to_chars(buf, buf + sizeof(buf), value).ptr;
    throw Error(std::string(optimizer) + ": " + option + " = " + std::string(buf, end) + ", must be " + rule);
  }
}

std::string shortest(double value) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof(buf), value).ptr;
  return std::string(buf, end);
}

// A hyperparameter held as T, shown as it was given: 2e-3 held in a float is 0.002, not
// 0.0020000000949949026 (the float's exact value as a double).
template <class T>
std::string shortest_as(double value) {
  const T held = static_cast<T>(value);
  if (static_cast<double>(held) != value) return shortest(value);
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof(buf), held).ptr;
  return std::string(buf, end);
}

}  // namespace

// ---- Optimizer ---------------------------------------------------------------------------------

template <class T>
Optimizer<T>::Optimizer(nn::ParameterTable<T>& params) : params_(params) {
  RECUR_CHECK(params.frozen(), "optimizer: the parameter table must be frozen before an optimizer is made");
}

template <class T>
void Optimizer<T>::set_learning_rate(T lr) {
  RECUR_CHECK(lr >= T(0) && std::isfinite(lr),
              name() + ": learning rate must be finite and >= 0, got " + shortest(double(lr)));
  lr_ = lr;
}

template <class T>
std::string Optimizer<T>::describe() const {
  std::string out = name() + "(";
  bool first = true;
  for (const auto& [key, value] : hyperparameters()) {
    if (!first) out += ", ";
    first = false;
    out += key + "=" + shortest_as<T>(value);
  }
  return out + ")";
}

template <class T>
Tensor<T> Optimizer<T>::add_state(std::string name, T init) {
  Tensor<T> buffer = Tensor<T>::full(Shape{params_.numel()}, init);
  state_.emplace_back(std::move(name), buffer);
  return buffer;
}

template <class T>
OptimizerState<T> Optimizer<T>::state() const {
  OptimizerState<T> out;
  out.reserve(state_.size());
  for (const auto& [key, buffer] : state_) out.emplace_back(key, buffer.clone());
  return out;
}

template <class T>
void Optimizer<T>::load_state(const OptimizerState<T>& state, long steps) {
  const std::string who = name() + "::load_state: ";
  auto expected_names = [this] {
    std::string names;
    for (const auto& entry : state_) names += (names.empty() ? "" : ", ") + entry.first;
    return names.empty() ? std::string("no state") : names;
  };
  RECUR_CHECK(steps >= 0, who + "step count must be >= 0, got " + std::to_string(steps));
  // Check everything first, so a bad state leaves the optimizer untouched.
  std::vector<const Tensor<T>*> source(state_.size(), nullptr);
  for (const auto& [key, tensor] : state) {
    const std::string& wanted = key;  // (clang 14 cannot capture a structured binding)
    auto it = std::find_if(state_.begin(), state_.end(), [&](const auto& e) { return e.first == wanted; });
    RECUR_CHECK(it != state_.end(),
                who + "unexpected state '" + key + "' (" + name() + " keeps: " + expected_names() + ")");
    const size_t k = static_cast<size_t>(it - state_.begin());
    RECUR_CHECK(source[k] == nullptr, who + "state '" + key + "' given twice");
    RECUR_CHECK(tensor.shape() == Shape{params_.numel()},
                who + "state '" + key + "' has shape " + tensor.shape().str() + ", the parameters need " +
                    Shape{params_.numel()}.str());
    source[k] = &tensor;
  }
  for (size_t k = 0; k < state_.size(); ++k)
    RECUR_CHECK(source[k] != nullptr, who + "missing state '" + state_[k].first + "'");
  for (size_t k = 0; k < state_.size(); ++k)
    std::copy(source[k]->data(), source[k]->data() + source[k]->numel(), state_[k].second.data());
  steps_ = steps;
}

// ---- SGD ---------------------------------------------------------------------------------------

template <class T>
Sgd<T>::Sgd(nn::ParameterTable<T>& params, const SgdOptions& options)
    : Optimizer<T>(params), options_(options) {
  check_option(options.lr > 0, "Sgd", "lr", options.lr, "> 0");
  check_option(options.momentum >= 0, "Sgd", "momentum", options.momentum, ">= 0");
  check_option(options.weight_decay >= 0, "Sgd", "weight_decay", options.weight_decay, ">= 0");
  check_option(!options.nesterov || options.momentum > 0, "Sgd", "momentum", options.momentum,
               "> 0 with nesterov");
  this->lr_ = static_cast<T>(options.lr);
  if (options.momentum != 0) momentum_ = this->add_state("momentum_buffer");
}

template <class T>
void Sgd<T>::step() {
  Tensor<T> values = this->params_.flat_values(), grads = this->params_.flat_grads();
  const index_t n = values.numel();
  const T lr = this->lr_, mu = static_cast<T>(options_.momentum), wd = static_cast<T>(options_.weight_decay);
  const bool first = ++this->steps_ == 1;  // torch: the buffer does not exist yet
  T* theta = values.data();
  const T* g_raw = grads.data();
  T* buf = momentum_.data();
  const bool nesterov = options_.nesterov;
  for_each_parameter(n, [&](index_t i) {
    T g = g_raw[i] + wd * theta[i];
    if (mu != T(0)) {
      buf[i] = first ? g : mu * buf[i] + g;
      g = nesterov ? g + mu * buf[i] : buf[i];
    }
    theta[i] -= lr * g;
  });
}

template <class T>
std::vector<std::pair<std::string, double>> Sgd<T>::hyperparameters() const {
  return {{"lr", double(this->lr_)},
          {"momentum", options_.momentum},
          {"weight_decay", options_.weight_decay},
          {"nesterov", options_.nesterov ? 1.0 : 0.0}};
}

// ---- Adagrad -----------------------------------------------------------------------------------

template <class T>
Adagrad<T>::Adagrad(nn::ParameterTable<T>& params, const AdagradOptions& options)
    : Optimizer<T>(params), options_(options) {
  check_option(options.lr > 0, "Adagrad", "lr", options.lr, "> 0");
  check_option(options.lr_decay >= 0, "Adagrad", "lr_decay", options.lr_decay, ">= 0");
  check_option(options.weight_decay >= 0, "Adagrad", "weight_decay", options.weight_decay, ">= 0");
  check_option(options.initial_accumulator_value >= 0, "Adagrad", "initial_accumulator_value",
               options.initial_accumulator_value, ">= 0");
  check_option(options.eps >= 0, "Adagrad", "eps", options.eps, ">= 0");
  this->lr_ = static_cast<T>(options.lr);
  sum_ = this->add_state("sum", static_cast<T>(options.initial_accumulator_value));
}

template <class T>
void Adagrad<T>::step() {
  Tensor<T> values = this->params_.flat_values(), grads = this->params_.flat_grads();
  const index_t n = values.numel();
  const long t = ++this->steps_;
  // torch: clr = lr / (1 + (step - 1) * lr_decay), in double
  const T clr = static_cast<T>(double(this->lr_) / (1.0 + double(t - 1) * options_.lr_decay));
  const T wd = static_cast<T>(options_.weight_decay), eps = static_cast<T>(options_.eps);
  T* theta = values.data();
  const T* g_raw = grads.data();
  T* sum = sum_.data();
  for_each_parameter(n, [&](index_t i) {
    const T g = g_raw[i] + wd * theta[i];
    sum[i] += g * g;
    theta[i] -= clr * (g / (std::sqrt(sum[i]) + eps));
  });
}

template <class T>
std::vector<std::pair<std::string, double>> Adagrad<T>::hyperparameters() const {
  return {{"lr", double(this->lr_)},
          {"lr_decay", options_.lr_decay},
          {"weight_decay", options_.weight_decay},
          {"initial_accumulator_value", options_.initial_accumulator_value},
          {"eps", options_.eps}};
}

// ---- RMSprop -----------------------------------------------------------------------------------

template <class T>
RmsProp<T>::RmsProp(nn::ParameterTable<T>& params, const RmsPropOptions& options)
    : Optimizer<T>(params), options_(options) {
  check_option(options.lr > 0, "RmsProp", "lr", options.lr, "> 0");
  check_option(options.alpha >= 0 && options.alpha <= 1, "RmsProp", "alpha", options.alpha, "in [0, 1]");
  check_option(options.eps >= 0, "RmsProp", "eps", options.eps, ">= 0");
  check_option(options.weight_decay >= 0, "RmsProp", "weight_decay", options.weight_decay, ">= 0");
  check_option(options.momentum >= 0, "RmsProp", "momentum", options.momentum, ">= 0");
  this->lr_ = static_cast<T>(options.lr);
  // torch's state order: square_avg, momentum_buffer, grad_avg
  square_avg_ = this->add_state("square_avg");
  if (options.momentum > 0) momentum_ = this->add_state("momentum_buffer");
  if (options.centered) grad_avg_ = this->add_state("grad_avg");
}

template <class T>
void RmsProp<T>::step() {
  Tensor<T> values = this->params_.flat_values(), grads = this->params_.flat_grads();
  const index_t n = values.numel();
  ++this->steps_;
  const T lr = this->lr_, alpha = static_cast<T>(options_.alpha), one_minus_alpha = T(1) - alpha;
  const T wd = static_cast<T>(options_.weight_decay), eps = static_cast<T>(options_.eps);
  const T mu = static_cast<T>(options_.momentum);
  const bool centered = options_.centered, momentum = options_.momentum > 0;
  T* theta = values.data();
  const T* g_raw = grads.data();
  T *sq = square_avg_.data(), *buf = momentum_.data(), *ga = grad_avg_.data();
  for_each_parameter(n, [&](index_t i) {
    const T g = g_raw[i] + wd * theta[i];
    sq[i] = alpha * sq[i] + one_minus_alpha * g * g;
    T avg;
    if (centered) {
      ga[i] = alpha * ga[i] + one_minus_alpha * g;
      avg = std::sqrt(std::max(sq[i] - ga[i] * ga[i], T(0))) + eps;
    } else {
      avg = std::sqrt(sq[i]) + eps;
    }
    if (momentum) {
      buf[i] = mu * buf[i] + g / avg;
      theta[i] -= lr * buf[i];
    } else {
      theta[i] -= lr * (g / avg);
    }
  });
}

template <class T>
std::vector<std::pair<std::string, double>> RmsProp<T>::hyperparameters() const {
  return {{"lr", double(this->lr_)},       {"alpha", options_.alpha},
          {"eps", options_.eps},           {"weight_decay", options_.weight_decay},
          {"momentum", options_.momentum}, {"centered", options_.centered ? 1.0 : 0.0}};
}

// ---- Adam and AdamW ----------------------------------------------------------------------------

namespace {

void check_adam_options(const char* who, double lr, double beta1, double beta2, double eps, double wd) {
  check_option(lr > 0, who, "lr", lr, "> 0");
  check_option(beta1 >= 0 && beta1 < 1, who, "beta1", beta1, "in [0, 1)");
  check_option(beta2 >= 0 && beta2 < 1, who, "beta2", beta2, "in [0, 1)");
  check_option(eps >= 0, who, "eps", eps, ">= 0");
  check_option(wd >= 0, who, "weight_decay", wd, ">= 0");
}

// One Adam step over n elements at step t (1-based). decoupled_wd == 0 and l2_wd == 0 give plain
// Adam; Adam adds l2_wd·θ to the gradient, AdamW scales θ by (1 - lr·decoupled_wd) first.
template <class T>
void adam_update(T* theta, const T* g_raw, T* m, T* v, index_t n, long t, double lr, double beta1,
                 double beta2, double eps, double l2_wd, double decoupled_wd) {
  const double td = static_cast<double>(t);
  const T b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2);
  const T wd = static_cast<T>(l2_wd), eps_t = static_cast<T>(eps);
  const T decay = static_cast<T>(1.0 - lr * decoupled_wd);
  const T step_size = static_cast<T>(lr / (1.0 - std::pow(beta1, td)));
  const T inv_sqrt_bias2 = static_cast<T>(1.0 / std::sqrt(1.0 - std::pow(beta2, td)));
  const bool decays = decoupled_wd != 0;
  for_each_parameter(n, [&](index_t i) {
    const T g = g_raw[i] + wd * theta[i];
    if (decays) theta[i] *= decay;
    m[i] = b1 * m[i] + (T(1) - b1) * g;
    v[i] = b2 * v[i] + (T(1) - b2) * g * g;
    theta[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bias2 + eps_t);
  });
}

}  // namespace

template <class T>
Adam<T>::Adam(nn::ParameterTable<T>& params, const AdamOptions& options)
    : Optimizer<T>(params), options_(options) {
  check_adam_options("Adam", options.lr, options.beta1, options.beta2, options.eps, options.weight_decay);
  this->lr_ = static_cast<T>(options.lr);
  m_ = this->add_state("exp_avg");
  v_ = this->add_state("exp_avg_sq");
}

template <class T>
void Adam<T>::step() {
  Tensor<T> values = this->params_.flat_values(), grads = this->params_.flat_grads();
  adam_update(values.data(), grads.data(), m_.data(), v_.data(), values.numel(), ++this->steps_,
              double(this->lr_), options_.beta1, options_.beta2, options_.eps, options_.weight_decay, 0.0);
}

template <class T>
std::vector<std::pair<std::string, double>> Adam<T>::hyperparameters() const {
  return {{"lr", double(this->lr_)},
          {"beta1", options_.beta1},
          {"beta2", options_.beta2},
          {"eps", options_.eps},
          {"weight_decay", options_.weight_decay}};
}

template <class T>
AdamW<T>::AdamW(nn::ParameterTable<T>& params, const AdamWOptions& options)
    : Optimizer<T>(params), options_(options) {
  check_adam_options("AdamW", options.lr, options.beta1, options.beta2, options.eps, options.weight_decay);
  this->lr_ = static_cast<T>(options.lr);
  m_ = this->add_state("exp_avg");
  v_ = this->add_state("exp_avg_sq");
}

template <class T>
void AdamW<T>::step() {
  Tensor<T> values = this->params_.flat_values(), grads = this->params_.flat_grads();
  adam_update(values.data(), grads.data(), m_.data(), v_.data(), values.numel(), ++this->steps_,
              double(this->lr_), options_.beta1, options_.beta2, options_.eps, 0.0, options_.weight_decay);
}

template <class T>
std::vector<std::pair<std::string, double>> AdamW<T>::hyperparameters() const {
  return {{"lr", double(this->lr_)},
          {"beta1", options_.beta1},
          {"beta2", options_.beta2},
          {"eps", options_.eps},
          {"weight_decay", options_.weight_decay}};
}

// ---- make_optimizer ----------------------------------------------------------------------------

template <class T>
std::unique_ptr<Optimizer<T>> make_optimizer(nn::ParameterTable<T>& params, const OptimizerOptions& options) {
  return std::visit(
      [&params](const auto& o) -> std::unique_ptr<Optimizer<T>> {
        using O = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<O, SgdOptions>) return std::make_unique<Sgd<T>>(params, o);
        if constexpr (std::is_same_v<O, AdagradOptions>) return std::make_unique<Adagrad<T>>(params, o);
        if constexpr (std::is_same_v<O, RmsPropOptions>) return std::make_unique<RmsProp<T>>(params, o);
        if constexpr (std::is_same_v<O, AdamOptions>) return std::make_unique<Adam<T>>(params, o);
        if constexpr (std::is_same_v<O, AdamWOptions>) return std::make_unique<AdamW<T>>(params, o);
      },
      options);
}

// ---- clip_grad_norm ----------------------------------------------------------------------------

template <class T>
double grad_norm(nn::ParameterTable<T>& params) {
  // Fixed chunks, each summed in order over 8 lanes in double, then the chunk sums in order: the
  // same bits for any thread count.
  constexpr index_t kChunk = index_t(1) << 14;
  constexpr int kLanes = 8;
  const Tensor<T> grads = params.flat_grads();
  const T* g = grads.data();
  const index_t n = grads.numel(), chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> chunk_sums(static_cast<std::size_t>(chunks));
  parallel_for(chunks, 2, [&](index_t c_begin, index_t c_end) {
    for (index_t c = c_begin; c < c_end; ++c) {
      const index_t begin = c * kChunk, end = std::min(n, begin + kChunk);
      double lane[kLanes] = {};
      index_t i = begin;
      for (; i + kLanes <= end; i += kLanes)
        for (int l = 0; l < kLanes; ++l) lane[l] += double(g[i + l]) * double(g[i + l]);
      for (; i < end; ++i) lane[0] += double(g[i]) * double(g[i]);
      double s = 0;
      for (double v : lane) s += v;
      chunk_sums[static_cast<std::size_t>(c)] = s;
    }
  });
  double sum_sq = 0;
  for (double s : chunk_sums) sum_sq += s;
  return std::sqrt(sum_sq);
}

template <class T>
T clip_grad_norm(nn::ParameterTable<T>& params, T max_norm) {
  RECUR_CHECK(max_norm > T(0), "clip_grad_norm: max_norm must be positive");
  const double norm = grad_norm(params);
  const double factor = double(max_norm) / (norm + 1e-6);
  if (factor < 1.0) {
    T* g = params.flat_grads().data();
    for_each_parameter(params.flat_grads().numel(),
                       [&](index_t i) { g[i] = static_cast<T>(double(g[i]) * factor); });
  }
  return static_cast<T>(norm);
}

template class Optimizer<float>;
template class Optimizer<double>;
template class Sgd<float>;
template class Sgd<double>;
template class Adagrad<float>;
template class Adagrad<double>;
template class RmsProp<float>;
template class RmsProp<double>;
template class Adam<float>;
template class Adam<double>;
template class AdamW<float>;
template class AdamW<double>;
template std::unique_ptr<Optimizer<float>> make_optimizer<float>(nn::ParameterTable<float>&,
                                                                 const OptimizerOptions&);
template std::unique_ptr<Optimizer<double>> make_optimizer<double>(nn::ParameterTable<double>&,
                                                                   const OptimizerOptions&);
template double grad_norm<float>(nn::ParameterTable<float>&);
template double grad_norm<double>(nn::ParameterTable<double>&);
template float clip_grad_norm<float>(nn::ParameterTable<float>&, float);
template double clip_grad_norm<double>(nn::ParameterTable<double>&, double);

}  // namespace recur::train
