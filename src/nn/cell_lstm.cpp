// LSTM step (PyTorch nn.LSTM, gates [i f g o]); derivation in docs/derivations/lstm.md.
#include "cells_support.h"

namespace recur::nn::detail {

// pre += h_prev · W_hhᵀ                      pre: (B, 4H)
// i, f, o = σ(pre + bias);  g = tanh(pre + bias)
// c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')     saved: (B, 5H) = [i f g o tanh c']
template <class T>
void lstm_step_forward(const StepForward<T>& s) {
  const index_t H = s.H, GH = 4 * H;
  gemm_packed(s.rows, s.h_prev, H, s.packed->recurrent, T(1), s.pre, GH);
  for_each_row(s.kernel_rows, GH, [&](index_t b) {
    const T *h_prev = s.h_prev + b * H, *c_prev = s.c_prev + b * H;
    T *h = s.h_next + b * H, *c = s.c_next + b * H, *y = s.y + b * s.ldy, *act = s.saved + b * 5 * H;
    if (!is_real(s.lengths, b, s.t)) {
      copy_row(h_prev, h, H);
      copy_row(c_prev, c, H);
      zero_row(y, H);
      zero_row(act, 5 * H);
      return;
    }
    const T* pre = s.pre + b * GH;
    for (index_t j = 0; j < GH; ++j) act[j] = pre[j] + s.bias[j];
    vmath::sigmoid(act, act, 2 * H);
    vmath::tanh(act + 2 * H, act + 2 * H, H);
    vmath::sigmoid(act + 3 * H, act + 3 * H, H);
    const T *i = act, *f = act + H, *g = act + 2 * H, *o = act + 3 * H;
    T* tanh_c = act + 4 * H;
    for (index_t j = 0; j < H; ++j) c[j] = f[j] * c_prev[j] + i[j] * g[j];
    vmath::tanh(c, tanh_c, H);
    for (index_t j = 0; j < H; ++j) {
      h[j] = o[j] * tanh_c[j];
      y[j] = h[j];
    }
  });
}

// dh = dh_next + dy;  dc = dc_next + dh ⊙ o ⊙ (1 − tanh² c')
// da_i = dc ⊙ g ⊙ i(1−i)   da_f = dc ⊙ c ⊙ f(1−f)   da_g = dc ⊙ i ⊙ (1−g²)   da_o = dh ⊙ tanh c' ⊙ o(1−o)
// dc_prev = dc ⊙ f;  dh_prev = da · W_hh     dG_x = da: (B, 4H)
template <class T>
void lstm_step_backward(const StepBackward<T>& s) {
  const index_t B = s.B, H = s.H, GH = 4 * H;
  for_each_row(B, GH, [&](index_t b) {
    const T *dh = s.dh + b * H, *dc = s.dc + b * H;
    T *da = s.dG_x + b * GH, *dh_prev = s.dh_prev + b * H, *dc_prev = s.dc_prev + b * H;
    if (!is_real(s.lengths, b, s.t)) {
      zero_row(da, GH);
      copy_row(dh, dh_prev, H);
      copy_row(dc, dc_prev, H);
      return;
    }
    const T* act = s.saved + b * 5 * H;
    const T *i = act, *f = act + H, *g = act + 2 * H, *o = act + 3 * H, *tanh_c = act + 4 * H;
    const T *c_prev = s.c_prev + b * H, *dy = s.dy ? s.dy + b * H : nullptr;
    with_optional(dy, [&](auto has_dy) {
#pragma omp simd
      for (index_t j = 0; j < H; ++j) {
        const T dh_j = has_dy ? dh[j] + dy[j] : dh[j];
        const T dc_j = dc[j] + dh_j * o[j] * (T(1) - tanh_c[j] * tanh_c[j]);
        da[j] = dc_j * g[j] * i[j] * (T(1) - i[j]);
        da[H + j] = dc_j * c_prev[j] * f[j] * (T(1) - f[j]);
        da[2 * H + j] = dc_j * i[j] * (T(1) - g[j] * g[j]);
        da[3 * H + j] = dh_j * tanh_c[j] * o[j] * (T(1) - o[j]);
        dc_prev[j] = dc_j * f[j];
        dh_prev[j] = T(0);
      }
    });
  });
  gemm_packed(s.rows, s.dG_x, GH, s.packed->recurrent, T(1), s.dh_prev, H);
}

template void lstm_step_forward<float>(const StepForward<float>&);
template void lstm_step_forward<double>(const StepForward<double>&);
template void lstm_step_backward<float>(const StepBackward<float>&);
template void lstm_step_backward<double>(const StepBackward<double>&);

}  // namespace recur::nn::detail
