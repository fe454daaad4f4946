#include "recur/models/tagger.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "recur/autograd/crf.h"
#include "recur/autograd/functions.h"
#include "recur/models/config_json.h"
#include "recur/nn/cell_kind.h"

namespace recur::models {

namespace {

layers::RnnOptions char_rnn_options(const TaggerConfig& c) {
  layers::RnnOptions o;
  o.cell = c.cell;
  o.input_size = c.char_embedding_size;
  o.hidden_size = c.char_rnn_size;
  o.bidirectional = true;
  return o;
}

layers::RnnOptions rnn_options(const TaggerConfig& c) {
  layers::RnnOptions o;
  o.cell = c.cell;
  o.input_size = c.word_embedding_size +
                 static_cast<index_t>(c.feature_columns.size()) * c.feature_embedding_size +
                 (c.char_features() ? 2 * c.char_rnn_size : 0);
  o.hidden_size = c.rnn_size;
  o.num_layers = c.num_layers;
  o.bidirectional = c.bidirectional;
  o.residual = c.residual;
  o.dropout = c.dropout;
  o.dropout_mode = layers::DropoutMode::kPerSequence;
  return o;
}

const TaggerConfig& validated(const TaggerConfig& c) {
  c.validate("tagger config");
  return c;
}

}  // namespace

index_t TaggerBatch::num_words() const {
  index_t n = 0;
  for (index_t l : lengths) n += l;
  return n;
}

std::string TaggerConfig::to_json() const {
  return nlohmann::ordered_json{{"cell", nn::cell_name(cell)},
                                {"num_layers", num_layers},
                                {"rnn_size", rnn_size},
                                {"bidirectional", bidirectional},
                                {"residual", residual},
                                {"word_embedding_size", word_embedding_size},
                                {"char_embedding_size", char_embedding_size},
                                {"char_rnn_size", char_rnn_size},
                                {"word_vocab_size", word_vocab_size},
                                {"char_vocab_size", char_vocab_size},
                                {"num_tags", num_tags},
                                {"dropout", dropout},
                                {"crf", crf},
                                {"format", format},
                                {"column", column},
                                {"feature_columns", feature_columns},
                                {"feature_vocab_sizes", feature_vocab_sizes},
                                {"feature_embedding_size", feature_embedding_size}}
      .dump();
}

TaggerConfig TaggerConfig::from_json(std::string_view text, std::string_view source) {
  const nlohmann::json j = config_object(text, source);
  const auto boolean = [&](const char* key) {
    const auto it = j.find(key);
    RECUR_REQUIRE(it != j.end() && it->is_boolean(),
                  fmt::format("{}: recur.config \"{}\" must be true or false", source, key));
    return it->get<bool>();
  };
  const auto string = [&](const char* key) {
    const auto it = j.find(key);
    RECUR_REQUIRE(it != j.end() && it->is_string(),
                  fmt::format("{}: recur.config \"{}\" must be a string", source, key));
    return it->get<std::string>();
  };
  TaggerConfig c;
  try {
    c.cell = nn::parse_cell_kind(string("cell"));
  } catch (const Error& e) {
    throw Error(fmt::format("{}: recur.config \"cell\": {}", source, e.what()));
  }
  c.num_layers = static_cast<int>(config_integer(j, "num_layers", 1, kMaxLayers, source));
  c.rnn_size = config_integer(j, "rnn_size", 1, kMaxWidth, source);
  c.bidirectional = boolean("bidirectional");
  c.residual = j.contains("residual") && boolean("residual");  // absent in files before it
  c.word_embedding_size = config_integer(j, "word_embedding_size", 1, kMaxWidth, source);
  c.char_embedding_size = config_integer(j, "char_embedding_size", 0, kMaxWidth, source);
  c.char_rnn_size = config_integer(j, "char_rnn_size", 1, kMaxWidth, source);
  c.word_vocab_size = config_integer(j, "word_vocab_size", 1, kMaxVocabulary, source);
  c.char_vocab_size = config_integer(j, "char_vocab_size", 1, kMaxVocabulary, source);
  c.num_tags = config_integer(j, "num_tags", 1, kMaxWidth, source);
  c.dropout = config_number(j, "dropout", 0.0, kMaxDropout, source);
  c.crf = boolean("crf");
  c.format = string("format");
  RECUR_REQUIRE(c.format == "conllu" || c.format == "conll",
                fmt::format("{}: recur.config \"format\" must be conllu or conll, got {}", source, c.format));
  c.column = static_cast<int>(config_integer(j, "column", 2, 1024, source));
  // Feature columns came after the first tagger checkpoints: absent means none.
  if (j.contains("feature_columns")) {
    const auto integers = [&](const char* key, index_t lo, index_t hi) {
      const auto it = j.find(key);
      RECUR_REQUIRE(
          it != j.end() && it->is_array() && it->size() <= 64,
          fmt::format("{}: recur.config \"{}\" must be a list of at most 64 integers", source, key));
      std::vector<index_t> out;
      for (const auto& v : *it) {
        RECUR_REQUIRE(v.is_number_integer() && v.get<std::int64_t>() >= lo && v.get<std::int64_t>() <= hi,
                      fmt::format("{}: recur.config \"{}\" holds {}, not an integer in [{}, {}]", source, key,
                                  v.dump(), lo, hi));
        out.push_back(v.get<index_t>());
      }
      return out;
    };
    for (index_t column : integers("feature_columns", 2, 1024))
      c.feature_columns.push_back(static_cast<int>(column));
    c.feature_vocab_sizes = integers("feature_vocab_sizes", 1, kMaxVocabulary);
    c.feature_embedding_size = config_integer(j, "feature_embedding_size", 1, kMaxWidth, source);
  }
  c.validate(source);
  return c;
}

void TaggerConfig::validate(std::string_view source) const {
  const auto in = [](index_t v, index_t lo, index_t hi) { return v >= lo && v <= hi; };
  RECUR_REQUIRE(in(num_layers, 1, kMaxLayers) && in(rnn_size, 1, kMaxWidth) &&
                    in(word_embedding_size, 1, kMaxWidth) && in(char_embedding_size, 0, kMaxWidth) &&
                    in(char_rnn_size, 1, kMaxWidth) && in(word_vocab_size, 1, kMaxVocabulary) &&
                    in(char_vocab_size, 1, kMaxVocabulary) && in(num_tags, 1, kMaxWidth),
                fmt::format("{}: a tagger config out of range: {}", source, to_json()));
  RECUR_REQUIRE(
      feature_columns.size() == feature_vocab_sizes.size() && feature_columns.size() <= 64 &&
          in(feature_embedding_size, 1, kMaxWidth),
      fmt::format("{}: {} feature columns and {} feature vocabularies (at most 64), feature "
                  "embedding size {}",
                  source, feature_columns.size(), feature_vocab_sizes.size(), feature_embedding_size));
  for (size_t f = 0; f < feature_columns.size(); ++f)
    RECUR_REQUIRE(feature_columns[f] >= 2 && feature_columns[f] != column &&
                      in(feature_vocab_sizes[f], 1, kMaxVocabulary),
                  fmt::format("{}: feature column {} (vocabulary {}) out of range or the tag column", source,
                              feature_columns[f], feature_vocab_sizes[f]));
  RECUR_REQUIRE(dropout >= 0.0 && dropout <= kMaxDropout,
                fmt::format("{}: dropout must be in [0, {}], got {}", source, kMaxDropout, dropout));
}

template <class T>
Tagger<T>::Tagger(const TaggerConfig& config, Unallocated)
    : config_(validated(config)),
      word_embedding_(params_, "word_embedding.", config.word_vocab_size, config.word_embedding_size),
      rnn_(params_, rnn_options(config), "rnn."),
      output_(params_, "output.", rnn_.output_size(), config.num_tags) {
  feature_embeddings_.reserve(config.feature_columns.size());
  for (size_t f = 0; f < config.feature_columns.size(); ++f)
    feature_embeddings_.emplace_back(params_, fmt::format("feature_embedding.{}.", f),
                                     config.feature_vocab_sizes[f], config.feature_embedding_size);
  if (config.char_features()) {
    char_embedding_.emplace(params_, "char_embedding.", config.char_vocab_size, config.char_embedding_size);
    char_rnn_.emplace(params_, char_rnn_options(config), "char_rnn.");
  }
  if (config.crf) {
    transitions_ = params_.add("crf.transitions", Shape{config.num_tags, config.num_tags});
    start_ = params_.add("crf.start", Shape{config.num_tags});
    end_ = params_.add("crf.end", Shape{config.num_tags});
  }
}

template <class T>
Tagger<T>::Tagger(const TaggerConfig& config) : Tagger(config, Unallocated{}) {
  params_.freeze();
}

template <class T>
std::vector<std::pair<std::string, Shape>> Tagger<T>::parameter_shapes(const TaggerConfig& config) {
  const Tagger model(config, Unallocated{});
  return model.params_.shapes();
}

template <class T>
void Tagger<T>::init(Rng& rng) {
  word_embedding_.init(rng);
  for (const layers::Embedding<T>& e : feature_embeddings_) e.init(rng);
  if (char_embedding_) {
    char_embedding_->init(rng);
    char_rnn_->init(rng);
  }
  rnn_.init(rng);
  output_.init(rng);
  if (config_.crf)
    for (int id : {transitions_, start_, end_}) {
      Tensor<T> v = params_.value(id);
      for (index_t i = 0; i < v.numel(); ++i) v[i] = rng.uniform<T>(T(-0.1), T(0.1));
    }
}

// (T·B, K): the emission scores of every position, padding included (its rows are never read).
template <class T>
ag::Var<T> Tagger<T>::scores(ag::Tape<T>& tape, const TaggerBatch& batch, bool training, Rng* rng) const {
  const index_t steps = batch.T, B = batch.B;
  RECUR_CHECK(static_cast<index_t>(batch.words.size()) == steps * B &&
                  static_cast<index_t>(batch.lengths.size()) == B,
              fmt::format("tagger: {} word ids and {} lengths for a ({}, {}) batch", batch.words.size(),
                          batch.lengths.size(), steps, B));
  RECUR_CHECK(batch.features.size() == feature_embeddings_.size(),
              fmt::format("tagger: {} feature columns in the batch, the model reads {}",
                          batch.features.size(), feature_embeddings_.size()));
  ag::Var<T> x = word_embedding_.forward(tape, batch.words);  // (T·B, Ew)
  if (!feature_embeddings_.empty()) {
    std::vector<ag::Var<T>> parts{x};
    for (size_t f = 0; f < feature_embeddings_.size(); ++f)
      parts.push_back(feature_embeddings_[f].forward(tape, batch.features[f]));  // (T·B, Ef)
    x = ag::concat<T>(parts, 1);
  }
  if (char_embedding_) {
    // Every real word's code points through the character RNN at once: (Tc, N) time-major.
    const auto N = static_cast<index_t>(batch.chars.size());
    RECUR_CHECK(N == batch.num_words(),
                fmt::format("tagger: {} words' characters for {} words", N, batch.num_words()));
    // Longest words first, so that the character RNN's rows past a word's end form a suffix it skips
    // (most words are short: 4/5 of the (step, word) cells of a batch are padding). slot[n]: the row
    // of word n.
    std::vector<index_t> order(static_cast<size_t>(N)), slot(static_cast<size_t>(N));
    for (index_t n = 0; n < N; ++n) order[static_cast<size_t>(n)] = n;
    std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) {
      return batch.chars[static_cast<size_t>(a)].size() > batch.chars[static_cast<size_t>(b)].size();
    });
    const index_t Tc =
        N > 0 ? std::max<index_t>(1, static_cast<index_t>(batch.chars[static_cast<size_t>(order[0])].size()))
              : 1;
    std::vector<std::int32_t> char_ids(static_cast<size_t>(Tc * N), 0);
    std::vector<index_t> char_lengths(static_cast<size_t>(N));
    for (index_t row = 0; row < N; ++row) {
      const index_t n = order[static_cast<size_t>(row)];
      slot[static_cast<size_t>(n)] = row;
      const auto& word = batch.chars[static_cast<size_t>(n)];
      RECUR_CHECK(!word.empty(), "tagger: a word without characters");
      char_lengths[static_cast<size_t>(row)] = static_cast<index_t>(word.size());
      for (index_t t = 0; t < static_cast<index_t>(word.size()); ++t)
        char_ids[static_cast<size_t>(t * N + row)] = word[static_cast<size_t>(t)];
    }
    const ag::Var<T> c =
        ag::reshape(char_embedding_->forward(tape, char_ids), Shape{Tc, N, config_.char_embedding_size});
    // Only its final states are read: no output is kept.
    const layers::RnnState<T> r = char_rnn_->final_state(c, char_lengths);
    // [forward state after the last character, reverse state after the first] (N, 2Hc), and a zero
    // row that padding positions read.
    const index_t Hc = config_.char_rnn_size;
    const ag::Var<T> words =
        ag::concat<T>({ag::concat<T>({r.h[0], r.h[1]}, 1), tape.constant(Tensor<T>(Shape{1, 2 * Hc}))}, 0);
    std::vector<std::int32_t> which(static_cast<size_t>(steps * B), static_cast<std::int32_t>(N));
    index_t n = 0;
    for (index_t t = 0; t < steps; ++t)
      for (index_t b = 0; b < B; ++b)
        if (t < batch.lengths[static_cast<size_t>(b)])
          which[static_cast<size_t>(t * B + b)] = static_cast<std::int32_t>(slot[static_cast<size_t>(n++)]);
    x = ag::concat<T>({x, ag::embedding(words, std::move(which))}, 1);
  }
  const index_t D = x.shape()[1];
  const auto drop = [&](const ag::Var<T>& v) {
    if (!training || config_.dropout == 0.0) return v;
    RECUR_CHECK(rng != nullptr, "tagger: training with dropout needs a random generator");
    return ag::dropout(v, static_cast<T>(config_.dropout), *rng, true);
  };
  x = drop(x);
  const layers::RnnResult<T> r =
      rnn_.forward(ag::reshape(x, Shape{steps, B, D}), batch.lengths, {}, training, rng);
  ag::Var<T> h = ag::reshape(r.output, Shape{steps * B, rnn_.output_size()});
  h = drop(h);
  return output_.forward(h);
}

template <class T>
ag::Var<T> Tagger<T>::emissions(ag::Tape<T>& tape, const TaggerBatch& batch, bool training, Rng* rng) const {
  return ag::reshape(scores(tape, batch, training, rng), Shape{batch.T, batch.B, config_.num_tags});
}

template <class T>
ag::Var<T> Tagger<T>::loss(ag::Tape<T>& tape, const TaggerBatch& batch, const std::vector<std::int32_t>& tags,
                           bool training, Rng* rng, double label_smoothing) const {
  RECUR_CHECK(static_cast<index_t>(tags.size()) == batch.T * batch.B,
              fmt::format("tagger: {} tags for a ({}, {}) batch", tags.size(), batch.T, batch.B));
  const ag::Var<T> s = scores(tape, batch, training, rng);
  const index_t words = batch.num_words();
  if (config_.crf) {
    RECUR_REQUIRE(label_smoothing == 0.0, "tagger: label smoothing is for the softmax, not the CRF");
    const ag::Var<T> nll = ag::crf_nll(
        ag::reshape(s, Shape{batch.T, batch.B, config_.num_tags}), ag::param(tape, params_, transitions_),
        ag::param(tape, params_, start_), ag::param(tape, params_, end_), tags, batch.lengths);
    return ag::scale(nll, T(1) / static_cast<T>(words));
  }
  // Cross-entropy per real word: padding positions carry the ignored target.
  std::vector<std::int32_t> targets(tags.size());
  for (index_t t = 0; t < batch.T; ++t)
    for (index_t b = 0; b < batch.B; ++b) {
      const auto i = static_cast<size_t>(t * batch.B + b);
      targets[i] =
          t < batch.lengths[static_cast<size_t>(b)] ? tags[i] : ops::CrossEntropyOptions{}.ignore_index;
    }
  ops::CrossEntropyOptions options;
  options.label_smoothing = label_smoothing;
  return ag::cross_entropy(s, std::move(targets), options);
}

template <class T>
std::vector<std::int32_t> Tagger<T>::decode(const TaggerBatch& batch) const {
  ag::Tape<T> tape;
  ag::NoGrad<T> no_grad(tape);
  const ag::Var<T> s = scores(tape, batch, false, nullptr);
  const index_t K = config_.num_tags;
  if (config_.crf)
    return ag::crf_decode(ag::reshape(s, Shape{batch.T, batch.B, K}).value(), params_.value(transitions_),
                          params_.value(start_), params_.value(end_), batch.lengths);
  std::vector<std::int32_t> tags(static_cast<size_t>(batch.T * batch.B), -1);
  for (index_t t = 0; t < batch.T; ++t)
    for (index_t b = 0; b < batch.B; ++b) {
      if (t >= batch.lengths[static_cast<size_t>(b)]) continue;
      const T* row = s.value().data() + (t * batch.B + b) * K;
      index_t best = 0;
      for (index_t k = 1; k < K; ++k)
        if (row[k] > row[best]) best = k;
      tags[static_cast<size_t>(t * batch.B + b)] = static_cast<std::int32_t>(best);
    }
  return tags;
}

template <class T>
double Tagger<T>::loss_sum(const TaggerBatch& batch, const std::vector<std::int32_t>& tags) const {
  ag::Tape<T> tape;
  ag::NoGrad<T> no_grad(tape);
  return static_cast<double>(loss(tape, batch, tags, false, nullptr).item()) *
         static_cast<double>(batch.num_words());
}

template class Tagger<float>;
template class Tagger<double>;

}  // namespace recur::models
