// RnnLm<T>: a recurrent language model over characters or words (char-rnn grown up; Mikolov's
// RNNLM with LSTM or GRU cells), composed of three modules in one
// parameter table that the model owns and freezes:
//
//   ids (T, B) → Embedding (T, B, E) → input dropout → Rnn stack (T, B, H) → dropout → Linear (T·B, V)
//
// Parameter names are the state_dict names of the equivalent PyTorch model (an nn.Embedding named
// `embedding`, an nn.RNN/LSTM/GRU named `rnn`, an nn.Linear named `decoder`), so weights move
// between the two with tools/ converters or any safetensors reader. With tied weights (E = H) the
// decoder reuses embedding.weight (Press & Wolf 2017); checkpoints then store it under both names,
// as PyTorch's state_dict does.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "recur/layers/embedding.h"
#include "recur/layers/linear.h"
#include "recur/layers/rnn.h"
#include "recur/layers/rnn_stream.h"
#include "recur/ops/packed_gemm.h"

namespace recur::models {

// The JSON stored as recur.config in checkpoints.
struct RnnLmConfig {
  nn::CellKind model = nn::CellKind::kLstm;
  int num_layers = 2;
  index_t rnn_size = 128;
  index_t embedding_size = 64;
  index_t vocab_size = 0;
  double dropout = 0.0;        // between layers and before the decoder
  double input_dropout = 0.0;  // on the embedded inputs (Zaremba et al. 2014: every non-recurrent connection)
  layers::DropoutMode dropout_mode = layers::DropoutMode::kPerStep;
  bool tied = false;
  // How the model reads text: one stream, the state carried (char-rnn; PTB), or one item per line,
  // each from <bos> to <eos> with a fresh state (names, word lists).
  bool lines = false;

  std::string to_json() const;
  // `source` names the file in errors; unknown keys are ignored, missing required ones are errors.
  static RnnLmConfig from_json(std::string_view json, std::string_view source);
  void validate(std::string_view source) const;
};

// RnnLm's generation state (make_stream). Copies share the packed weights and copy the state,
// so a beam keeps one per hypothesis.
template <class T>
class RnnLm;

template <class T>
struct RnnLmStream {
  // The decoder as of make_stream, shared by copies.
  struct Decoder {
    PackedMatrix<T> weight;  // (H, V) = W_decᵀ, packed
    std::vector<T> bias;     // (V)
  };
  layers::RnnStream<T> rnn;
  std::shared_ptr<const Decoder> decoder;
  const RnnLm<T>* model = nullptr;  // the model that made it (step checks)
};

template <class T>
class RnnLm {
 public:
  explicit RnnLm(const RnnLmConfig& config);
  // The parameters' names and shapes for `config` (validated), computed without allocating them.
  static std::vector<std::pair<std::string, Shape>> parameter_shapes(const RnnLmConfig& config);

  // PyTorch's defaults: embedding N(0, 1); rnn and decoder U(±1/√fan_in).
  void init(Rng& rng);
  // Every parameter U(-range, range), in the table's order (Zaremba et al. 2014: 0.1, 0.05, 0.04).
  void init_uniform(Rng& rng, T range);

  struct Output {
    ag::Var<T> logits;          // (T·B, V), row t·B + b
    layers::RnnState<T> state;  // final state, to carry into the next chunk
  };
  // inputs: (T = steps, B = batch) time-major token ids in [0, V). initial: empty for zeros.
  // lengths: B entries in [1, T] for padded items (the state stops at each item's end), or empty.
  Output forward(ag::Tape<T>& tape, const std::vector<std::int32_t>& inputs, index_t steps, index_t batch,
                 const layers::RnnState<T>& initial, bool training, Rng* rng,
                 const std::vector<index_t>& lengths = {}) const;

  // One step of generation: feeds ids (one per stream row) and writes logits (B, V), the same
  // bits as forward() under NoGrad on the same ids. `logits` may be empty (or any shape): it is
  // made (B, V) when it is not, and reused as is when it is.
  void step(RnnLmStream<T>& stream, const std::vector<std::int32_t>& ids, Tensor<T>& logits) const;
  // A generation state: the Rnn's stream with the embedding as its input rows
  // (RnnStream::set_input_rows: step() looks up the first layer's input projection instead of
  // multiplying by W_ih_l0) and the decoder packed once. Like an RnnStream it is a snapshot of the
  // parameters as they are now: make a new one after changing them.
  RnnLmStream<T> make_stream(index_t batch) const;

  const RnnLmConfig& config() const { return config_; }
  nn::ParameterTable<T>& params() { return params_; }
  const nn::ParameterTable<T>& params() const { return params_; }
  const layers::Embedding<T>& embedding() const { return embedding_; }
  const layers::Rnn<T>& rnn() const { return rnn_; }
  const layers::Linear<T>& decoder() const { return decoder_; }
  int embedding_id() const { return embedding_.weight_id(); }
  int decoder_weight_id() const { return decoder_.weight_id(); }  // == embedding_id() when tied
  int decoder_bias_id() const { return decoder_.bias_id(); }

 private:
  struct Unallocated {};
  RnnLm(const RnnLmConfig& config, Unallocated);  // registers the parameters, does not freeze

  RnnLmConfig config_;
  // The modules register in declaration order (the state_dict's order): embedding.weight, rnn.*,
  // decoder.weight (unless tied), decoder.bias.
  nn::ParameterTable<T> params_;
  layers::Embedding<T> embedding_;
  layers::Rnn<T> rnn_;
  layers::Linear<T> decoder_;

  // Inference decoder: logits (N, V) = h (N, H) · W_decᵀ + b_dec against the packed W_decᵀ.
  void decode(const T* h, index_t N, const PackedMatrix<T>& W, const T* bias, T* logits) const;
  PackedMatrix<T> pack_decoder() const;
};

extern template class RnnLm<float>;
extern template class RnnLm<double>;

}  // namespace recur::models
