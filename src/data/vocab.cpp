#include "recur/data/vocab.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "recur/common.h"
#include "recur/data/utf8.h"

namespace recur::data {

namespace {

bool is_special_name(std::string_view s) {
  return s == kPad || s == kUnk || s == kBos || s == kEos;
}

// A token for messages: characters as describe_code_point does (U+000A for a line break), words
// quoted.
std::string describe_token(TokenKind kind, const std::string& token) {
  if (kind == TokenKind::kChar) {
    const std::u32string c = decode_utf8(token, "token");
    if (c.size() == 1) return describe_code_point(c[0]);
  }
  return "'" + token + "'";
}

}  // namespace

const char* token_kind_name(TokenKind kind) {
  return kind == TokenKind::kChar ? "char" : "word";
}

TokenKind parse_token_kind(std::string_view name) {
  if (name == "char") return TokenKind::kChar;
  RECUR_REQUIRE(name == "word", fmt::format("tokens must be char or word, got '{}'", name));
  return TokenKind::kWord;
}

TokenCounts count_tokens(const std::vector<std::string>& tokens) {
  TokenCounts counts;
  for (const std::string& t : tokens) ++counts[t];
  return counts;
}

void Vocab::index() {
  ids_.clear();
  for (size_t i = 0; i < tokens_.size(); ++i) ids_.emplace(tokens_[i], static_cast<std::int32_t>(i));
  unk_ = find(kUnk);
}

Vocab Vocab::build(TokenKind kind, const TokenCounts& counts, const VocabOptions& o) {
  RECUR_REQUIRE(o.min_freq >= 1, fmt::format("--min-freq must be at least 1, got {}", o.min_freq));
  RECUR_REQUIRE(o.max_vocab == 0 || o.max_vocab > static_cast<std::int64_t>(o.specials.size()),
                fmt::format("--max-vocab {} leaves no room beside the {} special tokens", o.max_vocab,
                            o.specials.size()));
  Vocab v;
  v.kind_ = kind;
  for (const std::string& s : o.specials) {
    RECUR_CHECK(is_special_name(s), fmt::format("'{}' is not one of <pad>, <unk>, <bos>, <eos>", s));
    RECUR_CHECK(std::find(v.specials_.begin(), v.specials_.end(), s) == v.specials_.end(),
                fmt::format("special {} given twice", s));
    v.specials_.push_back(s);
  }
  std::vector<std::pair<std::string, std::int64_t>> kept;
  for (const auto& [token, n] : counts)
    if (n >= o.min_freq && !is_special_name(token)) kept.emplace_back(token, n);
  // The most frequent first (ties by bytes) decides what --max-vocab keeps.
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (o.max_vocab > 0) {
    const auto room = static_cast<size_t>(o.max_vocab) - v.specials_.size();
    if (kept.size() > room) kept.resize(room);
  }
  // Characters in code point order (UTF-8 byte order is code point order).
  if (kind == TokenKind::kChar)
    std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  v.tokens_ = v.specials_;
  for (auto& [token, n] : kept) v.tokens_.push_back(std::move(token));
  RECUR_REQUIRE(v.tokens_.size() > v.specials_.size(),
                fmt::format("the vocabulary is empty: no token occurs at least {} time{} (lower --min-freq?)",
                            o.min_freq, o.min_freq == 1 ? "" : "s"));
  v.index();
  return v;
}

Vocab Vocab::from_json(std::string_view text, std::string_view source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: recur.vocab is not valid JSON ({})", source, json_error_text(e.what())));
  }
  Vocab v;
  nlohmann::json tokens;
  if (j.is_array()) {  // before specials: a sorted array of one-character strings
    tokens = j;
  } else {
    RECUR_REQUIRE(
        j.is_object() && j.contains("kind") && j.contains("tokens") && j["tokens"].is_array() &&
            j["kind"].is_string(),
        fmt::format("{}: recur.vocab must be an object with \"kind\" and \"tokens\" (or an array of "
                    "characters)",
                    source));
    try {
      v.kind_ = parse_token_kind(j["kind"].get<std::string>());
    } catch (const Error& e) {
      throw Error(fmt::format("{}: recur.vocab: {}", source, e.what()));
    }
    tokens = j["tokens"];
    if (j.contains("specials")) {
      RECUR_REQUIRE(j["specials"].is_array(),
                    fmt::format("{}: recur.vocab specials must be an array", source));
      for (const auto& s : j["specials"]) {
        RECUR_REQUIRE(s.is_string() && is_special_name(s.get<std::string>()),
                      fmt::format("{}: recur.vocab special {} is not one of <pad>, <unk>, <bos>, <eos>",
                                  source, s.dump()));
        v.specials_.push_back(s.get<std::string>());
      }
    }
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    RECUR_REQUIRE(tokens[i].is_string(), fmt::format("{}: recur.vocab token {} is not a string", source, i));
    std::string t = tokens[i].get<std::string>();
    decode_utf8(t, source);
    if (i < v.specials_.size()) {
      RECUR_REQUIRE(t == v.specials_[i], fmt::format("{}: recur.vocab token {} is {}, the specials say {}",
                                                     source, i, t, v.specials_[i]));
    } else if (v.kind_ == TokenKind::kChar) {
      RECUR_REQUIRE(decode_utf8(t, source).size() == 1,
                    fmt::format("{}: recur.vocab token {} must be exactly one character", source, i));
      RECUR_REQUIRE(
          i == v.specials_.size() || v.tokens_.back() < t,
          fmt::format("{}: recur.vocab token {} = {} is not after {} (characters must be sorted by code "
                      "point, without repeats)",
                      source, i, describe_token(v.kind_, t), describe_token(v.kind_, v.tokens_.back())));
    } else {
      RECUR_REQUIRE(!t.empty(), fmt::format("{}: recur.vocab token {} is empty", source, i));
    }
    v.tokens_.push_back(std::move(t));
  }
  RECUR_REQUIRE(v.tokens_.size() >= v.specials_.size() && !v.tokens_.empty(),
                fmt::format("{}: recur.vocab is empty", source));
  v.index();
  RECUR_REQUIRE(v.ids_.size() == v.tokens_.size(), fmt::format("{}: recur.vocab repeats a token", source));
  return v;
}

std::string Vocab::to_json() const {
  nlohmann::ordered_json j;
  j["kind"] = token_kind_name(kind_);
  j["specials"] = specials_;
  j["tokens"] = tokens_;
  return j.dump();
}

const std::string& Vocab::token(std::int32_t id) const {
  RECUR_CHECK(id >= 0 && id < size(), fmt::format("token id {} is outside the vocabulary of {}", id, size()));
  return tokens_[static_cast<size_t>(id)];
}

std::int32_t Vocab::find(std::string_view token) const {
  const auto it = ids_.find(std::string(token));
  return it == ids_.end() ? -1 : it->second;
}

std::vector<std::int32_t> Vocab::encode(const std::vector<std::string>& tokens, std::string_view what,
                                        std::int64_t* unknown) const {
  std::vector<std::int32_t> ids;
  ids.reserve(tokens.size());
  std::set<std::string> missing;
  std::int64_t n_unknown = 0;
  for (const std::string& t : tokens) {
    const std::int32_t id = find(t);
    if (id >= 0) {
      ids.push_back(id);
    } else if (unk_ >= 0) {
      ids.push_back(unk_);
      ++n_unknown;
    } else {
      missing.insert(t);
    }
  }
  if (!missing.empty()) {
    std::string list;
    int shown = 0;
    for (const std::string& t : missing) {
      if (++shown > 20) {
        list += ", …";
        break;
      }
      list += (list.empty() ? "" : ", ") + describe_token(kind_, t);
    }
    const char* noun = kind_ == TokenKind::kChar ? "character" : "word";
    throw Error(fmt::format("{} has {} {}{} not in the model's vocabulary: {}", what, missing.size(), noun,
                            missing.size() == 1 ? "" : "s", list));
  }
  if (unknown) *unknown = n_unknown;
  return ids;
}

std::string Vocab::decode(const std::vector<std::int32_t>& ids) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (kind_ == TokenKind::kWord && i > 0) out += ' ';
    out += token(ids[i]);
  }
  return out;
}

}  // namespace recur::data
