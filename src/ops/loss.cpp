#include "recur/ops/loss.h"

#include <fmt/format.h>
#include <cmath>
#include <vector>

#include "kernel_support.h"
#include "recur/ops/softmax.h"
#include "recur/ops/vmath.h"

namespace recur::ops {

namespace {

bool counted(std::int32_t target, const CrossEntropyOptions& options) {
  return target != options.ignore_index;
}

// Σ_n w_n over the counted rows: the divisor of the mean.
template <class T>
double weight_total(const std::int32_t* targets, const T* mask, index_t N,
                    const CrossEntropyOptions& options) {
  double total = 0;
  for (index_t n = 0; n < N; ++n)
    if (counted(targets[n], options)) total += mask ? double(mask[n]) : 1.0;
  return total;
}

}  // namespace

template <class T>
T cross_entropy_forward(const T* logits, const std::int32_t* targets, const T* mask, index_t N, index_t C,
                        const CrossEntropyOptions& options, T* log_probs, T* losses) {
  for (index_t n = 0; n < N; ++n) {
    RECUR_CHECK(
        !counted(targets[n], options) || (targets[n] >= 0 && targets[n] < C),
        fmt::format("cross_entropy: target {} at row {} is outside [0, {}) and is not the ignore index {}",
                    targets[n], n, C, options.ignore_index));
    RECUR_CHECK(!mask || (std::isfinite(double(mask[n])) && mask[n] >= T(0)),
                fmt::format("cross_entropy: mask weight {} at row {} must be finite and non-negative",
                            double(mask[n]), n));
  }
  const double eps = options.label_smoothing;
  RECUR_CHECK(eps >= 0.0 && eps <= 1.0,
              fmt::format("cross_entropy: label smoothing {} is not in [0, 1]", eps));
  log_softmax_forward(logits, log_probs, N, C);
  double sum = 0;
  for (index_t n = 0; n < N; ++n) {
    double loss = 0;
    if (counted(targets[n], options)) {
      // -w·[(1 - ε)·log p_t + ε/C·Σ_c log p_c]: logsumexp counts (1 - ε) + C·ε/C = 1 times.
      double target_log_prob = double(log_probs[n * C + targets[n]]);
      if (eps > 0.0) {
        double all = 0;
        for (index_t c = 0; c < C; ++c) all += double(log_probs[n * C + c]);
        target_log_prob = (1.0 - eps) * target_log_prob + eps / double(C) * all;
      }
      loss = -(mask ? double(mask[n]) : 1.0) * target_log_prob;
    }
    if (losses) losses[n] = static_cast<T>(loss);
    sum += loss;
  }
  if (options.reduction != Reduction::kMean) return static_cast<T>(sum);
  const double total = weight_total(targets, mask, N, options);
  return total > 0 ? static_cast<T>(sum / total) : T(0);
}

template <class T>
void cross_entropy_backward(const T* log_probs, const std::int32_t* targets, const T* mask, index_t N,
                            index_t C, const CrossEntropyOptions& options, const T* dloss, T* dlogits) {
  if (!dlogits) return;
  double scale = 1.0;
  if (options.reduction == Reduction::kMean) {
    const double total = weight_total(targets, mask, N, options);
    if (total <= 0) return;
    scale = 1.0 / total;
  }
  const T spread = static_cast<T>(options.label_smoothing / double(C));
  const T on_target = static_cast<T>(1.0 - options.label_smoothing);
  detail::for_row_blocks(N, C, [&](index_t r0, index_t r1) {
    std::vector<T> probs(static_cast<size_t>(C));
    for (index_t n = r0; n < r1; ++n) {
      if (!counted(targets[n], options)) continue;
      const T g =
          static_cast<T>((options.reduction == Reduction::kNone ? double(dloss[n]) : dloss[0] * scale) *
                         (mask ? double(mask[n]) : 1.0));
      vmath::exp(log_probs + n * C, probs.data(), C);  // softmax(logits[n, :])
      T* d = dlogits + n * C;
      // ε = 0 gives spread 0 and on_target 1 exactly: the unsmoothed gradient, bit for bit.
      for (index_t c = 0; c < C; ++c) d[c] += g * (probs[c] - spread);
      d[targets[n]] -= g * on_target;
    }
  });
}

template <class T>
T mse_forward(const T* pred, const T* target, index_t n, Reduction reduction, T* losses) {
  double sum = 0;
  for (index_t i = 0; i < n; ++i) {
    const double diff = double(pred[i]) - double(target[i]);
    if (losses) losses[i] = static_cast<T>(diff * diff);
    sum += diff * diff;
  }
  if (reduction == Reduction::kMean) return n > 0 ? static_cast<T>(sum / double(n)) : T(0);
  return static_cast<T>(sum);
}

template <class T>
void mse_backward(const T* pred, const T* target, index_t n, Reduction reduction, const T* dloss, T* dpred,
                  T* dtarget) {
  if (n == 0) return;
  for (index_t i = 0; i < n; ++i) {
    const T g = reduction == Reduction::kNone   ? dloss[i]
                : reduction == Reduction::kMean ? static_cast<T>(dloss[0] / double(n))
                                                : dloss[0];
    const T d = T(2) * g * (pred[i] - target[i]);
    if (dpred) dpred[i] += d;
    if (dtarget) dtarget[i] -= d;
  }
}

#define RECUR_INSTANTIATE_LOSS(T)                                                                    \
  template T cross_entropy_forward<T>(const T*, const std::int32_t*, const T*, index_t, index_t,     \
                                      const CrossEntropyOptions&, T*, T*);                           \
  template void cross_entropy_backward<T>(const T*, const std::int32_t*, const T*, index_t, index_t, \
                                          const CrossEntropyOptions&, const T*, T*);                 \
  template T mse_forward<T>(const T*, const T*, index_t, Reduction, T*);                             \
  template void mse_backward<T>(const T*, const T*, index_t, Reduction, const T*, T*, T*);
RECUR_INSTANTIATE_LOSS(float)
RECUR_INSTANTIATE_LOSS(double)

}  // namespace recur::ops
