#include "recur/models/window_lm.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "recur/autograd/functions.h"
#include "recur/init.h"
#include "recur/models/config_json.h"

namespace recur::models {

namespace {

const WindowLmConfig& validated(const WindowLmConfig& c) {
  c.validate("model config");
  return c;
}

}  // namespace

std::string WindowLmConfig::to_json() const {
  nlohmann::ordered_json j;
  j["model"] = "window";
  j["window"] = window;
  j["embedding_size"] = embedding_size;
  j["hidden_size"] = hidden_size;
  j["vocab_size"] = vocab_size;
  j["dropout"] = dropout;
  j["input_dropout"] = input_dropout;
  j["items"] = lines ? "lines" : "stream";
  return j.dump();
}

WindowLmConfig WindowLmConfig::from_json(std::string_view text, std::string_view source) {
  const nlohmann::json j = config_object(text, source);
  RECUR_REQUIRE(j.contains("model") && j.at("model") == "window",
                fmt::format("{}: recur.config is not the window model's (\"model\": \"window\")", source));
  WindowLmConfig c;
  c.window = config_integer(j, "window", 1, kMaxWindow, source);
  c.embedding_size = config_integer(j, "embedding_size", 1, kMaxWidth, source);
  c.hidden_size = config_integer(j, "hidden_size", 1, kMaxWidth, source);
  c.vocab_size = config_integer(j, "vocab_size", 1, kMaxVocabulary, source);
  c.dropout = config_number(j, "dropout", 0.0, kMaxDropout, source);
  c.input_dropout = config_number(j, "input_dropout", 0.0, kMaxDropout, source);
  const auto items = j.find("items");
  RECUR_REQUIRE(items != j.end() && (*items == "stream" || *items == "lines"),
                fmt::format("{}: recur.config \"items\" must be \"stream\" or \"lines\"", source));
  c.lines = *items == "lines";
  c.validate(source);
  return c;
}

void WindowLmConfig::validate(std::string_view source) const {
  RECUR_REQUIRE(
      window >= 1 && window <= kMaxWindow && embedding_size >= 1 && embedding_size <= kMaxWidth &&
          hidden_size >= 1 && hidden_size <= kMaxWidth && vocab_size >= 1 && vocab_size <= kMaxVocabulary,
      fmt::format("{}: window ({}) must be in [1, {}]; embedding_size ({}) and hidden_size ({}) in [1, {}]; "
                  "vocab_size ({}) in [1, {}]",
                  source, window, kMaxWindow, embedding_size, hidden_size, kMaxWidth, vocab_size,
                  kMaxVocabulary));
  RECUR_REQUIRE(
      dropout >= 0.0 && dropout <= kMaxDropout && input_dropout >= 0.0 && input_dropout <= kMaxDropout,
      fmt::format("{}: dropout ({}) and input_dropout ({}) must be in [0, {}]", source, dropout,
                  input_dropout, kMaxDropout));
}

bool is_window_lm_config(std::string_view json) {
  const nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  return j.is_object() && j.contains("model") && j.at("model") == "window";
}

template <class T>
WindowLm<T>::WindowLm(const WindowLmConfig& config, Unallocated)
    : config_(validated(config)),
      embedding_(params_, "embedding.", config.vocab_size, config.embedding_size),
      hidden_(params_, "hidden.", config.window * config.embedding_size, config.hidden_size),
      decoder_(params_, "decoder.", config.hidden_size, config.vocab_size) {}

template <class T>
WindowLm<T>::WindowLm(const WindowLmConfig& config) : WindowLm(config, Unallocated{}) {
  params_.freeze();
}

template <class T>
std::vector<std::pair<std::string, Shape>> WindowLm<T>::parameter_shapes(const WindowLmConfig& config) {
  const WindowLm model(config, Unallocated{});
  return model.params_.shapes();
}

template <class T>
void WindowLm<T>::init(Rng& rng) {
  embedding_.init(rng);
  hidden_.init(rng);
  decoder_.init(rng);
}

template <class T>
void WindowLm<T>::init_uniform(Rng& rng, T range) {
  nn::init_uniform(params_, rng, range);
}

template <class T>
ag::Var<T> WindowLm<T>::forward(ag::Tape<T>& tape, const std::vector<std::int32_t>& contexts, bool training,
                                Rng* rng) const {
  const index_t N = config_.window, E = config_.embedding_size;
  const auto R = static_cast<index_t>(contexts.size()) / N;
  RECUR_CHECK(R >= 1 && R * N == static_cast<index_t>(contexts.size()),
              fmt::format("window LM: {} context ids are not rows of {}", contexts.size(), N));
  // Row r's N embeddings side by side: (R·N, E) read as (R, N·E).
  ag::Var<T> x = ag::reshape(embedding_.forward(tape, contexts), Shape{R, N * E});
  if (training && (config_.input_dropout > 0.0 || config_.dropout > 0.0))
    RECUR_CHECK(rng != nullptr, "window LM: training with dropout needs an Rng");
  if (training && config_.input_dropout > 0.0)
    x = ag::dropout(x, static_cast<T>(config_.input_dropout), *rng, true);
  ag::Var<T> h = ag::tanh(hidden_.forward(x));
  if (training && config_.dropout > 0.0) h = ag::dropout(h, static_cast<T>(config_.dropout), *rng, true);
  return decoder_.forward(h);
}

template class WindowLm<float>;
template class WindowLm<double>;

std::int32_t window_stream_padding(const data::Vocab& vocab) {
  if (vocab.eos() >= 0) return vocab.eos();
  const std::int32_t newline = vocab.find("\n");
  return newline >= 0 ? newline : 0;
}

WindowExamples WindowExamples::stream(const std::vector<std::int32_t>& tokens, index_t window,
                                      const data::Vocab& vocab) {
  WindowExamples e;
  e.ids.assign(static_cast<size_t>(window), window_stream_padding(vocab));
  e.ids.insert(e.ids.end(), tokens.begin(), tokens.end());
  for (auto p = static_cast<std::int64_t>(window) + 1; p < static_cast<std::int64_t>(e.ids.size()); ++p)
    e.targets.push_back(p);
  return e;
}

WindowExamples WindowExamples::lines(const std::vector<std::vector<std::int32_t>>& items, index_t window,
                                     const data::Vocab& vocab) {
  RECUR_CHECK(vocab.bos() >= 0 && vocab.eos() >= 0,
              "window LM: items need <bos> and <eos> in the vocabulary");
  WindowExamples e;
  for (const std::vector<std::int32_t>& item : items) {
    e.ids.insert(e.ids.end(), static_cast<size_t>(window), vocab.bos());
    for (std::int32_t id : item) {
      e.targets.push_back(static_cast<std::int64_t>(e.ids.size()));
      e.ids.push_back(id);
    }
    e.targets.push_back(static_cast<std::int64_t>(e.ids.size()));
    e.ids.push_back(vocab.eos());
  }
  return e;
}

void WindowExamples::gather(const std::vector<std::int64_t>& order, std::int64_t begin, std::int64_t end,
                            index_t window, std::vector<std::int32_t>& contexts,
                            std::vector<std::int32_t>& next) const {
  contexts.clear();
  next.clear();
  for (std::int64_t k = begin; k < end; ++k) {
    const std::int64_t p = targets[static_cast<size_t>(order.empty() ? k : order[static_cast<size_t>(k)])];
    contexts.insert(contexts.end(), ids.begin() + (p - window), ids.begin() + p);
    next.push_back(ids[static_cast<size_t>(p)]);
  }
}

}  // namespace recur::models
