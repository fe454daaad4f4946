// GRU steps, gates [r z n]: PyTorch's reset-after form and Cho et al.'s reset-before form.
// Derivations in docs/derivations/gru.md and docs/derivations/gru_reset_before.md.
#include "cells_support.h"

namespace recur::nn::detail {

// Reset after the product (PyTorch, cuDNN):
//   gh = h_prev · W_hhᵀ                          gh: (B, 3H) in scratch
//   r, z = σ(pre + gh + bias)  over [r z]        (b_hr, b_hz folded into bias)
//   hn = gh_n + b_hn;  n = tanh(pre_n + b_in + r ⊙ hn)
//   h' = n + z ⊙ (h_prev − n)                    saved: (B, 4H) = [r z n hn]
template <class T>
void gru_step_forward(const StepForward<T>& s) {
  const index_t H = s.H, GH = 3 * H;
  const T* b_hn = s.w->b_hh + 2 * H;
  gemm_packed(s.rows, s.h_prev, H, s.packed->recurrent, T(0), s.scratch, GH);
  for_each_row(s.kernel_rows, GH, [&](index_t b) {
    const T* h_prev = s.h_prev + b * H;
    T *h = s.h_next + b * H, *y = s.y + b * s.ldy, *act = s.saved + b * 4 * H;
    if (!is_real(s.lengths, b, s.t)) {
      copy_row(h_prev, h, H);
      zero_row(y, H);
      zero_row(act, 4 * H);
      return;
    }
    const T *pre = s.pre + b * GH, *gh = s.scratch + b * GH;
    for (index_t j = 0; j < 2 * H; ++j) act[j] = pre[j] + gh[j] + s.bias[j];
    vmath::sigmoid(act, act, 2 * H);
    const T *r = act, *z = act + H;
    T *n = act + 2 * H, *hn = act + 3 * H;
    for (index_t j = 0; j < H; ++j) {
      hn[j] = gh[2 * H + j] + b_hn[j];
      n[j] = pre[2 * H + j] + s.bias[2 * H + j] + r[j] * hn[j];
    }
    vmath::tanh(n, n, H);
    for (index_t j = 0; j < H; ++j) {
      h[j] = n[j] + z[j] * (h_prev[j] - n[j]);
      y[j] = h[j];
    }
  });
}

// dh = dh_next + dy;  da_n = dh ⊙ (1−z) ⊙ (1−n²);  da_z = dh ⊙ (h_prev − n) ⊙ z(1−z)
// da_r = da_n ⊙ hn ⊙ r(1−r);  dhn = da_n ⊙ r
// dG_x = [da_r da_z da_n],  dG_h = [da_r da_z dhn];  dh_prev = dh ⊙ z + dG_h · W_hh
template <class T>
void gru_step_backward(const StepBackward<T>& s) {
  const index_t B = s.B, H = s.H, GH = 3 * H;
  for_each_row(B, GH, [&](index_t b) {
    const T* dh = s.dh + b * H;
    T *dx = s.dG_x + b * GH, *dhh = s.dG_h + b * GH, *dh_prev = s.dh_prev + b * H;
    if (!is_real(s.lengths, b, s.t)) {
      zero_row(dx, GH);
      zero_row(dhh, GH);
      copy_row(dh, dh_prev, H);
      return;
    }
    const T* act = s.saved + b * 4 * H;
    const T *r = act, *z = act + H, *n = act + 2 * H, *hn = act + 3 * H;
    const T *h_prev = s.h_prev + b * H, *dy = s.dy ? s.dy + b * H : nullptr;
    with_optional(dy, [&](auto has_dy) {
#pragma omp simd
      for (index_t j = 0; j < H; ++j) {
        const T dh_j = has_dy ? dh[j] + dy[j] : dh[j];
        const T da_n = dh_j * (T(1) - z[j]) * (T(1) - n[j] * n[j]);
        const T da_z = dh_j * (h_prev[j] - n[j]) * z[j] * (T(1) - z[j]);
        const T da_r = da_n * hn[j] * r[j] * (T(1) - r[j]);
        dx[j] = dhh[j] = da_r;
        dx[H + j] = dhh[H + j] = da_z;
        dx[2 * H + j] = da_n;
        dhh[2 * H + j] = da_n * r[j];
        dh_prev[j] = dh_j * z[j];
      }
    });
  });
  gemm_packed(B, s.dG_h, GH, s.packed->recurrent, T(1), s.dh_prev, H);
}

// Reset before the product (Cho et al. 2014; Keras reset_after=False), all biases folded:
//   r, z = σ(pre_rz + h_prev · W_h[rz]ᵀ + bias_rz)
//   n = tanh(pre_n + (r ⊙ h_prev) · W_hnᵀ + bias_n)       two GEMMs per step
//   h' = n + z ⊙ (h_prev − n)                             saved: (B, 4H) = [r z n r⊙h_prev]
template <class T>
void gru_reset_before_step_forward(const StepForward<T>& s) {
  const index_t H = s.H, GH = 3 * H, SH = 4 * H;
  gemm_packed(s.rows, s.h_prev, H, s.packed->recurrent, T(1), s.pre, GH);
  for_each_row(s.kernel_rows, GH, [&](index_t b) {
    T* act = s.saved + b * SH;
    if (!is_real(s.lengths, b, s.t)) {
      zero_row(act, SH);
      return;
    }
    const T *pre = s.pre + b * GH, *h_prev = s.h_prev + b * H;
    for (index_t j = 0; j < 2 * H; ++j) act[j] = pre[j] + s.bias[j];
    vmath::sigmoid(act, act, 2 * H);
    for (index_t j = 0; j < H; ++j) act[3 * H + j] = act[j] * h_prev[j];
  });
  // pre_n += (r ⊙ h_prev) · W_hnᵀ
  gemm_packed(s.rows, s.saved + 3 * H, SH, s.packed->recurrent_n, T(1), s.pre + 2 * H, GH);
  for_each_row(s.kernel_rows, GH, [&](index_t b) {
    const T* h_prev = s.h_prev + b * H;
    T *h = s.h_next + b * H, *y = s.y + b * s.ldy;
    if (!is_real(s.lengths, b, s.t)) {
      copy_row(h_prev, h, H);
      zero_row(y, H);
      return;
    }
    T* act = s.saved + b * SH;
    const T *pre = s.pre + b * GH, *z = act + H;
    T* n = act + 2 * H;
    for (index_t j = 0; j < H; ++j) n[j] = pre[2 * H + j] + s.bias[2 * H + j];
    vmath::tanh(n, n, H);
    for (index_t j = 0; j < H; ++j) {
      h[j] = n[j] + z[j] * (h_prev[j] - n[j]);
      y[j] = h[j];
    }
  });
}

// dh = dh_next + dy;  da_n = dh ⊙ (1−z) ⊙ (1−n²);  da_z = dh ⊙ (h_prev − n) ⊙ z(1−z)
// d(r⊙h) = da_n · W_hn;  da_r = d(r⊙h) ⊙ h_prev ⊙ r(1−r)
// dh_prev = dh ⊙ z + d(r⊙h) ⊙ r + [da_r da_z] · W_h[rz]          dG_x = dG_h = [da_r da_z da_n]
template <class T>
void gru_reset_before_step_backward(const StepBackward<T>& s) {
  const index_t B = s.B, H = s.H, GH = 3 * H, SH = 4 * H;
  for_each_row(B, GH, [&](index_t b) {
    const T* dh = s.dh + b * H;
    T *da = s.dG_x + b * GH, *dh_prev = s.dh_prev + b * H;
    if (!is_real(s.lengths, b, s.t)) {
      zero_row(da, GH);
      copy_row(dh, dh_prev, H);
      return;
    }
    const T* act = s.saved + b * SH;
    const T *z = act + H, *n = act + 2 * H;
    const T *h_prev = s.h_prev + b * H, *dy = s.dy ? s.dy + b * H : nullptr;
    for (index_t j = 0; j < H; ++j) {
      const T dh_j = dh[j] + (dy ? dy[j] : T(0));
      da[H + j] = dh_j * (h_prev[j] - n[j]) * z[j] * (T(1) - z[j]);
      da[2 * H + j] = dh_j * (T(1) - z[j]) * (T(1) - n[j] * n[j]);
      dh_prev[j] = dh_j * z[j];
    }
  });
  // d(r ⊙ h_prev) = da_n · W_hn      (B, H) = (B, H) · (H, H)
  gemm_packed(B, s.dG_x + 2 * H, GH, s.packed->recurrent_n, T(0), s.scratch, H);
  for_each_row(B, GH, [&](index_t b) {
    if (!is_real(s.lengths, b, s.t)) return;
    const T *r = s.saved + b * SH, *d_rh = s.scratch + b * H, *h_prev = s.h_prev + b * H;
    T *da = s.dG_x + b * GH, *dh_prev = s.dh_prev + b * H;
    for (index_t j = 0; j < H; ++j) {
      da[j] = d_rh[j] * h_prev[j] * r[j] * (T(1) - r[j]);
      dh_prev[j] += d_rh[j] * r[j];
    }
  });
  gemm_packed(B, s.dG_x, GH, s.packed->recurrent, T(1), s.dh_prev, H);
}

#define RECUR_INSTANTIATE_GRU_CELLS(T)                                   \
  template void gru_step_forward<T>(const StepForward<T>&);              \
  template void gru_step_backward<T>(const StepBackward<T>&);            \
  template void gru_reset_before_step_forward<T>(const StepForward<T>&); \
  template void gru_reset_before_step_backward<T>(const StepBackward<T>&);
RECUR_INSTANTIATE_GRU_CELLS(float)
RECUR_INSTANTIATE_GRU_CELLS(double)

}  // namespace recur::nn::detail
