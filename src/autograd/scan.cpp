#include "recur/autograd/scan.h"

#include <fmt/format.h>

#include <memory>

#include "recur/autograd/functions.h"

namespace recur::ag {

namespace {

template <class T>
void require_shape(nn::CellKind kind, const char* what, const Var<T>& v, const Shape& want) {
  RECUR_CHECK(v.defined(), fmt::format("{} layer: {} is missing", nn::cell_name(kind), what));
  RECUR_CHECK(v.shape() == want, fmt::format("{} layer: {} has shape {}, expected {}", nn::cell_name(kind),
                                             what, v.shape().str(), want.str()));
}

}  // namespace

template <class T>
ScanLayerResult<T> scan_layer(nn::CellKind kind, nn::Direction direction, const Var<T>& x,
                              const ScanLayerWeights<T>& w, const std::vector<index_t>& lengths,
                              const Var<T>& h0, const Var<T>& c0, bool output) {
  const std::string_view name = nn::cell_name(kind);
  RECUR_CHECK(
      x.defined() && x.shape().rank() == 3,
      fmt::format("{} layer: input must be (T, B, I), got {}", name, x.defined() ? x.shape().str() : "none"));
  RECUR_CHECK(w.W_hh.defined() && w.W_hh.shape().rank() == 2,
              fmt::format("{} layer: weight_hh must be (G·H, H)", name));
  const nn::ScanDims d{x.shape()[0], x.shape()[1], x.shape()[2], w.W_hh.shape()[1]};
  const index_t GH = nn::gate_count(kind) * d.H;
  require_shape(kind, "weight_ih", w.W_ih, Shape{GH, d.I});
  require_shape(kind, "weight_hh", w.W_hh, Shape{GH, d.H});
  require_shape(kind, "bias_ih", w.b_ih, Shape{GH});
  require_shape(kind, "bias_hh", w.b_hh, Shape{GH});
  const bool jordan = nn::has_output_projection(kind), cell = nn::has_cell_state(kind);
  if (jordan) {
    require_shape(kind, "weight_hy", w.W_hy, Shape{d.H, d.H});
    require_shape(kind, "bias_hy", w.b_hy, Shape{d.H});
  }
  if (h0.defined()) require_shape(kind, "initial h", h0, Shape{d.B, d.H});
  if (c0.defined()) {
    RECUR_CHECK(cell, fmt::format("{} layer: only the LSTM takes an initial cell state", name));
    require_shape(kind, "initial c", c0, Shape{d.B, d.H});
  }
  RECUR_CHECK(lengths.empty() || static_cast<index_t>(lengths.size()) == d.B,
              fmt::format("{} layer: {} lengths for a batch of {}", name, lengths.size(), d.B));

  std::vector<Var<T>> inputs{x, w.W_ih, w.W_hh, w.b_ih, w.b_hh};
  if (jordan) inputs.insert(inputs.end(), {w.W_hy, w.b_hy});
  if (h0.defined()) inputs.push_back(h0);
  if (c0.defined()) inputs.push_back(c0);
  Tape<T>& tape = x.tape();
  bool needs_grad = false;
  for (const Var<T>& v : inputs) needs_grad = needs_grad || (tape.grad_enabled() && v.requires_grad());

  // One packed value: rows [0, Ty) are y (Ty = T, or 0 without `output`), row Ty is h_n, row Ty+1 is
  // c_n (LSTM).
  const index_t BH = d.B * d.H, Ty = output ? d.T : 0;
  Tensor<T> packed = Tensor<T>::uninitialized(Shape{Ty + 1 + (cell ? 1 : 0), d.B, d.H});
  nn::ScanWeights<T> sw{w.W_ih.value().data(), w.W_hh.value().data(), w.b_ih.value().data(),
                        w.b_hh.value().data()};
  if (jordan) {
    sw.W_hy = w.W_hy.value().data();
    sw.b_hy = w.b_hy.value().data();
  }
  const index_t* len = lengths.empty() ? nullptr : lengths.data();
  const T* h0_data = h0.defined() ? h0.value().data() : nullptr;
  const T* c0_data = c0.defined() ? c0.value().data() : nullptr;
  T* y = packed.data();
  T* c_n = cell ? y + (Ty + 1) * BH : nullptr;
  std::shared_ptr<nn::ScanTrace<T>> trace =
      needs_grad ? std::make_shared<nn::ScanTrace<T>>(kind, d) : nullptr;
  nn::scan_forward(kind, d, direction, sw, x.value().data(), len, h0_data, c0_data, output ? y : nullptr,
                   y + Ty * BH, c_n, trace.get());

  std::vector<std::int32_t> ids;
  for (const Var<T>& v : inputs) ids.push_back(v.id());
  Var<T> packed_var =
      tape.record(std::move(packed), inputs,
                  [kind, direction, d, Ty, cell, jordan, sw, x_value = x.value(), lengths, trace, ids,
                   has_h0 = h0.defined(), has_c0 = c0.defined()](Tape<T>& t, const Tensor<T>& dpacked) {
                    // sw points into the weight Vars' values, which the tape keeps alive until clear().
                    nn::ScanGrads<T> g;
                    size_t k = 0;
                    g.dx = t.grad_ptr(ids[k++]);
                    g.dW_ih = t.grad_ptr(ids[k++]);
                    g.dW_hh = t.grad_ptr(ids[k++]);
                    g.db_ih = t.grad_ptr(ids[k++]);
                    g.db_hh = t.grad_ptr(ids[k++]);
                    if (jordan) {
                      g.dW_hy = t.grad_ptr(ids[k++]);
                      g.db_hy = t.grad_ptr(ids[k++]);
                    }
                    if (has_h0) g.dh0 = t.grad_ptr(ids[k++]);
                    if (has_c0) g.dc0 = t.grad_ptr(ids[k++]);
                    const index_t bh = d.B * d.H;
                    const T* dy = dpacked.data();
                    nn::scan_backward(
                        kind, d, direction, sw, x_value.data(), lengths.empty() ? nullptr : lengths.data(),
                        *trace, Ty > 0 ? dy : nullptr, dy + Ty * bh, cell ? dy + (Ty + 1) * bh : nullptr, g);
                  });

  ScanLayerResult<T> result;
  if (output) result.y = slice(packed_var, 0, 0, d.T);
  result.h_n = reshape(slice(packed_var, 0, Ty, 1), Shape{d.B, d.H});
  if (cell) result.c_n = reshape(slice(packed_var, 0, Ty + 1, 1), Shape{d.B, d.H});
  return result;
}

template ScanLayerResult<float> scan_layer<float>(nn::CellKind, nn::Direction, const Var<float>&,
                                                  const ScanLayerWeights<float>&, const std::vector<index_t>&,
                                                  const Var<float>&, const Var<float>&, bool);
template ScanLayerResult<double> scan_layer<double>(nn::CellKind, nn::Direction, const Var<double>&,
                                                    const ScanLayerWeights<double>&,
                                                    const std::vector<index_t>&, const Var<double>&,
                                                    const Var<double>&, bool);

}  // namespace recur::ag
