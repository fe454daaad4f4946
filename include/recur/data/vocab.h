// Vocab: tokens ↔ ids for characters (Unicode code points) or words, with optional specials.
//
//   ids [0, S)   the specials the task asked for, in the order given (of <pad>, <unk>, <bos>, <eos>)
//   ids [S, V)   the tokens kept from the training data:
//                  characters sorted by code point (so a character vocabulary depends only on the
//                  set of characters, as char-rnn's does), words by falling frequency, ties by byte
//                  order; --min-freq drops rarer tokens, --max-vocab keeps the most frequent
//
// A data set's own spelling of a special (PTB's "<unk>") is that special, not a second token.
// Encoding maps a token outside the vocabulary to <unk> when the vocabulary has one; without it
// the error lists the tokens that are missing.
//
// Stored in checkpoints as recur.vocab, JSON {"kind": "char"|"word", "specials": [...],
// "tokens": [...]} (tokens in id order, specials included). A plain JSON array of one-character
// strings (checkpoints written before specials existed) reads as a character vocabulary without
// specials.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace recur::data {

enum class TokenKind { kChar, kWord };
const char* token_kind_name(TokenKind kind);  // "char", "word"
TokenKind parse_token_kind(std::string_view name);

inline constexpr const char* kPad = "<pad>";
inline constexpr const char* kUnk = "<unk>";
inline constexpr const char* kBos = "<bos>";
inline constexpr const char* kEos = "<eos>";

// Token → number of occurrences (the training split's).
using TokenCounts = std::unordered_map<std::string, std::int64_t>;

struct VocabOptions {
  std::vector<std::string> specials;  // some of kPad, kUnk, kBos, kEos, in id order
  std::int64_t min_freq = 1;          // keep tokens seen at least this often (>= 1)
  std::int64_t max_vocab = 0;         // at most this many ids in all, specials included; 0: no cap
};

class Vocab {
 public:
  Vocab() = default;
  static Vocab build(TokenKind kind, const TokenCounts& counts, const VocabOptions& options);
  // `source` names the file in errors.
  static Vocab from_json(std::string_view json, std::string_view source);
  std::string to_json() const;

  TokenKind kind() const { return kind_; }
  std::int32_t size() const { return static_cast<std::int32_t>(tokens_.size()); }
  const std::string& token(std::int32_t id) const;  // UTF-8
  std::int32_t find(std::string_view token) const;  // -1 when absent
  // The id of a special, -1 when the vocabulary has none.
  std::int32_t pad() const { return find(kPad); }
  std::int32_t unk() const { return unk_; }
  std::int32_t bos() const { return find(kBos); }
  std::int32_t eos() const { return find(kEos); }
  const std::vector<std::string>& specials() const { return specials_; }
  bool is_special(std::int32_t id) const {
    return id >= 0 && id < static_cast<std::int32_t>(specials_.size());
  }
  const std::vector<std::string>& tokens() const { return tokens_; }

  // Ids of `tokens`; a token outside the vocabulary becomes <unk>, or (without <unk>) an error
  // "<what> has N tokens not in the model's vocabulary: …". `unknown`, when given, counts the
  // tokens that became <unk> without being spelled so.
  std::vector<std::int32_t> encode(const std::vector<std::string>& tokens, std::string_view what,
                                   std::int64_t* unknown = nullptr) const;
  // The text of ids: characters concatenated, words joined by single spaces.
  std::string decode(const std::vector<std::int32_t>& ids) const;

  bool operator==(const Vocab& other) const {
    return kind_ == other.kind_ && tokens_ == other.tokens_ && specials_ == other.specials_;
  }

 private:
  void index();
  TokenKind kind_ = TokenKind::kChar;
  std::vector<std::string> specials_;
  std::vector<std::string> tokens_;  // id → token, specials first
  std::unordered_map<std::string, std::int32_t> ids_;
  std::int32_t unk_ = -1;
};

// Counts of `tokens` (every one), for Vocab::build.
TokenCounts count_tokens(const std::vector<std::string>& tokens);

}  // namespace recur::data
