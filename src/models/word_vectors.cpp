#include "recur/models/word_vectors.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <sstream>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "recur/data/text_file.h"

namespace recur::models {

namespace {

std::string lower(std::string_view word) {
  std::string out(word);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    const size_t begin = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (i > begin) out.push_back(line.substr(begin, i - begin));
  }
  return out;
}

}  // namespace

WordVectorsLoaded load_word_vectors(const std::string& path, const data::Vocab& vocab, Tensor<float>& table) {
  RECUR_CHECK(
      table.shape().rank() == 2 && table.shape()[0] == vocab.size(),
      fmt::format("word vectors: a table of {} for a vocabulary of {}", table.shape().str(), vocab.size()));
  const index_t d = table.shape()[1];
  std::istringstream in(data::read_file(path));
  // An exact match wins over a lower-cased one, wherever either is in the file.
  std::vector<int> how(static_cast<size_t>(vocab.size()), 0);           // 0: none, 1: lower-cased, 2: exact
  std::unordered_map<std::string, std::vector<std::int32_t>> by_lower;  // "the" → ids of "The", "THE"
  for (std::int32_t v = 0; v < vocab.size(); ++v)
    if (!vocab.is_special(v) && lower(vocab.token(v)) != vocab.token(v))
      by_lower[lower(vocab.token(v))].push_back(v);
  WordVectorsLoaded loaded;
  std::string line;
  for (index_t number = 1; std::getline(in, line); ++number) {
    const std::vector<std::string_view> fields = fields_of(line);
    if (fields.empty()) continue;
    if (number == 1 && fields.size() == 2) continue;  // word2vec's "count dimension"
    RECUR_REQUIRE(static_cast<index_t>(fields.size()) == d + 1,
                  fmt::format("{}:{}: {} numbers after the word, the model's word embedding has {} "
                              "(--embedding-size must match the vectors)",
                              path, number, fields.size() - 1, d));
    ++loaded.lines;
    const std::string word(fields[0]);
    std::vector<float> row(static_cast<size_t>(d));
    for (index_t j = 0; j < d; ++j) {
      const std::string_view f = fields[static_cast<size_t>(j + 1)];
      const auto [end, error] = std::from_chars(f.data(), f.data() + f.size(), row[static_cast<size_t>(j)]);
      RECUR_REQUIRE(error == std::errc() && end == f.data() + f.size(),
                    fmt::format("{}:{}: '{}' is not a number", path, number, f));
    }
    const auto put = [&](std::int32_t id, int kind) {
      if (how[static_cast<size_t>(id)] > kind || (kind == 1 && how[static_cast<size_t>(id)] == 1)) return;
      std::copy(row.begin(), row.end(), table.data() + id * d);
      how[static_cast<size_t>(id)] = kind;
    };
    const std::int32_t id = vocab.find(word);
    if (id >= 0 && !vocab.is_special(id)) put(id, 2);
    // A lower-case word's vector also serves the vocabulary words that lower-case to it.
    const auto same = by_lower.find(word);
    if (same != by_lower.end())
      for (std::int32_t other : same->second) put(other, 1);
  }
  for (int h : how) {
    loaded.found += h > 0;
    loaded.lower_case += h == 1;
  }
  return loaded;
}

}  // namespace recur::models
