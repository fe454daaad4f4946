#include "recur/models/lm_text.h"

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

}  // namespace recur::models
