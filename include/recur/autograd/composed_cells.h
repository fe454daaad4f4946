// One step of each recurrent cell composed from primitive tape ops, in PyTorch's layout (the
// nn.RNNCell / nn.LSTMCell / nn.GRUCell parameter shapes, gate blocks in PyTorch's order). These are
// the readable references, and the "composed" oracle for the fused layers of nn/scan.h; the
// equations and their backward passes are derived in docs/derivations/. Each step records a few
// dozen tape nodes at most. Templated so the same code runs in float and in double.
//
//   x: (B, I)  h, c, y: (B, H)  W_ih: (G·H, I)  W_hh: (G·H, H)  b_ih, b_hh: (G·H)
//   W_hy: (H, H)  b_hy: (H)   (Jordan only)
//
// Elman RNN, G = 1:
//   h' = φ(x · W_ihᵀ + b_ih + h · W_hhᵀ + b_hh)          φ = tanh, or ReLU when relu == true
//
// LSTM, G = 4, gates [i f g o]:
//   gates = x · W_ihᵀ + b_ih + h · W_hhᵀ + b_hh
//   i, f, o = σ(gates_i, gates_f, gates_o);  g = tanh(gates_g)
//   c' = f ⊙ c + i ⊙ g;   h' = o ⊙ tanh(c')
//
// GRU, reset-after (PyTorch nn.GRU, cuDNN), G = 3, gates [r z n]:
//   gi = x · W_ihᵀ + b_ih;   gh = h · W_hhᵀ + b_hh
//   r = σ(gi_r + gh_r);  z = σ(gi_z + gh_z);  n = tanh(gi_n + r ⊙ gh_n)
//   h' = (1 − z) ⊙ n + z ⊙ h
//
// GRU, reset-before (Cho et al. 2014, Keras reset_after=False), G = 3, gates [r z n]:
//   r, z as above;  n = tanh(gi_n + (r ⊙ h) · W_hnᵀ + b_hn)      W_hn, b_hn: the n block of W_hh, b_hh
//   h' = (1 − z) ⊙ n + z ⊙ h
//
// Jordan, G = 1 (the previous output y is fed back):
//   hid = tanh(x · W_ihᵀ + b_ih + y · W_hhᵀ + b_hh);   y' = tanh(hid · W_hyᵀ + b_hy)
#pragma once

#include <vector>

#include "recur/autograd/functions.h"

namespace recur::ag {

template <class T>
Var<T> rnn_cell_composed(const Var<T>& x, const Var<T>& h, const Var<T>& W_ih, const Var<T>& W_hh,
                         const Var<T>& b_ih, const Var<T>& b_hh, bool relu) {
  const Var<T> a = linear(x, W_ih, b_ih) + linear(h, W_hh, b_hh);
  return relu ? ag::relu(a) : ag::tanh(a);
}

template <class T>
struct LstmState {
  Var<T> h, c;
};

template <class T>
LstmState<T> lstm_cell_composed(const Var<T>& x, const LstmState<T>& state, const Var<T>& W_ih,
                                const Var<T>& W_hh, const Var<T>& b_ih, const Var<T>& b_hh) {
  const index_t H = W_hh.shape()[1];
  const Var<T> gates = linear(x, W_ih, b_ih) + linear(state.h, W_hh, b_hh);
  const std::vector<Var<T>> g = split(gates, 1, {H, H, H, H});
  const Var<T> i = sigmoid(g[0]), f = sigmoid(g[1]), cand = tanh(g[2]), o = sigmoid(g[3]);
  const Var<T> c = f * state.c + i * cand;
  return {o * tanh(c), c};
}

namespace detail {
// (1 − z) ⊙ n + z ⊙ h, written as n + z ⊙ (h − n) (there is no scalar-minus-tensor op).
template <class T>
Var<T> gru_interpolate(const Var<T>& z, const Var<T>& n, const Var<T>& h) {
  return n + z * (h - n);
}
}  // namespace detail

template <class T>
Var<T> gru_cell_composed(const Var<T>& x, const Var<T>& h, const Var<T>& W_ih, const Var<T>& W_hh,
                         const Var<T>& b_ih, const Var<T>& b_hh) {
  const index_t H = W_hh.shape()[1];
  const std::vector<Var<T>> gi = split(linear(x, W_ih, b_ih), 1, {H, H, H});
  const std::vector<Var<T>> gh = split(linear(h, W_hh, b_hh), 1, {H, H, H});
  const Var<T> r = sigmoid(gi[0] + gh[0]), z = sigmoid(gi[1] + gh[1]);
  const Var<T> n = tanh(gi[2] + r * gh[2]);
  return detail::gru_interpolate(z, n, h);
}

template <class T>
Var<T> gru_reset_before_cell_composed(const Var<T>& x, const Var<T>& h, const Var<T>& W_ih,
                                      const Var<T>& W_hh, const Var<T>& b_ih, const Var<T>& b_hh) {
  const index_t H = W_hh.shape()[1];
  const std::vector<Var<T>> gi = split(linear(x, W_ih, b_ih), 1, {H, H, H});
  // Rows [r z] of W_hh act on h; rows n act on the reset state r ⊙ h.
  const std::vector<Var<T>> gh =
      split(linear(h, slice(W_hh, 0, 0, 2 * H), slice(b_hh, 0, 0, 2 * H)), 1, {H, H});
  const Var<T> r = sigmoid(gi[0] + gh[0]), z = sigmoid(gi[1] + gh[1]);
  const Var<T> n = tanh(gi[2] + linear(r * h, slice(W_hh, 0, 2 * H, H), slice(b_hh, 0, 2 * H, H)));
  return detail::gru_interpolate(z, n, h);
}

// Returns the new output y', which is also the next step's state.
template <class T>
Var<T> jordan_cell_composed(const Var<T>& x, const Var<T>& y_prev, const Var<T>& W_ih, const Var<T>& W_hh,
                            const Var<T>& b_ih, const Var<T>& b_hh, const Var<T>& W_hy, const Var<T>& b_hy) {
  const Var<T> hidden = tanh(linear(x, W_ih, b_ih) + linear(y_prev, W_hh, b_hh));
  return tanh(linear(hidden, W_hy, b_hy));
}

}  // namespace recur::ag
