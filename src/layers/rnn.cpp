#include "recur/layers/rnn.h"

#include <fmt/format.h>

#include <cmath>

#include "recur/autograd/functions.h"
#include "recur/init.h"
#include "recur/ops/elementwise.h"

namespace recur::layers {

namespace {

std::string suffix(int layer, int direction) {
  return fmt::format("_l{}{}", layer, direction == 1 ? "_reverse" : "");
}

void check_options(const RnnOptions& o) {
  const std::string_view name = nn::cell_name(o.cell);
  RECUR_CHECK(o.input_size >= 1 && o.hidden_size >= 1,
              fmt::format("{}: input_size ({}) and hidden_size ({}) must be at least 1", name, o.input_size,
                          o.hidden_size));
  RECUR_CHECK(o.num_layers >= 1,
              fmt::format("{}: num_layers must be at least 1, got {}", name, o.num_layers));
  RECUR_CHECK(o.dropout >= 0.0 && o.dropout < 1.0,
              fmt::format("{}: dropout must be in [0, 1), got {}", name, o.dropout));
}

}  // namespace

template <class T>
Rnn<T>::Rnn(nn::ParameterTable<T>& params, const RnnOptions& options, const std::string& prefix)
    : params_(&params), options_(options) {
  check_options(options);
  const index_t H = options.hidden_size, GH = nn::gate_count(options.cell) * H;
  for (int l = 0; l < options.num_layers; ++l) {
    for (int dir = 0; dir < directions(); ++dir) {
      LayerParams p;
      p.input_size = l == 0 ? options.input_size : output_size();
      const std::string s = suffix(l, dir);
      p.W_ih = params.add(prefix + "weight_ih" + s, Shape{GH, p.input_size});
      p.W_hh = params.add(prefix + "weight_hh" + s, Shape{GH, H});
      p.b_ih = params.add(prefix + "bias_ih" + s, Shape{GH});
      p.b_hh = params.add(prefix + "bias_hh" + s, Shape{GH});
      if (nn::has_output_projection(options.cell)) {
        p.W_hy = params.add(prefix + "weight_hy" + s, Shape{H, H});
        p.b_hy = params.add(prefix + "bias_hy" + s, Shape{H});
      }
      if (options.learn_initial_state) {
        p.h0 = params.add(prefix + "initial_h" + s, Shape{H});
        if (nn::has_cell_state(options.cell)) p.c0 = params.add(prefix + "initial_c" + s, Shape{H});
      }
      layers_.push_back(p);
    }
  }
}

template <class T>
const typename Rnn<T>::LayerParams& Rnn<T>::layer(int layer, int direction) const {
  RECUR_CHECK(layer >= 0 && layer < options_.num_layers && direction >= 0 && direction < directions(),
              fmt::format("layer {} direction {} of a {}-layer, {}-direction RNN", layer, direction,
                          options_.num_layers, directions()));
  return layers_[static_cast<size_t>(layer * directions() + direction)];
}

template <class T>
nn::ScanWeights<T> Rnn<T>::scan_weights(int l, int dir) const {
  const LayerParams& p = layer(l, dir);
  nn::ScanWeights<T> w{params_->value(p.W_ih).data(), params_->value(p.W_hh).data(),
                       params_->value(p.b_ih).data(), params_->value(p.b_hh).data()};
  if (p.W_hy >= 0) {
    w.W_hy = params_->value(p.W_hy).data();
    w.b_hy = params_->value(p.b_hy).data();
  }
  return w;
}

template <class T>
void Rnn<T>::init(Rng& rng, const RnnInitOptions& init) const {
  const index_t H = options_.hidden_size;
  const T k = T(1) / std::sqrt(T(H));
  // Each square (H, H) gate block of a recurrent matrix gets its own orthogonal or identity matrix.
  const auto recurrent = [&](Tensor<T> W) {
    for (index_t g = 0; g < W.dim(0) / H; ++g) {
      Tensor<T> block = W.narrow(g * H, H);
      if (init.scheme == RnnInit::kOrthogonal)
        init::orthogonal(block, rng);
      else
        init::identity(block);
    }
  };
  for (const LayerParams& p : layers_) {
    Tensor<T> W_ih = params_->value(p.W_ih), W_hh = params_->value(p.W_hh);
    Tensor<T> b_ih = params_->value(p.b_ih), b_hh = params_->value(p.b_hh);
    if (init.scheme == RnnInit::kPyTorch) {
      for (int id : {p.W_ih, p.W_hh, p.b_ih, p.b_hh, p.W_hy, p.b_hy}) {
        if (id < 0) continue;
        Tensor<T> v = params_->value(id);
        init::uniform(v, -k, k, rng);
      }
    } else {
      if (init.scheme == RnnInit::kOrthogonal)
        init::uniform(W_ih, -k, k, rng);
      else
        init::normal(W_ih, T(0), T(0.001), rng);
      recurrent(W_hh);
      b_ih.zero();
      b_hh.zero();
      if (p.W_hy >= 0) {
        recurrent(params_->value(p.W_hy));
        params_->value(p.b_hy).zero();
      }
    }
    if (init.lstm_forget_bias && options_.cell == nn::CellKind::kLstm) {
      for (index_t j = H; j < 2 * H; ++j) {
        b_ih[j] = static_cast<T>(*init.lstm_forget_bias);
        b_hh[j] = T(0);
      }
    }
    for (int id : {p.h0, p.c0})
      if (id >= 0) params_->value(id).zero();
  }
}

template <class T>
RnnResult<T> Rnn<T>::forward(const ag::Var<T>& x, const std::vector<index_t>& lengths,
                             const RnnState<T>& initial, bool training, Rng* rng) const {
  return run(x, lengths, initial, training, rng, /*output=*/true);
}

template <class T>
RnnState<T> Rnn<T>::final_state(const ag::Var<T>& x, const std::vector<index_t>& lengths,
                                const RnnState<T>& initial) const {
  return run(x, lengths, initial, false, nullptr, /*output=*/false).final_state;
}

template <class T>
RnnResult<T> Rnn<T>::run(const ag::Var<T>& x, const std::vector<index_t>& lengths, const RnnState<T>& initial,
                         bool training, Rng* rng, bool output) const {
  const std::string_view name = nn::cell_name(options_.cell);
  const int L = options_.num_layers, D = directions();
  const auto entries = static_cast<size_t>(L * D);
  const bool cell = nn::has_cell_state(options_.cell);
  RECUR_CHECK(x.defined() && x.shape().rank() == 3 && x.shape()[2] == options_.input_size,
              fmt::format("{}: input must be (T, B, {}), got {}", name, options_.input_size,
                          x.defined() ? x.shape().str() : "none"));
  RECUR_CHECK(initial.h.empty() || initial.h.size() == entries,
              fmt::format("{}: {} initial h for {} layers × {} directions", name, initial.h.size(), L, D));
  RECUR_CHECK(initial.c.empty() || (cell && initial.c.size() == entries),
              fmt::format("{}: {} initial c for {} layers × {} directions{}", name, initial.c.size(), L, D,
                          cell ? "" : " (only the LSTM has a cell state)"));
  const bool dropout = training && options_.dropout > 0.0 && L > 1;
  RECUR_CHECK(!dropout || rng != nullptr, fmt::format("{}: training with dropout needs an Rng", name));

  ag::Tape<T>& tape = x.tape();
  if (!tape.grad_enabled() && !dropout) return forward_values(x, lengths, initial, output);
  const index_t T_ = x.shape()[0], B = x.shape()[1], H = options_.hidden_size;
  // A learned initial state (H) broadcast over the batch: zeros (B, H) + the parameter as a bias.
  const auto learned = [&](int id) {
    return ag::add_bias(tape.constant(Tensor<T>(Shape{B, H})), ag::param(tape, *params_, id));
  };

  RnnResult<T> result;
  ag::Var<T> input = x;
  for (int l = 0; l < L; ++l) {
    const ag::Var<T> layer_input = input;  // the residual path skips the dropout
    if (l > 0 && dropout) {
      const T p = static_cast<T>(options_.dropout);
      if (options_.dropout_mode == DropoutMode::kPerStep) {
        input = ag::dropout(input, p, *rng, true);
      } else {
        // One (B, D·H) mask per sequence, repeated at every step.
        const index_t width = B * output_size();
        Tensor<T> mask = Tensor<T>::uninitialized(input.shape());  // step 0 drawn, then copied to every step
        ops::dropout_mask(*rng, p, mask.data(), width);
        for (index_t t = 1; t < T_; ++t) std::copy(mask.data(), mask.data() + width, mask.data() + t * width);
        input = ag::dropout_with_mask(input, mask);
      }
    }
    // The layer's output is kept only when something reads it (final_state reads the last one's not).
    const bool keep = output || l + 1 < L;
    std::vector<ag::Var<T>> outputs;
    for (int dir = 0; dir < D; ++dir) {
      const LayerParams& p = layer(l, dir);
      const size_t e = static_cast<size_t>(l * D + dir);
      ag::ScanLayerWeights<T> w;
      w.W_ih = ag::param(tape, *params_, p.W_ih);
      w.W_hh = ag::param(tape, *params_, p.W_hh);
      w.b_ih = ag::param(tape, *params_, p.b_ih);
      w.b_hh = ag::param(tape, *params_, p.b_hh);
      if (p.W_hy >= 0) {
        w.W_hy = ag::param(tape, *params_, p.W_hy);
        w.b_hy = ag::param(tape, *params_, p.b_hy);
      }
      ag::Var<T> h0 = !initial.h.empty() ? initial.h[e] : (p.h0 >= 0 ? learned(p.h0) : ag::Var<T>());
      ag::Var<T> c0 = !initial.c.empty() ? initial.c[e] : (p.c0 >= 0 ? learned(p.c0) : ag::Var<T>());
      const ag::ScanLayerResult<T> r =
          ag::scan_layer(options_.cell, dir == 0 ? nn::Direction::kForward : nn::Direction::kReverse, input,
                         w, lengths, h0, c0, keep);
      outputs.push_back(r.y);
      result.final_state.h.push_back(r.h_n);
      if (cell) result.final_state.c.push_back(r.c_n);
    }
    if (keep) {
      input = D == 1 ? outputs[0] : ag::concat(outputs, 2);
      if (options_.residual && l > 0) input = input + layer_input;
    }
  }
  if (output) result.output = input;
  return result;
}

template <class T>
RnnResult<T> Rnn<T>::forward_values(const ag::Var<T>& x, const std::vector<index_t>& lengths,
                                    const RnnState<T>& initial, bool output) const {
  ag::Tape<T>& tape = x.tape();
  const int L = options_.num_layers, D = directions();
  const bool cell = nn::has_cell_state(options_.cell);
  const index_t T_ = x.shape()[0], B = x.shape()[1], H = options_.hidden_size;
  RECUR_CHECK(
      lengths.empty() || static_cast<index_t>(lengths.size()) == B,
      fmt::format("{} layer: {} lengths for a batch of {}", nn::cell_name(options_.cell), lengths.size(), B));
  // Initial state of entry e: given, learned (H) repeated over the batch, or null for zeros.
  const auto start = [&](const std::vector<ag::Var<T>>& given, int learned, size_t e, Tensor<T>& storage) {
    if (!given.empty()) return given[e].value().data();
    if (learned < 0) return static_cast<const T*>(nullptr);
    storage = Tensor<T>::uninitialized(Shape{B, H});
    const T* row = params_->value(learned).data();
    for (index_t b = 0; b < B; ++b) std::copy(row, row + H, storage.data() + b * H);
    return static_cast<const T*>(storage.data());
  };
  RnnResult<T> result;
  Tensor<T> input = x.value();
  for (int l = 0; l < L; ++l) {
    const bool keep = output || l + 1 < L;  // the next layer reads this one's output
    Tensor<T> y =
        keep ? Tensor<T>::uninitialized(Shape{T_, B, D * H}) : Tensor<T>();  // each half fully written
    for (int dir = 0; dir < D; ++dir) {
      const LayerParams& p = layer(l, dir);
      const auto e = static_cast<size_t>(l * D + dir);
      Tensor<T> h0_storage, c0_storage;
      const T* h0 = start(initial.h, p.h0, e, h0_storage);
      const T* c0 = cell ? start(initial.c, p.c0, e, c0_storage) : nullptr;
      Tensor<T> h_n = Tensor<T>::uninitialized(Shape{B, H});
      Tensor<T> c_n = cell ? Tensor<T>::uninitialized(Shape{B, H}) : Tensor<T>();
      nn::scan_forward<T>(options_.cell, nn::ScanDims{T_, B, input.dim(2), H},
                          dir == 0 ? nn::Direction::kForward : nn::Direction::kReverse, scan_weights(l, dir),
                          input.data(), lengths.empty() ? nullptr : lengths.data(), h0, c0,
                          keep ? y.data() + dir * H : nullptr, h_n.data(), cell ? c_n.data() : nullptr,
                          nullptr, D * H);
      result.final_state.h.push_back(tape.constant(std::move(h_n)));
      if (cell) result.final_state.c.push_back(tape.constant(std::move(c_n)));
    }
    if (keep && options_.residual && l > 0) ops::add_forward(y.data(), input.data(), y.data(), y.numel());
    input = std::move(y);
  }
  if (output) result.output = tape.constant(std::move(input));
  return result;
}

template <class T>
RnnStateValues<T> values_of(const RnnState<T>& state) {
  RnnStateValues<T> v;
  for (const ag::Var<T>& h : state.h) v.h.push_back(h.value().clone());
  for (const ag::Var<T>& c : state.c) v.c.push_back(c.value().clone());
  return v;
}

template <class T>
RnnState<T> constants(ag::Tape<T>& tape, const RnnStateValues<T>& values) {
  RnnState<T> s;
  for (const Tensor<T>& h : values.h) s.h.push_back(tape.constant(h));
  for (const Tensor<T>& c : values.c) s.c.push_back(tape.constant(c));
  return s;
}

template class Rnn<float>;
template class Rnn<double>;
template RnnStateValues<float> values_of<float>(const RnnState<float>&);
template RnnStateValues<double> values_of<double>(const RnnState<double>&);
template RnnState<float> constants<float>(ag::Tape<float>&, const RnnStateValues<float>&);
template RnnState<double> constants<double>(ag::Tape<double>&, const RnnStateValues<double>&);

}  // namespace recur::layers
