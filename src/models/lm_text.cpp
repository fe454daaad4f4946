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

namespace {

data::VocabOptions vocabulary_options(data::TokenKind kind, std::int64_t min_freq, std::int64_t max_vocab,
                                      bool lines) {
  data::VocabOptions options;
  if (kind == data::TokenKind::kWord) options.specials.push_back(data::kUnk);
  if (lines) options.specials.push_back(data::kBos);
  if (kind == data::TokenKind::kWord || lines) options.specials.push_back(data::kEos);
  options.min_freq = min_freq;
  options.max_vocab = max_vocab;
  return options;
}

// Calls `visit` with the tokens of consecutive pieces of `text` that together tokenize as the
// whole: words are cut after a line break (each line ends in <eos> either way), characters before
// a byte that starts a code point. A piece that fails (invalid UTF-8) is retried as the whole
// text, whose error names the right byte.
template <class Visit>
void for_each_piece(std::string_view text, data::TokenKind kind, std::string_view source, size_t piece_bytes,
                    Visit&& visit) {
  const bool words = kind == data::TokenKind::kWord;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = std::min(text.size(), begin + std::max<size_t>(piece_bytes, 1));
    if (words) {
      const size_t newline = text.find('\n', end == 0 ? 0 : end - 1);
      end = newline == std::string_view::npos ? text.size() : newline + 1;
    } else {
      while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
    }
    std::vector<std::string> tokens;
    try {
      tokens = lm_stream_tokens(text.substr(begin, end - begin), kind, source);
    } catch (const Error&) {
      lm_stream_tokens(text, kind, source);  // throws the whole text's error
      throw;
    }
    visit(tokens);
    begin = end;
  }
}

}  // namespace

data::TokenIds lm_stream_ids(std::string_view text, const data::Vocab& vocab, std::string_view source,
                             std::int64_t* unknown, size_t piece_bytes) {
  data::TokenIds ids(vocab.size());
  std::int64_t total_unknown = 0;
  for_each_piece(text, vocab.kind(), source, piece_bytes, [&](const std::vector<std::string>& tokens) {
    std::int64_t piece_unknown = 0;
    std::vector<std::int32_t> piece;
    try {
      piece = vocab.encode(tokens, source, &piece_unknown);
    } catch (const Error&) {
      vocab.encode(lm_stream_tokens(text, vocab.kind(), source), source);  // the whole text's list
      throw;
    }
    ids.append(piece);
    total_unknown += piece_unknown;
  });
  if (unknown) *unknown = total_unknown;
  return ids;
}

data::Vocab lm_stream_vocabulary(std::string_view text, data::TokenKind kind, std::string_view source,
                                 std::int64_t min_freq, std::int64_t max_vocab, size_t piece_bytes) {
  data::TokenCounts counts;
  for_each_piece(text, kind, source, piece_bytes, [&](const std::vector<std::string>& tokens) {
    for (const std::string& t : tokens) ++counts[t];
  });
  return data::Vocab::build(kind, counts, vocabulary_options(kind, min_freq, max_vocab, false));
}

data::Vocab lm_vocabulary(const std::vector<std::string>& tokens, data::TokenKind kind, std::int64_t min_freq,
                          std::int64_t max_vocab, bool lines) {
  return data::Vocab::build(kind, data::count_tokens(tokens),
                            vocabulary_options(kind, min_freq, max_vocab, lines));
}

std::string lm_token_text(const data::Vocab& vocab, std::int32_t id, std::int32_t previous) {
  if (vocab.kind() == data::TokenKind::kChar) return vocab.token(id);
  if (id == vocab.eos()) return "\n";
  const bool line_start = previous < 0 || previous == vocab.eos();
  return line_start ? vocab.token(id) : " " + vocab.token(id);
}

std::vector<std::int32_t> lm_prime_ids(const data::Vocab& vocab, const GenerateOptions& options, bool lines,
                                       std::string_view source) {
  validate(options.sampling);
  RECUR_REQUIRE(lines || options.count <= 1,
                fmt::format("{} reads text as one stream: --count counts the items of a per-line model "
                            "(train lm --items lines); use --length",
                            source));
  return vocab.encode(data::tokenize(options.prime_text, vocab.kind(), "--prime-text"), "--prime-text");
}

void lm_draw(const data::Vocab& vocab, long length, std::int32_t previous, bool stop_at_end,
             const std::function<std::int32_t()>& next, const std::function<void(std::int32_t)>& feed,
             const std::function<void(std::string_view)>& emit) {
  for (long i = 0; i < length; ++i) {
    const std::int32_t id = next();
    if (stop_at_end && (id == vocab.eos() || id == vocab.bos())) break;
    emit(lm_token_text(vocab, id, previous));
    previous = id;
    feed(id);
  }
  emit("\n");
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
