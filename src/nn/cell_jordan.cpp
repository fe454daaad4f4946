// Jordan step (Jordan 1986): the previous *output* y is fed back into the hidden update.
// Derivation in docs/derivations/jordan.md.
#include "cells_support.h"

namespace recur::nn::detail {

// h = tanh(pre + y_prev · W_hhᵀ + bias)          saved: (B, H) = h
// y' = tanh(h · W_hyᵀ + b_hy)                     y' is both the output and the carried state
template <class T>
void jordan_step_forward(const StepForward<T>& s) {
  const index_t B = s.B, H = s.H;
  gemm_packed(s.rows, s.h_prev, H, s.packed->recurrent, T(1), s.pre, H);
  for_each_row(B, H, [&](index_t b) {
    T* hidden = s.saved + b * H;
    if (!is_real(s.lengths, b, s.t)) {
      zero_row(hidden, H);
      return;
    }
    const T* pre = s.pre + b * H;
    for (index_t j = 0; j < H; ++j) hidden[j] = pre[j] + s.bias[j];
    vmath::tanh(hidden, hidden, H);
  });
  gemm_packed(B, s.saved, H, s.packed->output, T(0), s.scratch, H);
  for_each_row(B, H, [&](index_t b) {
    T *y_next = s.h_next + b * H, *y = s.y + b * s.ldy;
    if (!is_real(s.lengths, b, s.t)) {
      copy_row(s.h_prev + b * H, y_next, H);
      zero_row(y, H);
      return;
    }
    const T* z = s.scratch + b * H;
    for (index_t j = 0; j < H; ++j) y_next[j] = z[j] + s.w->b_hy[j];
    vmath::tanh(y_next, y_next, H);
    copy_row(y_next, y, H);
  });
}

// dy = dy_next + dy_t;  dG_y = dy ⊙ (1 − y'²);  dh = dG_y · W_hy
// da = dh ⊙ (1 − h²);  dy_prev = da · W_hh                 dG_x = da: (B, H)
template <class T>
void jordan_step_backward(const StepBackward<T>& s) {
  const index_t B = s.B, H = s.H;
  for_each_row(B, H, [&](index_t b) {
    T* dz = s.dG_y + b * H;
    if (!is_real(s.lengths, b, s.t)) {
      zero_row(dz, H);
      return;
    }
    const T *dh = s.dh + b * H, *y = s.h_next + b * H, *dy = s.dy ? s.dy + b * H : nullptr;
    for (index_t j = 0; j < H; ++j) dz[j] = (dh[j] + (dy ? dy[j] : T(0))) * (T(1) - y[j] * y[j]);
  });
  gemm_packed(B, s.dG_y, H, s.packed->output, T(0), s.scratch, H);
  for_each_row(B, H, [&](index_t b) {
    T *da = s.dG_x + b * H, *dh_prev = s.dh_prev + b * H;
    if (!is_real(s.lengths, b, s.t)) {
      zero_row(da, H);
      copy_row(s.dh + b * H, dh_prev, H);
      return;
    }
    const T *hidden = s.saved + b * H, *d_hidden = s.scratch + b * H;
    for (index_t j = 0; j < H; ++j) {
      da[j] = d_hidden[j] * (T(1) - hidden[j] * hidden[j]);
      dh_prev[j] = T(0);
    }
  });
  gemm_packed(B, s.dG_x, H, s.packed->recurrent, T(1), s.dh_prev, H);
}

template void jordan_step_forward<float>(const StepForward<float>&);
template void jordan_step_forward<double>(const StepForward<double>&);
template void jordan_step_backward<float>(const StepBackward<float>&);
template void jordan_step_backward<double>(const StepBackward<double>&);

}  // namespace recur::nn::detail
