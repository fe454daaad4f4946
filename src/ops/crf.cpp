#include "recur/ops/crf.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "recur/threads.h"

namespace recur::ops {

namespace {

// log Σ exp(v_i) over n values, stable.
double log_sum_exp(const double* v, index_t n) {
  double top = -std::numeric_limits<double>::infinity();
  for (index_t i = 0; i < n; ++i) top = std::max(top, v[i]);
  if (!std::isfinite(top)) return top;
  double s = 0;
  for (index_t i = 0; i < n; ++i) s += std::exp(v[i] - top);
  return top + std::log(s);
}

}  // namespace

void check_crf_inputs(const char* op, CrfShape shape, const index_t* lengths, const std::int32_t* tags) {
  RECUR_CHECK(shape.T >= 1 && shape.B >= 1 && shape.K >= 1,
              fmt::format("{}: shape (T {}, B {}, K {}) must be positive", op, shape.T, shape.B, shape.K));
  for (index_t b = 0; b < shape.B; ++b) {
    RECUR_CHECK(lengths[b] >= 1 && lengths[b] <= shape.T,
                fmt::format("{}: sentence {} has length {}, not in [1, {}]", op, b, lengths[b], shape.T));
    if (!tags) continue;
    for (index_t t = 0; t < lengths[b]; ++t) {
      const std::int32_t y = tags[t * shape.B + b];
      RECUR_CHECK(y >= 0 && y < shape.K, fmt::format("{}: tag {} at step {} of sentence {} is not in [0, {})",
                                                     op, y, t, b, shape.K));
    }
  }
}

template <class T>
double crf_nll_forward(const T* E, const T* A, const T* start, const T* end, const std::int32_t* tags,
                       const index_t* lengths, CrfShape s, CrfForwardState& state) {
  check_crf_inputs("crf", s, lengths, tags);
  const index_t TB = s.T * s.B, K = s.K;
  state.alpha.assign(static_cast<size_t>(TB * K), 0.0);
  state.beta.assign(static_cast<size_t>(TB * K), 0.0);
  state.log_z.assign(static_cast<size_t>(s.B), 0.0);
  std::vector<double> nll(static_cast<size_t>(s.B), 0.0);
  parallel_for(s.B, 4, [&](index_t b0, index_t b1) {
    std::vector<double> terms(static_cast<size_t>(K));
    for (index_t b = b0; b < b1; ++b) {
      const index_t L = lengths[b];
      const auto at = [&](index_t t, index_t k) { return static_cast<size_t>((t * s.B + b) * K + k); };
      double* alpha = state.alpha.data();
      double* beta = state.beta.data();
      for (index_t k = 0; k < K; ++k) alpha[at(0, k)] = double(start[k]) + double(E[at(0, k)]);
      for (index_t t = 1; t < L; ++t)
        for (index_t j = 0; j < K; ++j) {
          for (index_t i = 0; i < K; ++i) terms[size_t(i)] = alpha[at(t - 1, i)] + double(A[i * K + j]);
          alpha[at(t, j)] = log_sum_exp(terms.data(), K) + double(E[at(t, j)]);
        }
      for (index_t k = 0; k < K; ++k) beta[at(L - 1, k)] = double(end[k]);
      for (index_t t = L - 2; t >= 0; --t)
        for (index_t i = 0; i < K; ++i) {
          for (index_t j = 0; j < K; ++j)
            terms[size_t(j)] = double(A[i * K + j]) + double(E[at(t + 1, j)]) + beta[at(t + 1, j)];
          beta[at(t, i)] = log_sum_exp(terms.data(), K);
        }
      for (index_t k = 0; k < K; ++k) terms[size_t(k)] = alpha[at(L - 1, k)] + double(end[k]);
      const double log_z = log_sum_exp(terms.data(), K);
      double gold = double(start[tags[b]]) + double(end[tags[(L - 1) * s.B + b]]);
      for (index_t t = 0; t < L; ++t) {
        const std::int32_t y = tags[t * s.B + b];
        gold += double(E[at(t, y)]);
        if (t > 0) gold += double(A[tags[(t - 1) * s.B + b] * K + y]);
      }
      state.log_z[size_t(b)] = log_z;
      nll[size_t(b)] = log_z - gold;
    }
  });
  double total = 0;
  for (double v : nll) total += v;
  return total;
}

template <class T>
void crf_nll_backward(const T* E, const T* A, const std::int32_t* tags, const index_t* lengths, CrfShape s,
                      const CrfForwardState& state, double g, T* dE, T* dA, T* d_start, T* d_end) {
  const index_t K = s.K;
  // Sentences in parallel write disjoint rows of dE; the shared A, start and end gradients are
  // summed per block and added after.
  const index_t blocks = std::min<index_t>(s.B, std::max(1, num_threads()));
  std::vector<std::vector<double>> shared(static_cast<size_t>(blocks),
                                          std::vector<double>(static_cast<size_t>(K * K + 2 * K), 0.0));
  parallel_for(blocks, 1, [&](index_t c0, index_t c1) {
    for (index_t c = c0; c < c1; ++c) {
      double* dA_sum = shared[size_t(c)].data();
      double* d_start_sum = dA_sum + K * K;
      double* d_end_sum = d_start_sum + K;
      for (index_t b = c * s.B / blocks; b < (c + 1) * s.B / blocks; ++b) {
        const index_t L = lengths[b];
        const double log_z = state.log_z[size_t(b)];
        const auto at = [&](index_t t, index_t k) { return static_cast<size_t>((t * s.B + b) * K + k); };
        for (index_t t = 0; t < L; ++t) {
          const std::int32_t y = tags[t * s.B + b];
          for (index_t k = 0; k < K; ++k) {
            const double p = std::exp(state.alpha[at(t, k)] + state.beta[at(t, k)] - log_z);
            const double d = p - (k == y ? 1.0 : 0.0);
            if (dE) dE[at(t, k)] += static_cast<T>(g * d);
            if (t == 0) d_start_sum[k] += d;
            if (t == L - 1) d_end_sum[k] += d;
          }
          if (t + 1 < L) {
            for (index_t i = 0; i < K; ++i)
              for (index_t j = 0; j < K; ++j)
                dA_sum[i * K + j] += std::exp(state.alpha[at(t, i)] + double(A[i * K + j]) +
                                              double(E[at(t + 1, j)]) + state.beta[at(t + 1, j)] - log_z);
            dA_sum[y * K + tags[(t + 1) * s.B + b]] -= 1.0;
          }
        }
      }
    }
  });
  for (const std::vector<double>& block : shared)
    for (index_t i = 0; i < K * K + 2 * K; ++i) {
      const auto v = static_cast<T>(g * block[size_t(i)]);
      if (i < K * K) {
        if (dA) dA[i] += v;
      } else if (i < K * K + K) {
        if (d_start) d_start[i - K * K] += v;
      } else if (d_end) {
        d_end[i - K * K - K] += v;
      }
    }
}

template <class T>
void crf_viterbi(const T* E, const T* A, const T* start, const T* end, const index_t* lengths, CrfShape s,
                 std::int32_t* tags) {
  check_crf_inputs("crf_viterbi", s, lengths, nullptr);
  const index_t K = s.K;
  std::fill(tags, tags + s.T * s.B, -1);
  parallel_for(s.B, 4, [&](index_t b0, index_t b1) {
    std::vector<double> score(static_cast<size_t>(K)), next(static_cast<size_t>(K));
    std::vector<std::int32_t> back(static_cast<size_t>(s.T * K));
    for (index_t b = b0; b < b1; ++b) {
      const index_t L = lengths[b];
      const auto e = [&](index_t t, index_t k) { return double(E[(t * s.B + b) * K + k]); };
      for (index_t k = 0; k < K; ++k) score[size_t(k)] = double(start[k]) + e(0, k);
      for (index_t t = 1; t < L; ++t) {
        for (index_t j = 0; j < K; ++j) {
          index_t best = 0;
          double best_score = score[0] + double(A[j]);
          for (index_t i = 1; i < K; ++i) {
            const double v = score[size_t(i)] + double(A[i * K + j]);
            if (v > best_score) {
              best_score = v;
              best = i;
            }
          }
          next[size_t(j)] = best_score + e(t, j);
          back[size_t(t * K + j)] = static_cast<std::int32_t>(best);
        }
        std::swap(score, next);
      }
      index_t last = 0;
      double best_score = score[0] + double(end[0]);
      for (index_t k = 1; k < K; ++k)
        if (score[size_t(k)] + double(end[k]) > best_score) {
          best_score = score[size_t(k)] + double(end[k]);
          last = k;
        }
      tags[(L - 1) * s.B + b] = static_cast<std::int32_t>(last);
      for (index_t t = L - 1; t > 0; --t) {
        last = back[size_t(t * K + last)];
        tags[(t - 1) * s.B + b] = static_cast<std::int32_t>(last);
      }
    }
  });
}

#define RECUR_INSTANTIATE_CRF(T)                                                                       \
  template double crf_nll_forward<T>(const T*, const T*, const T*, const T*, const std::int32_t*,      \
                                     const index_t*, CrfShape, CrfForwardState&);                      \
  template void crf_nll_backward<T>(const T*, const T*, const std::int32_t*, const index_t*, CrfShape, \
                                    const CrfForwardState&, double, T*, T*, T*, T*);                   \
  template void crf_viterbi<T>(const T*, const T*, const T*, const T*, const index_t*, CrfShape,       \
                               std::int32_t*);
RECUR_INSTANTIATE_CRF(float)
RECUR_INSTANTIATE_CRF(double)

}  // namespace recur::ops
