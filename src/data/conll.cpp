#include "recur/data/conll.h"

#include <fmt/format.h>

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

TaggedSentenceReader::TaggedSentenceReader(std::istream& in, ColumnFormat format, int tag_column,
                                           std::string source)
    : in_(in), format_(format), tag_column_(tag_column), source_(std::move(source)) {}

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
    if (format_ == ColumnFormat::kConllu) {
      const std::vector<std::string_view> columns = split_tabs(line);
      RECUR_REQUIRE(columns.size() == 10,
                    fmt::format("{}: a CoNLL-U line has 10 tab-separated columns, this one has {}", where(),
                                columns.size()));
      const IdKind kind = id_kind(columns[0]);
      RECUR_REQUIRE(kind != IdKind::kBad,
                    fmt::format("{}: '{}' is not a CoNLL-U ID (1, 2-3 or 8.1)", where(), columns[0]));
      s.lines.push_back(line);
      if (kind != IdKind::kWord) continue;
      word = std::string(columns[1]);
      if (tag_column_ > 0) tag = std::string(columns[static_cast<size_t>(tag_column_ - 1)]);
    } else {
      std::vector<std::string_view> columns;
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
      s.lines.push_back(line);
      word = std::string(columns[0]);
      if (tag_column_ > 0) tag = std::string(columns[static_cast<size_t>(tag_column_ - 1)]);
    }
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
                                        const std::string& source) {
  std::istringstream in{std::string(text)};
  TaggedSentenceReader reader(in, format, tag_column, source);
  std::vector<TaggedSentence> out;
  while (std::optional<TaggedSentence> s = reader.next()) out.push_back(std::move(*s));
  RECUR_REQUIRE(!out.empty(), fmt::format("{} holds no sentence (is it a {} file?)", source,
                                          format == ColumnFormat::kConllu ? "CoNLL-U" : "CoNLL column"));
  return out;
}

std::vector<TaggedSentence> read_tagged_file(const std::string& path, ColumnFormat format, int tag_column) {
  return read_tagged(read_file(path), format, tag_column, path);
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
