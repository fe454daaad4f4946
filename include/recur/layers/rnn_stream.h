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
// A stream packs the layers' weights (ops/packed_gemm.h) when it is made, once for all its steps,
// and copies share them. It computes with the weights as they were then: after changing them
// (an optimizer step, a load), call repack() or make a new stream.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "recur/layers/rnn.h"

namespace recur::layers {

template <class T>
class RnnStream {
 public:
  // `rnn` (and its parameter table) must outlive the stream.
  RnnStream(const Rnn<T>& rnn, index_t batch);

  void reset();
  void repack();  // re-reads the Rnn's current weights (and the input rows' table)

  // x: (B, I). The returned tensor is the stream's own buffer, overwritten by the next step.
  const Tensor<T>& step(const Tensor<T>& x);

  // For inputs that are always rows of one matrix E: (V, I), such as an embedding table: the first
  // layer's input projection of every row, E · W_ih_l0ᵀ, is computed once (and again by repack),
  // so step_rows looks it up instead of streaming W_ih_l0 at every step. step_rows(ids) gives the
  // same bits as step(x) with x = the rows ids of E. `rows` must outlive the stream.
  void set_input_rows(const Tensor<T>& rows);
  const Tensor<T>& step_rows(const std::vector<std::int32_t>& ids);
  bool has_input_rows() const { return row_table_ != nullptr; }

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
  std::shared_ptr<const std::vector<nn::PackedScanWeights<T>>> packed_;  // per layer, shared by copies
  Tensor<T> input_rows_;                        // E: (V, I), a view of the caller's matrix
  std::shared_ptr<const Tensor<T>> row_table_;  // (V, G·H) = E · W_ih_l0ᵀ, shared by copies
  Tensor<T> projected_;                         // (B, G·H) this step's rows of the table

  void run_layers(const T* input, bool projected);
};

extern template class RnnStream<float>;
extern template class RnnStream<double>;

}  // namespace recur::layers
