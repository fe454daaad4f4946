// A fused recurrent layer: one cell scanned over a whole sequence in one direction (PyTorch's
// "layer" level; the stack and the tape node are built on it in layers/rnn.h and autograd/scan.h).
//
//   x: (T, B, I) time-major → y: (T, B, H), final states h_n, c_n: (B, H)
//
// The per-step products run against matrices packed once per call (ops/packed_gemm.h; W_hh, and
// W_hy for Jordan), not through the BLAS, which would repack W_hh at every step.
// Training forward (a ScanTrace is given): one GEMM projects all T·B input rows
// (x W_ihᵀ + the biases that can be folded); per step one product with W_hh (two for the
// reset-before GRU and the Jordan cell) and one fused gate kernel, which writes the activations
// backward needs into the trace. The trace is sized once per (T, B); nothing is allocated in the
// time loop.
// Inference forward (no trace): the same per-step work, with the input projection against a packed
// W_ih too, over blocks of steps (about 1024 rows each). Packed products give every element the
// same bits whatever the number of rows, so a whole-sequence inference is bit-identical to feeding
// the same steps one at a time (layers/rnn_stream.h), at any batch size and thread count.
// Backward: the gate gradients of every step go into one (T, B, G·H) buffer (plus one per-step
// packed product for dh_prev); then dW_ih, dx and dW_hh are one GEMM each over all T·B rows.
//
// Variable lengths: lengths[b] ∈ [0, T]; step t is real for row b iff t < lengths[b]. A padded
// step leaves the state unchanged and outputs 0; in backward it passes the state gradient through,
// contributes nothing to any weight gradient and ignores dy. The reverse direction runs
// t = T-1 … 0 under the same rule, so every sequence is reversed within its own length, without
// sorting. The final state is the state after each sequence's last real step. When the lengths are
// sorted longest first, the real rows of every step are a prefix, and the scan computes only them
// (the per-step products, and in inference the input projection and the row kernels), as PyTorch's
// packed sequences do; results are the same bits as for the same rows in any order.
//
// Derivations: docs/derivations/. Layouts are PyTorch's (W_ih: (G·H, I), gates [i f g o] / [r z n]).
#pragma once

#include "recur/nn/cell_kind.h"
#include "recur/ops/packed_gemm.h"
#include "recur/tensor.h"

namespace recur::nn {

struct ScanDims {
  index_t T = 0, B = 0, I = 0, H = 0;
};

enum class Direction { kForward, kReverse };

template <class T>
struct PackedScanWeights;

template <class T>
struct ScanWeights {
  const T* W_ih = nullptr;  // (G·H, I)
  const T* W_hh = nullptr;  // (G·H, H)
  const T* b_ih = nullptr;  // (G·H)
  const T* b_hh = nullptr;  // (G·H)
  const T* W_hy = nullptr;  // (H, H)  Jordan only
  const T* b_hy = nullptr;  // (H)     Jordan only
  // Inference only: these weights already packed for the forward steps (pack_forward), kept by a
  // caller that runs many short scans (RnnStream); null: scan_forward packs them itself.
  const PackedScanWeights<T>* packed = nullptr;
  // Inference only: x is already the input projection x · W_ihᵀ, (T, B, G·H) without biases, as
  // gemm_packed with pack_forward's `input` computes it (RnnStream's precomputed input rows).
  bool x_is_projection = false;
};

// The right-hand sides of the per-step products, packed (ops/packed_gemm.h). Forward: op = Wᵀ of
// the nn.Linear-layout weights; backward: op = W (dh_prev = dG · W_hh).
template <class T>
struct PackedScanWeights {
  PackedMatrix<T> input;        // forward, inference: W_ihᵀ (I, G·H)
  PackedMatrix<T> recurrent;    // W_hhᵀ (H, G·H) / W_hh; reset-before GRU: rows [r z] of W_hh only
  PackedMatrix<T> recurrent_n;  // reset-before GRU: rows n of W_hh
  PackedMatrix<T> output;       // Jordan: W_hyᵀ / W_hy
};

// Packs what the forward (with_input: also W_ih, for inference) or the backward steps multiply by.
template <class T>
PackedScanWeights<T> pack_forward(CellKind kind, const ScanDims& dims, const ScanWeights<T>& w,
                                  bool with_input);
template <class T>
PackedScanWeights<T> pack_backward(CellKind kind, const ScanDims& dims, const ScanWeights<T>& w);

// Gradients backward accumulates into (+=); a null pointer is not computed.
template <class T>
struct ScanGrads {
  T* dW_ih = nullptr;  // (G·H, I)
  T* dW_hh = nullptr;  // (G·H, H)
  T* db_ih = nullptr;  // (G·H)
  T* db_hh = nullptr;  // (G·H)
  T* dW_hy = nullptr;  // (H, H)  Jordan
  T* db_hy = nullptr;  // (H)     Jordan
  T* dx = nullptr;     // (T, B, I)
  T* dh0 = nullptr;    // (B, H)
  T* dc0 = nullptr;    // (B, H)  LSTM
};

// What a training forward keeps for backward. Slot s of `states` holds the state between steps:
// slot 0 is h0 for the forward direction and slot T is h0 for the reverse one, so step t reads
// slot t (forward) or t+1 (reverse) and writes the other.
template <class T>
struct ScanTrace {
  ScanTrace(CellKind kind, const ScanDims& dims);

  Tensor<T> saved;   // (T, B, S·H) per-step activations: S = 0 (RNN), 5 (LSTM: i f g o tanh c),
                     // 4 (GRU: r z n hn / reset-before: r z n r⊙h), 1 (Jordan: hidden h)
  Tensor<T> states;  // (T+1, B, H) h (Jordan: the fed-back output y)
  Tensor<T> cells;   // (T+1, B, H) LSTM c; empty for the other cells
  index_t bytes() const;
};

// Width S of a trace's per-step activations, in units of H.
int saved_width(CellKind kind);

// x: (T, B, I); lengths: (B) or null for all T; h0, c0: (B, H) or null for zeros (c0: LSTM only).
// y: (T, B, H), its rows y_stride apart (0: H; inference may write into a wider output, such as
// one direction's half of a bidirectional layer's (T, B, 2H)), or null for the final states alone;
// h_n, c_n: (B, H), either may be null. trace: null for inference.
template <class T>
void scan_forward(CellKind kind, const ScanDims& dims, Direction direction, const ScanWeights<T>& w,
                  const T* x, const index_t* lengths, const T* h0, const T* c0, T* y, T* h_n, T* c_n,
                  ScanTrace<T>* trace, index_t y_stride = 0);

// Same arguments as the forward that filled `trace`; dy: (T, B, H), dh_n, dc_n: (B, H), each may
// be null (no gradient arrives there).
template <class T>
void scan_backward(CellKind kind, const ScanDims& dims, Direction direction, const ScanWeights<T>& w,
                   const T* x, const index_t* lengths, const ScanTrace<T>& trace, const T* dy, const T* dh_n,
                   const T* dc_n, const ScanGrads<T>& grads);

extern template struct ScanTrace<float>;
extern template struct ScanTrace<double>;

}  // namespace recur::nn
