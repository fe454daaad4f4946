#include "recur/layers/rnn_stream.h"

#include <fmt/format.h>

namespace recur::layers {

namespace {

template <class T>
std::vector<Tensor<T>> deep_copy(const std::vector<Tensor<T>>& v) {
  std::vector<Tensor<T>> out;
  for (const Tensor<T>& t : v) out.push_back(t.clone());
  return out;
}

}  // namespace

template <class T>
RnnStream<T>::RnnStream(const Rnn<T>& rnn, index_t batch) : rnn_(&rnn), batch_(batch) {
  const RnnOptions& o = rnn.options();
  RECUR_CHECK(!o.bidirectional,
              fmt::format("{}: a bidirectional RNN cannot run step by step (its reverse direction needs the "
                          "whole sequence)",
                          nn::cell_name(o.cell)));
  RECUR_CHECK(batch >= 1, fmt::format("RnnStream: batch must be at least 1, got {}", batch));
  const Shape shape{batch, o.hidden_size};
  for (int l = 0; l < o.num_layers; ++l) {
    h_.emplace_back(shape);
    y_.emplace_back(shape);
    if (nn::has_cell_state(o.cell)) c_.emplace_back(shape);
  }
  reset();
}

template <class T>
void RnnStream<T>::reset() {
  const index_t H = rnn_->options().hidden_size;
  const auto start = [&](Tensor<T>& state, int id) {
    if (id < 0) {
      state.zero();
      return;
    }
    const Tensor<T> learned = rnn_->params().value(id);
    for (index_t b = 0; b < batch_; ++b) std::copy(learned.data(), learned.data() + H, state.data() + b * H);
  };
  for (int l = 0; l < static_cast<int>(h_.size()); ++l) {
    start(h_[static_cast<size_t>(l)], rnn_->layer(l, 0).h0);
    if (!c_.empty()) start(c_[static_cast<size_t>(l)], rnn_->layer(l, 0).c0);
  }
}

template <class T>
const Tensor<T>& RnnStream<T>::step(const Tensor<T>& x) {
  const RnnOptions& o = rnn_->options();
  RECUR_CHECK(x.shape() == Shape({batch_, o.input_size}),
              fmt::format("{} stream: step input must be ({}, {}), got {}", nn::cell_name(o.cell), batch_,
                          o.input_size, x.shape().str()));
  const T* input = x.data();
  for (int l = 0; l < o.num_layers; ++l) {
    const auto i = static_cast<size_t>(l);
    const nn::ScanDims d{1, batch_, rnn_->layer(l, 0).input_size, o.hidden_size};
    T* c = c_.empty() ? nullptr : c_[i].data();
    // h_n may alias h0: the inference path copies the initial state before the step.
    nn::scan_forward<T>(o.cell, d, nn::Direction::kForward, rnn_->scan_weights(l, 0), input, nullptr,
                        h_[i].data(), c, y_[i].data(), h_[i].data(), c, nullptr);
    input = y_[i].data();
  }
  return y_.back();
}

template <class T>
Tensor<T>& RnnStream<T>::h(int layer) {
  RECUR_CHECK(layer >= 0 && layer < static_cast<int>(h_.size()),
              fmt::format("stream: layer {} of {}", layer, h_.size()));
  return h_[static_cast<size_t>(layer)];
}

template <class T>
Tensor<T>& RnnStream<T>::c(int layer) {
  RECUR_CHECK(!c_.empty(), "stream: only the LSTM has a cell state");
  RECUR_CHECK(layer >= 0 && layer < static_cast<int>(c_.size()),
              fmt::format("stream: layer {} of {}", layer, c_.size()));
  return c_[static_cast<size_t>(layer)];
}

template <class T>
RnnStream<T>::RnnStream(const RnnStream& other)
    : rnn_(other.rnn_),
      batch_(other.batch_),
      h_(deep_copy(other.h_)),
      c_(deep_copy(other.c_)),
      y_(deep_copy(other.y_)) {}

template <class T>
RnnStream<T>& RnnStream<T>::operator=(const RnnStream& other) {
  if (this != &other) *this = RnnStream(other);
  return *this;
}

template class RnnStream<float>;
template class RnnStream<double>;

}  // namespace recur::layers
