#include "recur/models/lm_text.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "recur/data/tokenize.h"

namespace recur::models {

std::vector<std::string> lm_stream_tokens(std::string_view text, data::TokenKind kind,
                                          std::string_view source) {
  return data::tokenize(text, kind, source, kind == data::TokenKind::kWord ? data::kEos : "");
}

data::Vocab lm_vocabulary(const std::vector<std::string>& tokens, data::TokenKind kind, std::int64_t min_freq,
                          std::int64_t max_vocab, bool lines) {
  data::VocabOptions options;
  if (kind == data::TokenKind::kWord) options.specials.push_back(data::kUnk);
  if (lines) options.specials.push_back(data::kBos);
  if (kind == data::TokenKind::kWord || lines) options.specials.push_back(data::kEos);
  options.min_freq = min_freq;
  options.max_vocab = max_vocab;
  return data::Vocab::build(kind, data::count_tokens(tokens), options);
}

std::string lm_token_text(const data::Vocab& vocab, std::int32_t id, std::int32_t previous) {
  if (vocab.kind() == data::TokenKind::kChar) return vocab.token(id);
  if (id == vocab.eos()) return "\n";
  const bool line_start = previous < 0 || previous == vocab.eos();
  return line_start ? vocab.token(id) : " " + vocab.token(id);
}

Evaluation lm_evaluation(std::string_view source, double total, std::int64_t predictions,
                         std::int64_t unknown, data::TokenKind kind) {
  const bool chars = kind == data::TokenKind::kChar;
  const double loss = total / static_cast<double>(predictions);
  nlohmann::json j{{"loss", loss}, {"perplexity", std::exp(loss)}, {"tokens", predictions}};
  if (chars) j["bpc"] = loss / std::log(2.0);
  if (!chars) j["unknown"] = unknown;  // tokens read as <unk> that the text did not spell so
  Evaluation e;
  e.json = j.dump();
  e.summary =
      chars ? fmt::format("{}: {} predictions, loss {:.4f} nats/char, {:.4f} bits/char, perplexity {:.3f}",
                          source, predictions, loss, loss / std::log(2.0), std::exp(loss))
            : fmt::format("{}: {} predictions, loss {:.4f} nats/word, perplexity {:.2f}", source, predictions,
                          loss, std::exp(loss));
  // Most of a text unknown to the vocabulary scores the model on <unk>s, not on the text.
  if (!chars && unknown * 10 > predictions)
    e.summary += fmt::format(" (warning: {:.0f}% of the words are outside the vocabulary and read as <unk>)",
                             100.0 * static_cast<double>(unknown) / static_cast<double>(predictions + 1));
  return e;
}

std::string lm_vocabulary_summary(const data::Vocab& vocab) {
  const bool chars = vocab.kind() == data::TokenKind::kChar;
  std::string shown;
  constexpr std::int32_t kMostShown = 40;  // a word vocabulary: the specials and most frequent
  for (std::int32_t id = 0; id < std::min(vocab.size(), chars ? vocab.size() : kMostShown); ++id) {
    const std::string& token = vocab.token(id);
    if (chars) {
      shown += token == "\n" ? "\\n" : token == " " ? "␠" : token;
    } else {
      shown += (id ? " " : "") + token;
    }
  }
  if (!chars && vocab.size() > kMostShown) shown += " …";
  return fmt::format("{} {}: {}", vocab.size(), chars ? "characters" : "words", shown);
}

}  // namespace recur::models
