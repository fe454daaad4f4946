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

namespace recur::nn {

template <class T>
struct LstmState {
  ag::Var<T> h, c;
};

template <class T>
LstmState<T> lstm_cell_composed(const ag::Var<T>& x, const LstmState<T>& state, const ag::Var<T>& W_ih,
                                const ag::Var<T>& W_hh, const ag::Var<T>& b_ih, const ag::Var<T>& b_hh) {
  const index_t H = W_hh.shape()[1];
  const ag::Var<T> gates = ag::linear(x, W_ih, b_ih) + ag::linear(state.h, W_hh, b_hh);
  const std::vector<ag::Var<T>> g = ag::split(gates, 1, {H, H, H, H});
  const ag::Var<T> i = ag::sigmoid(g[0]), f = ag::sigmoid(g[1]), cand = ag::tanh(g[2]), o = ag::sigmoid(g[3]);
  const ag::Var<T> c = f * state.c + i * cand;
  return {o * ag::tanh(c), c};
}

}  // namespace recur::nn
