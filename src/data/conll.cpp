#include "recur/data/conll.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <sstream>

#include "recur/data/text_file.h"

namespace recur::data {

namespace {

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> out;
  size_t begin = 0;
  while (true) {
    const size_t tab = line.find('\t', begin);
    out.push_back(line.substr(begin, tab == std::string_view::npos ? std::string_view::npos : tab - begin));
    if (tab == std::string_view::npos) return out;
    begin = tab + 1;
  }
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

bool is_blank(std::string_view line) {
  for (char c : line)
    if (!is_space(c)) return false;
  return true;
}

// A CoNLL-U ID that is a word: a positive integer (not "3-4", a multiword token, nor "8.1", an empty
// node). Anything else is malformed.
enum class IdKind { kWord, kRange, kEmptyNode, kBad };
IdKind id_kind(std::string_view id) {
  const auto integer = [](std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
      if (c < '0' || c > '9') return false;
    return true;
  };
  if (integer(id)) return IdKind::kWord;
  const size_t dash = id.find('-'), dot = id.find('.');
  if (dash != std::string_view::npos && integer(id.substr(0, dash)) && integer(id.substr(dash + 1)))
    return IdKind::kRange;
  if (dot != std::string_view::npos && integer(id.substr(0, dot)) && integer(id.substr(dot + 1)))
    return IdKind::kEmptyNode;
  return IdKind::kBad;
}

}  // namespace

ColumnFormat parse_column_format(std::string_view name) {
  if (name == "conllu") return ColumnFormat::kConllu;
  if (name == "conll") return ColumnFormat::kConll;
  throw Error(
      fmt::format("--format must be conllu (Universal Dependencies) or conll (whitespace columns, "
                  "such as CoNLL-2000), got '{}'",
                  name));
}

const char* column_format_name(ColumnFormat format) {
  return format == ColumnFormat::kConllu ? "conllu" : "conll";
}

int parse_tag_column(std::string_view spec, ColumnFormat format) {
  if (spec == "upos" || spec == "xpos") {
    RECUR_REQUIRE(format == ColumnFormat::kConllu,
                  fmt::format("--column {} names a CoNLL-U column; with --format conll give the tag column's "
                              "number (CoNLL-2000: 2 for part of speech, 3 for chunks)",
                              spec));
    return spec == "upos" ? 4 : 5;
  }
  int column = 0;
  const auto [end, error] = std::from_chars(spec.data(), spec.data() + spec.size(), column);
  RECUR_REQUIRE(
      error == std::errc() && end == spec.data() + spec.size() && column >= 2 &&
          (format == ColumnFormat::kConll || column <= 10),
      fmt::format("--column must be upos, xpos or a column number from 2 (column 1 {}), got '{}'",
                  format == ColumnFormat::kConllu ? "is the ID; CoNLL-U has 10" : "is the word", spec));
  RECUR_REQUIRE(format == ColumnFormat::kConll || column != 2,
                "--column 2 is the CoNLL-U word (FORM): choose upos, xpos or another column");
  return column;
}

std::vector<int> parse_feature_columns(std::string_view spec, ColumnFormat format, int tag_column) {
  std::vector<int> columns;
  if (spec.empty()) return columns;
  for (size_t begin = 0; begin <= spec.size();) {
    const size_t comma = std::min(spec.find(',', begin), spec.size());
    const std::string_view one = spec.substr(begin, comma - begin);
    int column = 0;
    try {
      column = parse_tag_column(one, format);
    } catch (const Error& e) {
      throw Error(fmt::format("--feature-columns '{}': {}", spec, e.what()));
    }
    RECUR_REQUIRE(column != tag_column,
                  fmt::format("--feature-columns '{}': column {} is the tag column", spec, column));
    RECUR_REQUIRE(std::find(columns.begin(), columns.end(), column) == columns.end(),
                  fmt::format("--feature-columns '{}': column {} is named twice", spec, column));
    columns.push_back(column);
    begin = comma + 1;
  }
  return columns;
}

TaggedSentenceReader::TaggedSentenceReader(std::istream& in, ColumnFormat format, int tag_column,
                                           std::string source, std::vector<int> feature_columns)
    : in_(in),
      format_(format),
      tag_column_(tag_column),
      source_(std::move(source)),
      feature_columns_(std::move(feature_columns)) {}

std::string TaggedSentenceReader::where() const {
  return fmt::format("{}:{}", source_, line_number_);
}

std::optional<TaggedSentence> TaggedSentenceReader::next() {
  TaggedSentence s;
  std::string line;
  while (std::getline(in_, line)) {
    ++line_number_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (is_blank(line)) {
      if (!s.words.empty()) return s;
      if (!s.lines.empty())  // comments without words: a sentence needs a word
        throw Error(
            fmt::format("{}: the sentence that starts at line {} has no words", where(), s.first_line));
      continue;
    }
    if (s.lines.empty()) s.first_line = line_number_;
    if (format_ == ColumnFormat::kConllu && line[0] == '#') {
      s.lines.push_back(line);
      continue;
    }
    std::string word, tag;
    std::vector<std::string_view> columns;
    if (format_ == ColumnFormat::kConllu) {
      columns = split_tabs(line);
      RECUR_REQUIRE(columns.size() == 10,
                    fmt::format("{}: a CoNLL-U line has 10 tab-separated columns, this one has {}", where(),
                                columns.size()));
      const IdKind kind = id_kind(columns[0]);
      RECUR_REQUIRE(kind != IdKind::kBad,
                    fmt::format("{}: '{}' is not a CoNLL-U ID (1, 2-3 or 8.1)", where(), columns[0]));
      if (kind != IdKind::kWord) {
        s.lines.push_back(line);
        continue;
      }
      word = std::string(columns[1]);
      if (tag_column_ > 0) tag = std::string(columns[static_cast<size_t>(tag_column_ - 1)]);
    } else {
      for (size_t i = 0; i < line.size();) {
        while (i < line.size() && is_space(line[i])) ++i;
        const size_t begin = i;
        while (i < line.size() && !is_space(line[i])) ++i;
        if (i > begin) columns.emplace_back(line.data() + begin, i - begin);
      }
      if (columns_ == 0) columns_ = static_cast<int>(columns.size());
      RECUR_REQUIRE(static_cast<int>(columns.size()) == columns_,
                    fmt::format("{}: {} columns, where the file's first line has {}", where(), columns.size(),
                                columns_));
      if (tag_column_ > 0)
        RECUR_REQUIRE(tag_column_ <= static_cast<int>(columns.size()),
                      fmt::format("{}: no column {} (the lines have {}): check --column", where(),
                                  tag_column_, columns.size()));
      word = std::string(columns[0]);
      if (tag_column_ > 0) tag = std::string(columns[static_cast<size_t>(tag_column_ - 1)]);
    }
    if (s.features.size() < feature_columns_.size()) s.features.resize(feature_columns_.size());
    for (size_t f = 0; f < feature_columns_.size(); ++f) {
      const int column = feature_columns_[f];
      RECUR_REQUIRE(column <= static_cast<int>(columns.size()),
                    fmt::format("{}: no column {} (the lines have {}): check --feature-columns", where(),
                                column, columns.size()));
      const std::string_view value = columns[static_cast<size_t>(column - 1)];
      RECUR_REQUIRE(!value.empty(), fmt::format("{}: feature column {} is empty", where(), column));
      s.features[f].emplace_back(value);
    }
    s.lines.push_back(line);
    RECUR_REQUIRE(!word.empty(), fmt::format("{}: the word is empty", where()));
    if (tag_column_ > 0) {
      RECUR_REQUIRE(!tag.empty() && tag != "_",
                    fmt::format("{}: the word '{}' has no tag in column {}", where(), word, tag_column_));
      s.tags.push_back(std::move(tag));
    }
    s.word_line.push_back(static_cast<index_t>(s.lines.size()) - 1);
    s.words.push_back(std::move(word));
  }
  RECUR_REQUIRE(!in_.bad(), fmt::format("{}: read error", where()));
  if (!s.words.empty()) return s;
  if (!s.lines.empty())
    throw Error(fmt::format("{}: the sentence that starts at line {} has no words", where(), s.first_line));
  return std::nullopt;
}

std::vector<TaggedSentence> read_tagged(std::string_view text, ColumnFormat format, int tag_column,
                                        const std::string& source, const std::vector<int>& feature_columns) {
  std::istringstream in{std::string(text)};
  TaggedSentenceReader reader(in, format, tag_column, source, feature_columns);
  std::vector<TaggedSentence> out;
  while (std::optional<TaggedSentence> s = reader.next()) out.push_back(std::move(*s));
  RECUR_REQUIRE(!out.empty(), fmt::format("{} holds no sentence (is it a {} file?)", source,
                                          format == ColumnFormat::kConllu ? "CoNLL-U" : "CoNLL column"));
  return out;
}

std::vector<TaggedSentence> read_tagged_file(const std::string& path, ColumnFormat format, int tag_column,
                                             const std::vector<int>& feature_columns) {
  return read_tagged(read_file(path), format, tag_column, path, feature_columns);
}

std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> out;
  for (size_t i = 0; i < line.size();) {
    while (i < line.size() && (is_space(line[i]) || line[i] == '\r' || line[i] == '\n')) ++i;
    const size_t begin = i;
    while (i < line.size() && !is_space(line[i]) && line[i] != '\r' && line[i] != '\n') ++i;
    if (i > begin) out.emplace_back(line.substr(begin, i - begin));
  }
  return out;
}

}  // namespace recur::data
