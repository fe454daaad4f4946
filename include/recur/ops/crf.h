// A linear-chain conditional random field over tag sequences (Lafferty et al. 2001; the output layer
// of Huang et al. 2015's BI-LSTM-CRF and Lample et al. 2016's tagger). A path y_0 … y_{L-1} of a
// sentence of L words scores
//
//   score(y) = start[y_0] + Σ_t E[t, y_t] + Σ_{t≥1} A[y_{t-1}, y_t] + end[y_{L-1}]
//
// with E the emission scores the network gives each word and tag, A[i, j] the learned score of tag
// j after tag i. The loss of the gold path is −log p(y) = log Z − score(y), Z = Σ_paths exp(score),
// computed by the forward algorithm in log space; its gradient is the expected count of every
// emission and transition (forward-backward marginals) minus the gold path's count. Viterbi finds
// the best path. Every sentence of a batch has its own length; steps past it take no part.
//
// Shapes (time-major, as recur's recurrent layers write them): emissions (T, B, K), transitions
// (K, K) [from, to], start and end (K), tags (T, B), lengths (B) with 1 ≤ lengths[b] ≤ T. The sums
// run in double whatever T is.
#pragma once

#include <cstdint>
#include <vector>

#include "recur/common.h"

namespace recur::ops {

struct CrfShape {
  index_t T = 0, B = 0, K = 0;
};

// What the backward pass needs from the forward: the forward and backward log scores
// α, β (T, B, K) and each sentence's log Z.
struct CrfForwardState {
  std::vector<double> alpha, beta, log_z;
};

// Σ over the batch of each sentence's −log p(gold path). Fills `state` for crf_nll_backward.
template <class T>
double crf_nll_forward(const T* emissions, const T* transitions, const T* start, const T* end,
                       const std::int32_t* tags, const index_t* lengths, CrfShape shape,
                       CrfForwardState& state);

// Accumulates g · ∂(Σ_b −log p_b)/∂x into each gradient that is not null:
//   ∂/∂E[t, b, k]  = p(y_t = k) − [gold y_t = k]             (t < L_b)
//   ∂/∂A[i, j]     = Σ_b Σ_t p(y_t = i, y_{t+1} = j) − gold count of i → j
//   ∂/∂start[k]    = Σ_b p(y_0 = k) − [gold y_0 = k];  ∂/∂end likewise at L_b − 1
// with p(y_t = k) = exp(α_t(k) + β_t(k) − log Z) and the pairwise
// p(y_t = i, y_{t+1} = j) = exp(α_t(i) + A[i, j] + E[t+1, j] + β_{t+1}(j) − log Z).
template <class T>
void crf_nll_backward(const T* emissions, const T* transitions, const std::int32_t* tags,
                      const index_t* lengths, CrfShape shape, const CrfForwardState& state, double g,
                      T* d_emissions, T* d_transitions, T* d_start, T* d_end);

// The best path of each sentence into tags (T, B); steps past a sentence's length are set to -1.
// Ties go to the lowest tag id.
template <class T>
void crf_viterbi(const T* emissions, const T* transitions, const T* start, const T* end,
                 const index_t* lengths, CrfShape shape, std::int32_t* tags);

// Checks lengths and tags against the shape; errors name `op`.
void check_crf_inputs(const char* op, CrfShape shape, const index_t* lengths, const std::int32_t* tags);

}  // namespace recur::ops
