// Tagger: one tag per word (part of speech, chunks), from the whole sentence.
//
//   words (T, B)  → word embedding (B·T, Ew)          ┐
//   feature columns (T, B) each → an embedding (Ef)    │
//     (part of speech for a chunker, Huang et al.)     │
//   each word's code points → character embedding →   ├ concat → dropout → Rnn (bidirectional, L
//     a bidirectional RNN; its two final states        │   layers, any cell) → dropout → linear →
//     (Lample et al. 2016; for unknown and rare words) ┘   emission scores (T, B, K)
//
// and either a softmax per word (loss: mean cross-entropy per word; decoding: argmax) or a linear-
// chain CRF over the sentence (`crf`: loss log Z − score of the gold path, per word; decoding:
// Viterbi), as Huang et al. 2015's BI-LSTM-CRF. Sentences of a batch have their own lengths: the
// recurrent layers stop at each one's end and the reverse direction starts there, so padding never
// changes a result. Parameter names: word_embedding.weight, feature_embedding.<i>.weight,
// char_embedding.weight, char_rnn.*, rnn.*, output.weight/bias, crf.transitions/start/end.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "recur/autograd/tape.h"
#include "recur/layers/embedding.h"
#include "recur/layers/linear.h"
#include "recur/layers/rnn.h"
#include "recur/nn/cell_kind.h"
#include "recur/nn/parameters.h"
#include "recur/rng.h"

namespace recur::models {

struct TaggerConfig {
  nn::CellKind cell = nn::CellKind::kLstm;
  int num_layers = 1;
  index_t rnn_size = 128;  // per direction
  bool bidirectional = true;
  bool residual = false;  // layers above the first add their input (layers::RnnOptions)
  index_t word_embedding_size = 100;
  index_t char_embedding_size = 30;  // 0: no character features
  index_t char_rnn_size = 50;        // per direction of the character RNN
  index_t word_vocab_size = 0, char_vocab_size = 0, num_tags = 0;
  double dropout = 0.5;  // on the RNN's input and output, and between its layers
  bool crf = false;
  // How the training files were read, so eval and predict read theirs the same way.
  std::string format = "conllu";
  int column = 4;
  // Columns read beside the word, each through its own embedding of feature_embedding_size (1-based,
  // as `column`); their vocabularies' sizes (with <pad> <unk>).
  std::vector<int> feature_columns;
  std::vector<index_t> feature_vocab_sizes;
  index_t feature_embedding_size = 20;

  bool char_features() const { return char_embedding_size > 0; }
  std::string to_json() const;
  // recur.config of a tagger: exact types, the CLI's ranges; errors name `source` and the key.
  static TaggerConfig from_json(std::string_view text, std::string_view source);
  void validate(std::string_view source) const;
};

// A batch of sentences as ids: words (T, B) time-major, padded with 0 past each length; and the
// code points of every real word, in (t, b) order of the batch.
struct TaggerBatch {
  index_t T = 0, B = 0;
  std::vector<std::int32_t> words;                  // (T, B)
  std::vector<std::vector<std::int32_t>> features;  // per feature column (T, B), padded with 0
  std::vector<index_t> lengths;                     // (B)
  std::vector<std::vector<std::int32_t>> chars;     // one per real word, t-major then b
  std::vector<index_t> items;                       // (B) which sentences, by index into their set
  index_t num_words() const;
};

template <class T>
class Tagger {
 public:
  explicit Tagger(const TaggerConfig& config);
  // The (name, shape) of every parameter `config` implies, without allocating them.
  static std::vector<std::pair<std::string, Shape>> parameter_shapes(const TaggerConfig& config);

  // PyTorch's defaults (embeddings N(0, 1), RNNs and the linear layer U(±1/√H)); the CRF's scores
  // U(±0.1).
  void init(Rng& rng);

  const TaggerConfig& config() const { return config_; }
  nn::ParameterTable<T>& params() { return params_; }
  const nn::ParameterTable<T>& params() const { return params_; }

  // Emission scores (T, B, K).
  ag::Var<T> emissions(ag::Tape<T>& tape, const TaggerBatch& batch, bool training, Rng* rng) const;
  // The mean loss per word of `tags` (T, B; entries past a sentence's length are ignored); the
  // softmax's targets smoothed by `label_smoothing` (ops::CrossEntropyOptions; not with a CRF).
  ag::Var<T> loss(ag::Tape<T>& tape, const TaggerBatch& batch, const std::vector<std::int32_t>& tags,
                  bool training, Rng* rng, double label_smoothing = 0.0) const;
  // The best tags (T, B), -1 past each sentence's length; and their emissions' loss when `tags` is
  // given (Σ over words, for a mean over a whole file).
  std::vector<std::int32_t> decode(const TaggerBatch& batch) const;
  double loss_sum(const TaggerBatch& batch, const std::vector<std::int32_t>& tags) const;

 private:
  struct Unallocated {};
  Tagger(const TaggerConfig& config, Unallocated);
  ag::Var<T> scores(ag::Tape<T>& tape, const TaggerBatch& batch, bool training, Rng* rng) const;  // (T·B, K)

  TaggerConfig config_;
  nn::ParameterTable<T> params_;
  layers::Embedding<T> word_embedding_;
  std::vector<layers::Embedding<T>> feature_embeddings_;
  std::optional<layers::Embedding<T>> char_embedding_;  // with character features only
  std::optional<layers::Rnn<T>> char_rnn_;
  layers::Rnn<T> rnn_;
  layers::Linear<T> output_;
  int transitions_ = -1, start_ = -1, end_ = -1;  // the CRF's parameters
};

extern template class Tagger<float>;
extern template class Tagger<double>;

}  // namespace recur::models
