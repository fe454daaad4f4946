// WindowLm<T>: the memoryless neural language model of Bengio et al. 2003. Each token is predicted
// from the N tokens before it and nothing else: the seed notes' contrast to a recurrent model,
// whose state carries everything it has read.
//
//   context ids (R, N) → Embedding (R·N, E) → concatenated (R, N·E) → input dropout
//     → hidden = tanh(x · W_hᵀ + b_h) (R, H) → dropout → logits = hidden · W_decᵀ + b_dec (R, V)
//
// One parameter table, PyTorch state_dict names: embedding.weight (V, E), hidden.weight (H, N·E),
// hidden.bias (H), decoder.weight (V, H), decoder.bias (V) — an nn.Embedding, two nn.Linear and a
// tanh in PyTorch. Positions before a text's (or an item's) first token read a padding token
// (WindowExamples).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "recur/data/vocab.h"
#include "recur/layers/embedding.h"
#include "recur/layers/linear.h"

namespace recur::models {

// The JSON stored as recur.config: {"model": "window", "window", "embedding_size", "hidden_size",
// "vocab_size", "dropout", "input_dropout", "items"}.
struct WindowLmConfig {
  index_t window = 4;  // N: tokens of context
  index_t embedding_size = 64;
  index_t hidden_size = 128;
  index_t vocab_size = 0;
  double dropout = 0.0;        // on the hidden layer
  double input_dropout = 0.0;  // on the concatenated embeddings
  bool lines = false;          // one item per line (else one stream)

  std::string to_json() const;
  // `source` names the file in errors.
  static WindowLmConfig from_json(std::string_view json, std::string_view source);
  void validate(std::string_view source) const;
};

// True when a language model's recur.config names the window model ("model": "window").
bool is_window_lm_config(std::string_view json);

template <class T>
class WindowLm {
 public:
  explicit WindowLm(const WindowLmConfig& config);
  // The parameters' names and shapes for `config` (validated), computed without allocating them.
  static std::vector<std::pair<std::string, Shape>> parameter_shapes(const WindowLmConfig& config);

  // PyTorch's defaults: embedding N(0, 1), each Linear U(±1/√fan_in).
  void init(Rng& rng);
  // Every parameter U(-range, range).
  void init_uniform(Rng& rng, T range);

  // contexts: R rows of N ids in [0, V), row-major → logits (R, V). The backward pass is that of
  // its ops: embedding, reshape, dropout, linear, tanh (dx = dy · (1 - y²)), linear.
  ag::Var<T> forward(ag::Tape<T>& tape, const std::vector<std::int32_t>& contexts, bool training,
                     Rng* rng) const;

  const WindowLmConfig& config() const { return config_; }
  nn::ParameterTable<T>& params() { return params_; }
  const nn::ParameterTable<T>& params() const { return params_; }

 private:
  struct Unallocated {};
  WindowLm(const WindowLmConfig& config, Unallocated);  // registers the parameters, does not freeze

  WindowLmConfig config_;
  nn::ParameterTable<T> params_;
  layers::Embedding<T> embedding_;
  layers::Linear<T> hidden_;
  layers::Linear<T> decoder_;
};

extern template class WindowLm<float>;
extern template class WindowLm<double>;

// A text as (context, target) examples: `ids` holds the tokens with N padding ids before each
// sequence, and example k predicts ids[targets[k]] from ids[targets[k] - N … targets[k] - 1].
//   stream: one sequence; its tokens 2…n are predicted (as the recurrent LM scores a stream), the
//           padding is <eos> (the end of a previous line), else "\n", else id 0.
//   lines:  each item is <bos>, its tokens, <eos>; its tokens and <eos> are predicted, the
//           padding is <bos> (as makemore's MLP pads with '.').
struct WindowExamples {
  std::vector<std::int32_t> ids;
  std::vector<std::int64_t> targets;

  static WindowExamples stream(const std::vector<std::int32_t>& tokens, index_t window,
                               const data::Vocab& vocab);
  static WindowExamples lines(const std::vector<std::vector<std::int32_t>>& items, index_t window,
                              const data::Vocab& vocab);
  std::int64_t size() const { return static_cast<std::int64_t>(targets.size()); }
  // The contexts (rows·N ids) and targets of examples order[begin … end).
  void gather(const std::vector<std::int64_t>& order, std::int64_t begin, std::int64_t end, index_t window,
              std::vector<std::int32_t>& contexts, std::vector<std::int32_t>& next) const;
};

// The stream's padding token (see WindowExamples).
std::int32_t window_stream_padding(const data::Vocab& vocab);

}  // namespace recur::models
