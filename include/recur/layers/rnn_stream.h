// RnnStream<T>: an explicit state for running an Rnn one step at a time (generation, streaming
// inference, beam search), in the spirit of DyNet's builders.
//
//   step(x: (B, I)) → (B, H): the top layer's output; every layer's state advances by one step
//
// A stream is a value: copying it copies the state (a beam keeps one copy per hypothesis), and
// reset() returns to the initial state (zeros, or the learned one). Outputs and states are
// bit-identical to Rnn::forward under NoGrad on the same steps at the same batch size and thread
// count: both run the same packed products and gate kernels (nn/scan.h).
// Only unidirectional stacks can stream; no dropout is applied (inference).
//
// A stream takes a snapshot of the parameters when it is made: the matrices packed
// (ops/packed_gemm.h), the biases and learned initial states copied, shared by its copies. It
// computes with the parameters as they were then: after changing them (an optimizer step, a load),
// call repack() on every stream that should see them, or make new streams.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "recur/layers/rnn.h"

namespace recur::layers {

template <class T>
class RnnStream {
 public:
  // `rnn` (and its parameter table) must outlive the stream. input_rows: see set_input_rows.
  RnnStream(const Rnn<T>& rnn, index_t batch, const Tensor<T>& input_rows = {});

  void reset();   // the initial state of the snapshot: zeros or the learned h0 (c0)
  void repack();  // a new snapshot of the Rnn's parameters (and of the input rows' table)

  // x: (B, I). The returned tensor is the stream's own buffer, overwritten by the next step.
  const Tensor<T>& step(const Tensor<T>& x);

  // For inputs that are always rows of one matrix E: (V, I), such as an embedding table: the first
  // layer's input projection of every row, E · W_ih_l0ᵀ, is computed once (and again by repack),
  // so step_rows looks it up instead of streaming W_ih_l0 at every step. step_rows(ids) gives the
  // same bits as step(x) with x = the rows ids of E. `rows` must outlive the stream.
  void set_input_rows(const Tensor<T>& rows);
  const Tensor<T>& step_rows(const std::vector<std::int32_t>& ids);
  bool has_input_rows() const { return !frozen_->row_table.empty(); }
  index_t input_rows() const { return frozen_->row_table.empty() ? 0 : frozen_->row_table.dim(0); }

  index_t batch() const { return batch_; }
  // State of layer l: (B, H); c only for the LSTM. Writable, e.g. to start from an encoder's state.
  Tensor<T>& h(int layer);
  Tensor<T>& c(int layer);

  RnnStream(const RnnStream& other);
  RnnStream& operator=(const RnnStream& other);
  RnnStream(RnnStream&&) = default;
  RnnStream& operator=(RnnStream&&) = default;

 private:
  const Rnn<T>* rnn_;
  index_t batch_;
  std::vector<Tensor<T>> h_, c_;  // per layer (B, H)
  std::vector<Tensor<T>> y_;      // per layer (B, H): this step's outputs
  // The parameters as of the last repack, shared by copies.
  struct Snapshot {
    std::vector<nn::PackedScanWeights<T>> packed;  // per layer
    std::vector<std::vector<T>> b_ih, b_hh, b_hy;  // per layer; b_hy: Jordan only
    std::vector<std::vector<T>> h0, c0;            // per layer (H), empty when not learned
    Tensor<T> row_table;                           // (V, G·H) = E · W_ih_l0ᵀ, or empty
  };
  std::shared_ptr<const Snapshot> frozen_;
  Tensor<T> input_rows_;  // E: (V, I), a view of the caller's matrix, or empty
  Tensor<T> projected_;   // (B, G·H) this step's rows of the table

  void run_layers(const T* input, bool projected);
};

extern template class RnnStream<float>;
extern template class RnnStream<double>;

}  // namespace recur::layers
