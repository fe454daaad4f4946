// Elman RNN step (PyTorch nn.RNN, tanh or ReLU) and the folded biases of every cell;
// derivation in docs/derivations/rnn.md.
#include "cells_support.h"

namespace recur::nn::detail {

template <class T>
void folded_bias(CellKind kind, const ScanWeights<T>& w, index_t H, T* bias) {
  const index_t GH = gate_count(kind) * H;
  // The GRU's b_hn is multiplied by r, so it stays on the recurrent side (gru_step_forward).
  const index_t folded = kind == CellKind::kGru ? 2 * H : GH;
  for (index_t j = 0; j < GH; ++j) bias[j] = w.b_ih[j] + (j < folded ? w.b_hh[j] : T(0));
}

// h' = φ(pre + h_prev · W_hhᵀ + bias), φ = tanh or ReLU     pre: (B, H)
template <class T>
void rnn_step_forward(const StepForward<T>& s, bool relu) {
  const index_t H = s.H;
  gemm_packed(s.rows, s.h_prev, H, s.packed->recurrent, T(1), s.pre, H);
  for_each_row(s.kernel_rows, H, [&](index_t b) {
    T *h = s.h_next + b * H, *y = s.y + b * s.ldy;
    if (!is_real(s.lengths, b, s.t)) {
      copy_row(s.h_prev + b * H, h, H);
      zero_row(y, H);
      return;
    }
    const T* pre = s.pre + b * H;
    for (index_t j = 0; j < H; ++j) h[j] = pre[j] + s.bias[j];
    if (relu)
      for (index_t j = 0; j < H; ++j) h[j] = h[j] > T(0) ? h[j] : T(0);
    else
      vmath::tanh(h, h, H);
    copy_row(h, y, H);
  });
}

// da = (dh_next + dy) ⊙ φ'(a), from the output: 1 − h'² (tanh) or [h' > 0] (ReLU)
// dh_prev = da · W_hh                                  dG_x = da: (B, H)
template <class T>
void rnn_step_backward(const StepBackward<T>& s, bool relu) {
  const index_t B = s.B, H = s.H;
  for_each_row(B, H, [&](index_t b) {
    const T* dh = s.dh + b * H;
    T *da = s.dG_x + b * H, *dh_prev = s.dh_prev + b * H;
    if (!is_real(s.lengths, b, s.t)) {
      zero_row(da, H);
      copy_row(dh, dh_prev, H);
      return;
    }
    const T *h = s.h_next + b * H, *dy = s.dy ? s.dy + b * H : nullptr;
    with_optional(dy, [&](auto has_dy) {
#pragma omp simd
      for (index_t j = 0; j < H; ++j) {
        const T dh_j = has_dy ? dh[j] + dy[j] : dh[j];
        da[j] = relu ? (h[j] > T(0) ? dh_j : T(0)) : dh_j * (T(1) - h[j] * h[j]);
        dh_prev[j] = T(0);
      }
    });
  });
  gemm_packed(s.rows, s.dG_x, H, s.packed->recurrent, T(1), s.dh_prev, H);
}

#define RECUR_INSTANTIATE_RNN_CELL(T)                                         \
  template void folded_bias<T>(CellKind, const ScanWeights<T>&, index_t, T*); \
  template void rnn_step_forward<T>(const StepForward<T>&, bool);             \
  template void rnn_step_backward<T>(const StepBackward<T>&, bool);
RECUR_INSTANTIATE_RNN_CELL(float)
RECUR_INSTANTIATE_RNN_CELL(double)

}  // namespace recur::nn::detail
