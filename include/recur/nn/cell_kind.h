// The recurrent cells recur implements, with their gate counts and the names used in configs
// (recur.config "model") and on the command line.
//
//   rnn_tanh, rnn_relu   Elman:  h' = φ(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)                    G = 1
//   lstm                 PyTorch nn.LSTM, gates [i f g o]                                  G = 4
//   gru                  PyTorch nn.GRU (reset after the product: n = tanh(… + r ⊙ (h W_hnᵀ + b_hn)))  G = 3
//   gru_reset_before     Cho et al. 2014 / Keras reset_after=False (n = tanh(… + (r ⊙ h) W_hnᵀ + b_hn))
//   jordan               Jordan 1986: the previous *output* y is fed back; y = tanh(h W_hyᵀ + b_hy)
//
// The equations and the backward passes are derived in docs/derivations/.
#pragma once

#include <string_view>

namespace recur::nn {

enum class CellKind { kRnnTanh, kRnnRelu, kLstm, kGru, kGruResetBefore, kJordan };

// G: rows of W_ih and W_hh are G·H.
int gate_count(CellKind kind);
// Only the LSTM carries a second state (the cell c).
bool has_cell_state(CellKind kind);
// Only the Jordan cell has an output projection (weight_hy, bias_hy).
bool has_output_projection(CellKind kind);

std::string_view cell_name(CellKind kind);
// Parses a cell_name(); an unknown name throws an Error listing the valid ones.
CellKind parse_cell_kind(std::string_view name);

}  // namespace recur::nn
