// Rnn<T>: a stack of fused recurrent layers (PyTorch's nn.RNN / nn.LSTM / nn.GRU level), on the tape.
//
//   x: (T, B, I) time-major → output: (T, B, D·H) of the top layer, final states (L·D entries of
//   (B, H), in PyTorch's h_n order: layer-major, forward before reverse)
//
// Each (layer, direction) is one fused node (autograd/scan.h). A bidirectional layer concatenates
// [forward, reverse] along the features; the reverse direction reverses every sequence within its
// own length. Dropout acts between layers (never after the top one, as in PyTorch), either with one
// mask per sequence reused at every step (variational, Gal & Ghahramani 2016) or a fresh mask per
// step; it is off when training == false. With `residual`, every layer above the first adds its
// input to its output (Wu et al. 2016): y_l = layer_l(dropout(y_{l-1})) + y_{l-1}, its input and
// output both D·H wide; padded steps stay exact zeros.
//
// Parameters use PyTorch's state_dict names under a prefix ("rnn."): weight_ih_l{k}, weight_hh_l{k},
// bias_ih_l{k}, bias_hh_l{k}, with "_reverse" for the backward direction; the Jordan cell adds
// weight_hy_l{k} and bias_hy_l{k}; a learned initial state adds initial_h_l{k} (and initial_c_l{k})
// of shape (H), broadcast over the batch.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "recur/autograd/scan.h"
#include "recur/nn/parameters.h"
#include "recur/rng.h"

namespace recur::layers {

enum class DropoutMode {
  kPerSequence,  // one mask per sequence and layer boundary, the same at every step (variational)
  kPerStep,      // a fresh mask at every step and unit
};

struct RnnOptions {
  nn::CellKind cell = nn::CellKind::kLstm;
  index_t input_size = 0;
  index_t hidden_size = 0;
  int num_layers = 1;
  bool bidirectional = false;
  double dropout = 0.0;  // between layers; in [0, 1)
  DropoutMode dropout_mode = DropoutMode::kPerSequence;
  bool learn_initial_state = false;
  bool residual = false;  // layers above the first add their input to their output
};

enum class RnnInit {
  kPyTorch,     // every parameter U(±1/√H), as PyTorch
  kOrthogonal,  // W_hh (and W_hy) orthogonal per gate block (Saxe et al. 2014), W_ih U(±1/√H), biases 0
  kIdentity,  // IRNN (Le et al. 2015): W_hh (and W_hy) identity per gate block, W_ih N(0, 0.001²), biases 0
};

struct RnnInitOptions {
  RnnInit scheme = RnnInit::kPyTorch;
  // LSTM: sets the forget gate's bias_ih to this and its bias_hh to 0, so the gate starts open
  // (1.0 as in Jozefowicz et al. 2015).
  std::optional<double> lstm_forget_bias;
};

// States of all layers and directions, L·D entries of (B, H). c is empty except for the LSTM.
template <class T>
struct RnnState {
  std::vector<ag::Var<T>> h, c;
};

// The same as plain tensors, to carry across tape.clear() (truncated BPTT).
template <class T>
struct RnnStateValues {
  std::vector<Tensor<T>> h, c;
};

template <class T>
struct RnnResult {
  ag::Var<T> output;        // (T, B, D·H); zeros at padded steps
  RnnState<T> final_state;  // each sequence's state after its last real step
};

template <class T>
class Rnn {
 public:
  // Parameter ids of one (layer, direction); -1 where the cell or options have none.
  struct LayerParams {
    int W_ih = -1, W_hh = -1, b_ih = -1, b_hh = -1, W_hy = -1, b_hy = -1, h0 = -1, c0 = -1;
    index_t input_size = 0;
  };

  // Adds the parameters to `params`, which must not be frozen yet and must outlive this object.
  Rnn(nn::ParameterTable<T>& params, const RnnOptions& options, const std::string& prefix = "rnn.");

  // After params.freeze(): fills this module's parameters (PyTorch's order: layer by layer,
  // forward then reverse, weight_ih, weight_hh, bias_ih, bias_hh).
  void init(Rng& rng, const RnnInitOptions& init = {}) const;

  // lengths: B entries in [1, T] (0 allowed: the state stays initial), or empty for all T.
  // initial: empty for zeros (or the learned state); else L·D entries (and L·D c's for the LSTM).
  // rng: needed when training with dropout > 0.
  RnnResult<T> forward(const ag::Var<T>& x, const std::vector<index_t>& lengths = {},
                       const RnnState<T>& initial = {}, bool training = false, Rng* rng = nullptr) const;

  // Each sequence's final state alone: the last layer keeps no output (and in training passes no
  // gradient of one back), as a character RNN whose final states encode each word needs none.
  RnnState<T> final_state(const ag::Var<T>& x, const std::vector<index_t>& lengths = {},
                          const RnnState<T>& initial = {}) const;

  const RnnOptions& options() const { return options_; }
  int directions() const { return options_.bidirectional ? 2 : 1; }
  index_t output_size() const { return directions() * options_.hidden_size; }
  const LayerParams& layer(int layer, int direction) const;
  const nn::ParameterTable<T>& params() const { return *params_; }
  // The scan weights of one (layer, direction), pointing into the parameter table.
  nn::ScanWeights<T> scan_weights(int layer, int direction) const;

 private:
  // forward, and with `output` false final_state.
  RnnResult<T> run(const ag::Var<T>& x, const std::vector<index_t>& lengths, const RnnState<T>& initial,
                   bool training, Rng* rng, bool output) const;
  // Inference (no gradient, no dropout): each direction's scan writes its half of the layer's
  // (T, B, D·H) output in place (nn::scan_forward's y_stride), with no concat; the same kernels, so
  // the same bits as through the tape.
  // `output` false: the last layer writes no output (result.output stays undefined).
  RnnResult<T> forward_values(const ag::Var<T>& x, const std::vector<index_t>& lengths,
                              const RnnState<T>& initial, bool output) const;

  nn::ParameterTable<T>* params_;
  RnnOptions options_;
  std::vector<LayerParams> layers_;  // index layer · D + direction
};

// Clones the values of a state (to keep it past tape.clear()).
template <class T>
RnnStateValues<T> values_of(const RnnState<T>& state);
// The values as constants on `tape`: the next chunk starts from them with the gradient cut.
template <class T>
RnnState<T> constants(ag::Tape<T>& tape, const RnnStateValues<T>& values);

extern template class Rnn<float>;
extern template class Rnn<double>;

}  // namespace recur::layers
