#include "recur/data/char_vocab.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "recur/common.h"
#include "recur/data/utf8.h"

namespace recur::data {

CharVocab CharVocab::from_text(std::u32string_view text) {
  std::vector<bool> seen_ascii(128, false);
  std::set<char32_t> others;
  for (char32_t c : text) {
    if (c < 128)
      seen_ascii[c] = true;
    else
      others.insert(c);
  }
  CharVocab v;
  for (char32_t c = 0; c < 128; ++c)
    if (seen_ascii[c]) v.chars_.push_back(c);
  for (char32_t c : others) v.chars_.push_back(c);
  return v;
}

CharVocab CharVocab::from_json(std::string_view text, std::string_view source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: recur.vocab is not valid JSON ({})", source, e.what()));
  }
  RECUR_CHECK(j.is_array(),
              fmt::format("{}: recur.vocab must be a JSON array of one-character strings", source));
  CharVocab v;
  for (size_t i = 0; i < j.size(); ++i) {
    RECUR_CHECK(j[i].is_string(), fmt::format("{}: recur.vocab[{}] is not a string", source, i));
    const std::u32string c = decode_utf8(j[i].get<std::string>(), source);
    RECUR_CHECK(c.size() == 1, fmt::format("{}: recur.vocab[{}] must be exactly one character, has {}",
                                           source, i, c.size()));
    RECUR_CHECK(v.chars_.empty() || v.chars_.back() < c[0],
                fmt::format("{}: recur.vocab[{}] = {} is not after {} (the vocabulary must be sorted by code "
                            "point, without repeats)",
                            source, i, describe_code_point(c[0]),
                            v.chars_.empty() ? "" : describe_code_point(v.chars_.back())));
    v.chars_.push_back(c[0]);
  }
  RECUR_CHECK(!v.chars_.empty(), fmt::format("{}: recur.vocab is empty", source));
  return v;
}

std::string CharVocab::to_json() const {
  nlohmann::json j = nlohmann::json::array();
  for (char32_t c : chars_) j.push_back(encode_utf8(std::u32string(1, c)));
  return j.dump();
}

char32_t CharVocab::char_at(std::int32_t id) const {
  RECUR_CHECK(id >= 0 && id < size(), fmt::format("token id {} is outside the vocabulary of {}", id, size()));
  return chars_[static_cast<size_t>(id)];
}

std::int32_t CharVocab::find(char32_t c) const {
  const auto it = std::lower_bound(chars_.begin(), chars_.end(), c);
  return it != chars_.end() && *it == c ? static_cast<std::int32_t>(it - chars_.begin()) : -1;
}

std::vector<std::int32_t> CharVocab::encode(std::u32string_view text, std::string_view what) const {
  std::vector<std::int32_t> ids;
  ids.reserve(text.size());
  std::set<char32_t> missing;
  for (char32_t c : text) {
    const std::int32_t id = find(c);
    if (id < 0)
      missing.insert(c);
    else
      ids.push_back(id);
  }
  if (!missing.empty()) {
    std::string list;
    for (char32_t c : missing) list += (list.empty() ? "" : ", ") + describe_code_point(c);
    throw Error(fmt::format("{} has {} character{} not in the model's vocabulary: {}", what, missing.size(),
                            missing.size() == 1 ? "" : "s", list));
  }
  return ids;
}

std::string CharVocab::decode(std::int32_t id) const {
  return encode_utf8(std::u32string(1, char_at(id)));
}

}  // namespace recur::data
