#include "recur/layers/rnn_stream.h"

#include <fmt/format.h>

#include <utility>

#include "recur/ops/elementwise.h"

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
RnnStream<T>::RnnStream(const Rnn<T>& rnn, index_t batch, const Tensor<T>& input_rows)
    : rnn_(&rnn), batch_(batch) {
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
  if (input_rows.empty())
    repack();
  else
    set_input_rows(input_rows);
  reset();
}

template <class T>
void RnnStream<T>::repack() {
  const RnnOptions& o = rnn_->options();
  const nn::ParameterTable<T>& params = rnn_->params();
  const auto copy_of = [&](int id) {
    if (id < 0) return std::vector<T>();
    const Tensor<T> v = params.value(id);
    return std::vector<T>(v.data(), v.data() + v.numel());
  };
  // Built aside and swapped in whole, so a failure leaves the previous snapshot in place.
  auto frozen = std::make_shared<Snapshot>();
  for (int l = 0; l < o.num_layers; ++l) {
    const typename Rnn<T>::LayerParams& p = rnn_->layer(l, 0);
    const nn::ScanDims d{1, batch_, p.input_size, o.hidden_size};
    frozen->packed.push_back(nn::pack_forward(o.cell, d, rnn_->scan_weights(l, 0), /*with_input=*/true));
    frozen->b_ih.push_back(copy_of(p.b_ih));
    frozen->b_hh.push_back(copy_of(p.b_hh));
    frozen->b_hy.push_back(copy_of(p.b_hy));
    frozen->h0.push_back(copy_of(p.h0));
    frozen->c0.push_back(copy_of(p.c0));
  }
  if (!input_rows_.empty()) {
    const PackedMatrix<T>& first = frozen->packed.front().input;
    frozen->row_table = Tensor<T>::uninitialized(Shape{input_rows_.dim(0), first.n()});
    gemm_packed(input_rows_.dim(0), input_rows_.data(), input_rows_.dim(1), first, T(0),
                frozen->row_table.data(), first.n());
  }
  frozen_ = std::move(frozen);
}

template <class T>
void RnnStream<T>::set_input_rows(const Tensor<T>& rows) {
  const index_t I = rnn_->options().input_size;
  RECUR_CHECK(rows.rank() == 2 && rows.dim(1) == I && rows.dim(0) >= 1,
              fmt::format("{} stream: input rows must be (V, {}), got {}",
                          nn::cell_name(rnn_->options().cell), I, rows.shape().str()));
  Tensor<T> previous = std::exchange(input_rows_, rows);
  try {
    repack();
  } catch (...) {
    input_rows_ = std::move(previous);
    throw;
  }
}

template <class T>
const Tensor<T>& RnnStream<T>::step_rows(const std::vector<std::int32_t>& ids) {
  const nn::CellKind cell = rnn_->options().cell;
  const Tensor<T>& table = frozen_->row_table;
  RECUR_CHECK(!table.empty(),
              fmt::format("{} stream: step_rows needs set_input_rows first", nn::cell_name(cell)));
  RECUR_CHECK(static_cast<index_t>(ids.size()) == batch_,
              fmt::format("{} stream: {} ids for a batch of {}", nn::cell_name(cell), ids.size(), batch_));
  const index_t V = table.dim(0), GH = table.dim(1);
  if (projected_.empty()) projected_ = Tensor<T>::uninitialized(Shape{batch_, GH});
  for (index_t b = 0; b < batch_; ++b) {
    const std::int32_t id = ids[static_cast<size_t>(b)];
    RECUR_CHECK(id >= 0 && id < V, fmt::format("{} stream: id {} at batch row {} is outside [0, {})",
                                               nn::cell_name(cell), id, b, V));
    const T* row = table.data() + id * GH;
    std::copy(row, row + GH, projected_.data() + b * GH);
  }
  run_layers(projected_.data(), /*projected=*/true);
  return y_.back();
}

template <class T>
void RnnStream<T>::reset() {
  const index_t H = rnn_->options().hidden_size;
  const auto start = [&](Tensor<T>& state, const std::vector<T>& learned) {
    if (learned.empty()) {
      state.zero();
      return;
    }
    for (index_t b = 0; b < batch_; ++b) std::copy(learned.begin(), learned.end(), state.data() + b * H);
  };
  for (size_t l = 0; l < h_.size(); ++l) {
    start(h_[l], frozen_->h0[l]);
    if (!c_.empty()) start(c_[l], frozen_->c0[l]);
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
    // The snapshot's biases; the matrices come from its packs (the live pointers are not read).
    nn::ScanWeights<T> w = rnn_->scan_weights(l, 0);
    w.b_ih = frozen_->b_ih[i].data();
    w.b_hh = frozen_->b_hh[i].data();
    if (!frozen_->b_hy[i].empty()) w.b_hy = frozen_->b_hy[i].data();
    w.packed = &frozen_->packed[i];
    w.x_is_projection = projected && l == 0;
    // h_n may alias h0: the inference path copies the initial state before the step.
    nn::scan_forward<T>(o.cell, d, nn::Direction::kForward, w, input, nullptr, h_[i].data(), c, y_[i].data(),
                        h_[i].data(), c, nullptr);
    if (o.residual && l > 0) ops::add_forward(y_[i].data(), input, y_[i].data(), y_[i].numel());
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
      frozen_(other.frozen_),
      input_rows_(other.input_rows_) {}

template <class T>
RnnStream<T>& RnnStream<T>::operator=(const RnnStream& other) {
  if (this != &other) *this = RnnStream(other);
  return *this;
}

template class RnnStream<float>;
template class RnnStream<double>;

}  // namespace recur::layers
