// One LSTM step composed from primitive tape ops, in PyTorch's nn.LSTMCell layout:
//
//   gates = x · W_ihᵀ + b_ih + h · W_hhᵀ + b_hh        gates: (B, 4H), order [i f g o]
//   i, f, o = σ(gates_i, gates_f, gates_o);  g = tanh(gates_g)
//   c' = f ⊙ c + i ⊙ g;   h' = o ⊙ tanh(c')
//
//   x: (B, I)  h, c: (B, H)  W_ih: (4H, I)  W_hh: (4H, H)  b_ih, b_hh: (4H)
//
// This is the readable reference (and the "composed" oracle for a fused LSTM layer); each step
// records about 15 tape nodes. Templated so the same code runs in float and in double.
#pragma once

#include "recur/autograd/functions.h"

namespace recur::ag {

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

}  // namespace recur::ag
