// CharVocab: the characters of a text as a vocabulary. Tokens are Unicode code points (not bytes),
// sorted by code point, so a vocabulary depends only on the set of characters it was built from.
// Stored in checkpoints as recur.vocab: a JSON array of one-character strings, index = token id.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace recur::data {

class CharVocab {
 public:
  CharVocab() = default;
  // The distinct code points of `text`.
  static CharVocab from_text(std::u32string_view text);
  // From recur.vocab (a JSON array of one-character strings, sorted, distinct); `source` names
  // the file in errors.
  static CharVocab from_json(std::string_view json, std::string_view source);
  std::string to_json() const;

  std::int32_t size() const { return static_cast<std::int32_t>(chars_.size()); }
  char32_t char_at(std::int32_t id) const;
  // -1 when absent.
  std::int32_t find(char32_t c) const;
  // Every character must be in the vocabulary; otherwise the error lists the ones that are not.
  std::vector<std::int32_t> encode(std::u32string_view text, std::string_view what) const;
  std::string decode(std::int32_t id) const;  // UTF-8

  const std::u32string& chars() const { return chars_; }
  bool operator==(const CharVocab&) const = default;

 private:
  std::u32string chars_;  // sorted, distinct
};

}  // namespace recur::data
