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
  repack();
  reset();
}

template <class T>
void RnnStream<T>::repack() {
  const RnnOptions& o = rnn_->options();
  auto packed = std::make_shared<std::vector<nn::PackedScanWeights<T>>>();
  for (int l = 0; l < o.num_layers; ++l) {
    const nn::ScanDims d{1, batch_, rnn_->layer(l, 0).input_size, o.hidden_size};
    packed->push_back(nn::pack_forward(o.cell, d, rnn_->scan_weights(l, 0), /*with_input=*/true));
  }
  packed_ = std::move(packed);
  if (!input_rows_.empty()) {
    const nn::PackedScanWeights<T>& first = packed_->front();
    auto table =
        std::make_shared<Tensor<T>>(Tensor<T>::uninitialized(Shape{input_rows_.dim(0), first.input.n()}));
    gemm_packed(input_rows_.dim(0), input_rows_.data(), input_rows_.dim(1), first.input, T(0), table->data(),
                first.input.n());
    row_table_ = std::move(table);
  }
}

template <class T>
void RnnStream<T>::set_input_rows(const Tensor<T>& rows) {
  const index_t I = rnn_->options().input_size;
  RECUR_CHECK(rows.rank() == 2 && rows.dim(1) == I && rows.dim(0) >= 1,
              fmt::format("{} stream: input rows must be (V, {}), got {}",
                          nn::cell_name(rnn_->options().cell), I, rows.shape().str()));
  input_rows_ = rows;
  repack();
}

template <class T>
const Tensor<T>& RnnStream<T>::step_rows(const std::vector<std::int32_t>& ids) {
  const nn::CellKind cell = rnn_->options().cell;
  RECUR_CHECK(row_table_,
              fmt::format("{} stream: step_rows needs set_input_rows first", nn::cell_name(cell)));
  RECUR_CHECK(static_cast<index_t>(ids.size()) == batch_,
              fmt::format("{} stream: {} ids for a batch of {}", nn::cell_name(cell), ids.size(), batch_));
  const index_t V = row_table_->dim(0), GH = row_table_->dim(1);
  if (projected_.empty()) projected_ = Tensor<T>::uninitialized(Shape{batch_, GH});
  for (index_t b = 0; b < batch_; ++b) {
    const std::int32_t id = ids[static_cast<size_t>(b)];
    RECUR_CHECK(id >= 0 && id < V, fmt::format("{} stream: id {} at batch row {} is outside [0, {})",
                                               nn::cell_name(cell), id, b, V));
    const T* row = row_table_->data() + id * GH;
    std::copy(row, row + GH, projected_.data() + b * GH);
  }
  run_layers(projected_.data(), /*projected=*/true);
  return y_.back();
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
  run_layers(x.data(), /*projected=*/false);
  return y_.back();
}

// Every layer one step; `projected`: the first layer's input is already x · W_ih_l0ᵀ.
template <class T>
void RnnStream<T>::run_layers(const T* input, bool projected) {
  const RnnOptions& o = rnn_->options();
  for (int l = 0; l < o.num_layers; ++l) {
    const auto i = static_cast<size_t>(l);
    const nn::ScanDims d{1, batch_, rnn_->layer(l, 0).input_size, o.hidden_size};
    T* c = c_.empty() ? nullptr : c_[i].data();
    nn::ScanWeights<T> w = rnn_->scan_weights(l, 0);
    w.packed = &(*packed_)[i];
    w.x_is_projection = projected && l == 0;
    // h_n may alias h0: the inference path copies the initial state before the step.
    nn::scan_forward<T>(o.cell, d, nn::Direction::kForward, w, input, nullptr, h_[i].data(), c, y_[i].data(),
                        h_[i].data(), c, nullptr);
    input = y_[i].data();
  }
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
      y_(deep_copy(other.y_)),
      packed_(other.packed_),
      input_rows_(other.input_rows_),
      row_table_(other.row_table_) {}

template <class T>
RnnStream<T>& RnnStream<T>::operator=(const RnnStream& other) {
  if (this != &other) *this = RnnStream(other);
  return *this;
}

template class RnnStream<float>;
template class RnnStream<double>;

}  // namespace recur::layers
