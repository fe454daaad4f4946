// Internal: one step of each cell, forward and backward, over B rows; scan.cpp drives them over
// time. A step does its own per-step products (with W_hh, and W_hy for Jordan, packed once per
// scan: `packed`) and one or two fused row kernels. Rows whose step is padding (t >= lengths[b]) pass their
// state (and, backward, their state gradient) through unchanged, output 0 and produce zero gate gradients.
#pragma once

#include "recur/nn/scan.h"

namespace recur::nn::detail {

template <class T>
struct StepForward {
  index_t B = 0, H = 0;
  // Rows [0, rows) hold every real row of this step (lengths sorted longest first make the real rows
  // a prefix): the per-step products skip the rest, as packed sequences do. B otherwise.
  index_t rows = 0;
  // Rows the row kernels visit: B, or in inference with sorted lengths `rows`, the scan itself then
  // keeping the finished rows' states and zero outputs (Jordan's kernels always visit B).
  index_t kernel_rows = 0;
  const ScanWeights<T>* w = nullptr;
  const PackedScanWeights<T>* packed = nullptr;  // pack_forward
  const index_t* lengths = nullptr;              // row b is real iff lengths == nullptr || t < lengths[b]
  index_t t = 0;
  T* pre = nullptr;           // (B, G·H) in: x_t W_ihᵀ; the step may add h W_hhᵀ in place
  const T* bias = nullptr;    // (G·H) b_ih + the folded part of b_hh (folded_bias)
  const T* h_prev = nullptr;  // (B, H)
  const T* c_prev = nullptr;  // (B, H) LSTM
  T* h_next = nullptr;        // (B, H)
  T* c_next = nullptr;        // (B, H) LSTM
  T* y = nullptr;             // (B, H) output at t, rows ldy apart; 0 on padded rows
  index_t ldy = 0;
  T* saved = nullptr;    // (B, S·H) activations kept for backward (see ScanTrace)
  T* scratch = nullptr;  // (B, G·H)
};

template <class T>
struct StepBackward {
  index_t B = 0, H = 0;
  index_t rows = 0;  // as StepForward::rows
  const ScanWeights<T>* w = nullptr;
  const PackedScanWeights<T>* packed = nullptr;  // pack_backward
  const index_t* lengths = nullptr;
  index_t t = 0;
  const T* saved = nullptr;   // (B, S·H)
  const T* h_prev = nullptr;  // (B, H)
  const T* c_prev = nullptr;  // (B, H) LSTM
  const T* h_next = nullptr;  // (B, H)
  const T* dy = nullptr;      // (B, H) gradient of y_t, or null
  const T* dh = nullptr;      // (B, H) gradient of h_next from later steps and h_n
  const T* dc = nullptr;      // (B, H) LSTM
  T* dG_x = nullptr;          // (B, G·H) out: gradient of the input-side pre-activations
  T* dG_h = nullptr;          // (B, G·H) out: of the recurrent-side ones (GRU differs in n)
  T* dG_y = nullptr;          // (B, H) out, Jordan: gradient of h W_hyᵀ + b_hy
  T* dh_prev = nullptr;       // (B, H) out (overwritten)
  T* dc_prev = nullptr;       // (B, H) out, LSTM
  T* scratch = nullptr;       // (B, H)
};

inline bool is_real(const index_t* lengths, index_t b, index_t t) {
  return lengths == nullptr || t < lengths[b];
}

// Which parts of b_hh are added once into the input projection: all of it, except the GRU's b_hn,
// which sits inside the reset product. bias: (G·H) = b_ih + folded part of b_hh.
template <class T>
void folded_bias(CellKind kind, const ScanWeights<T>& w, index_t H, T* bias);

template <class T>
void rnn_step_forward(const StepForward<T>& s, bool relu);
template <class T>
void rnn_step_backward(const StepBackward<T>& s, bool relu);
template <class T>
void lstm_step_forward(const StepForward<T>& s);
template <class T>
void lstm_step_backward(const StepBackward<T>& s);
template <class T>
void gru_step_forward(const StepForward<T>& s);
template <class T>
void gru_step_backward(const StepBackward<T>& s);
template <class T>
void gru_reset_before_step_forward(const StepForward<T>& s);
template <class T>
void gru_reset_before_step_backward(const StepBackward<T>& s);
template <class T>
void jordan_step_forward(const StepForward<T>& s);
template <class T>
void jordan_step_backward(const StepBackward<T>& s);

}  // namespace recur::nn::detail
