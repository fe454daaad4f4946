// Loss kernels: cross-entropy from logits (fused log-softmax) and mean squared error.
#pragma once

#include <cstdint>

#include "recur/common.h"

namespace recur::ops {

enum class Reduction { kMean, kSum, kNone };

struct CrossEntropyOptions {
  std::int32_t ignore_index = -100;  // rows whose target equals this are skipped (PyTorch's default)
  Reduction reduction = Reduction::kMean;
  // ε in [0, 1]: the target is (1 - ε)·onehot + ε/C, as torch's label_smoothing.
  double label_smoothing = 0.0;
};

// Cross-entropy of each row's logits against its target class:
//   loss_n = w_n · (logsumexp(logits[n, :]) - (1 - ε)·logits[n, target_n] - ε/C·Σ_c logits[n, c])
//   logits: (N, C)   targets: (N), each in [0, C) or ignore_index
//   mask: (N) row weights w_n >= 0 (finite), or null for all 1
//   log_probs: (N, C) output, saved for the backward     losses: (N) per-row losses, or null
// Returns Σ_n loss_n for kSum and kNone, and Σ_n loss_n / Σ_n w_n (over counted rows) for kMean;
// a batch with no counted row has loss 0 and zero gradient.
template <class T>
T cross_entropy_forward(const T* logits, const std::int32_t* targets, const T* mask, index_t N, index_t C,
                        const CrossEntropyOptions& options, T* log_probs, T* losses);

// dlogits[n, :] += g_n · w_n · (softmax(logits[n, :]) - (1 - ε)·onehot(target_n) - ε/C)
//   g_n = dloss[0] / Σ w (kMean), dloss[0] (kSum), dloss[n] (kNone: dloss is (N))
template <class T>
void cross_entropy_backward(const T* log_probs, const std::int32_t* targets, const T* mask, index_t N,
                            index_t C, const CrossEntropyOptions& options, const T* dloss, T* dlogits);

// Mean squared error: loss_i = (pred_i - target_i)², reduced by mean (÷ n) or sum; kNone writes losses (n).
template <class T>
T mse_forward(const T* pred, const T* target, index_t n, Reduction reduction, T* losses);
// dpred += g_i · 2 (pred - target) ; dtarget -= the same     (g_i = dloss[0]/n, dloss[0], or dloss[i])
template <class T>
void mse_backward(const T* pred, const T* target, index_t n, Reduction reduction, const T* dloss, T* dpred,
                  T* dtarget);

}  // namespace recur::ops
