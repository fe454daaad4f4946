// RnnStream<T>: an explicit state for running an Rnn one step at a time (generation, streaming
// inference, beam search), in the spirit of DyNet's builders.
//
//   step(x: (B, I)) → (B, H): the top layer's output; every layer's state advances by one step
//
// A stream is a value: copying it copies the state (a beam keeps one copy per hypothesis), and
// reset() returns to the initial state (zeros, or the learned one). Outputs and states are
// bit-identical to Rnn::forward under NoGrad on the same steps at the same batch size and thread
// count: both run the same per-step projection, GEMMs and gate kernels (nn/scan.h).
// Only unidirectional stacks can stream; no dropout is applied (inference).
#pragma once

#include <vector>

#include "recur/layers/rnn.h"

namespace recur::layers {

template <class T>
class RnnStream {
 public:
  // `rnn` (and its parameter table) must outlive the stream.
  RnnStream(const Rnn<T>& rnn, index_t batch);

  void reset();
  // x: (B, I). The returned tensor is the stream's own buffer, overwritten by the next step.
  const Tensor<T>& step(const Tensor<T>& x);

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
};

extern template class RnnStream<float>;
extern template class RnnStream<double>;

}  // namespace recur::layers
