// The fused recurrent layer (nn/scan.h) as one node on the tape.
//
//   x: (T, B, I) → y: (T, B, H), h_n, c_n: (B, H)
//
// Weights are Vars (usually ag::param leaves of a ParameterTable), so the layer's gradients land in
// the flat gradient buffer. h0 / c0 are optional: undefined means zeros; a constant carries state
// across truncated-BPTT chunks with the gradient cut at the boundary; a Var that requires a
// gradient (a learned initial state, or a previous chunk's output) receives one. When nothing needs
// a gradient (NoGrad, or all inputs constant) the layer runs its inference path and keeps no trace.
#pragma once

#include <vector>

#include "recur/autograd/tape.h"
#include "recur/nn/scan.h"

namespace recur::ag {

template <class T>
struct ScanLayerWeights {
  Var<T> W_ih, W_hh, b_ih, b_hh;  // (G·H, I), (G·H, H), (G·H), (G·H)
  Var<T> W_hy, b_hy;              // Jordan only: (H, H), (H)
};

template <class T>
struct ScanLayerResult {
  Var<T> y;         // (T, B, H), zeros at padded steps; undefined without `output`
  Var<T> h_n, c_n;  // (B, H); c_n only for the LSTM
};

// lengths: B entries in [0, T], or empty for all T. `output` false: the final states alone (no y is
// kept, and none's gradient flows back), for a layer whose outputs nothing reads.
template <class T>
ScanLayerResult<T> scan_layer(nn::CellKind kind, nn::Direction direction, const Var<T>& x,
                              const ScanLayerWeights<T>& weights, const std::vector<index_t>& lengths = {},
                              const Var<T>& h0 = Var<T>(), const Var<T>& c0 = Var<T>(), bool output = true);

}  // namespace recur::ag
