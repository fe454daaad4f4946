#include "recur/data/tokenize.h"

#include <fmt/format.h>

#include "recur/common.h"
#include "recur/data/utf8.h"

namespace recur::data {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

void append_words(std::string_view line, std::vector<std::string>& out) {
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    const size_t begin = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    if (i > begin) out.emplace_back(line.substr(begin, i - begin));
  }
}

void append_chars(std::string_view text, std::string_view source, std::vector<std::string>& out) {
  const std::u32string cps = decode_utf8(text, source);
  out.reserve(out.size() + cps.size());
  std::string one;
  for (char32_t c : cps) {
    one.clear();
    append_utf8(c, one);
    out.push_back(one);
  }
}

// Calls f(line) for each line of text (without its '\n'); a final line without '\n' included.
template <class F>
void for_each_line(std::string_view text, F f) {
  size_t begin = 0;
  while (begin < text.size()) {
    const size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) {
      f(text.substr(begin));
      return;
    }
    f(text.substr(begin, end - begin));
    begin = end + 1;
  }
}

}  // namespace

std::vector<std::string> tokenize(std::string_view text, TokenKind kind, std::string_view source,
                                  std::string_view line_end) {
  std::vector<std::string> out;
  if (kind == TokenKind::kChar) {
    append_chars(text, source, out);
    return out;
  }
  decode_utf8(text, source);  // words are bytes between spaces, but the text must still be UTF-8
  if (line_end.empty()) {
    append_words(text, out);
    return out;
  }
  for_each_line(text, [&](std::string_view line) {
    append_words(line, out);
    out.emplace_back(line_end);
  });
  return out;
}

std::vector<std::vector<std::string>> tokenize_lines(std::string_view text, TokenKind kind,
                                                     std::string_view source, long* skipped) {
  decode_utf8(text, source);
  std::vector<std::vector<std::string>> items;
  long blank = 0;
  for_each_line(text, [&](std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::vector<std::string> item;
    if (kind == TokenKind::kWord) {
      append_words(line, item);
    } else {
      bool all_space = true;
      for (char c : line) all_space = all_space && is_space(c);
      if (!all_space) append_chars(line, source, item);
    }
    if (item.empty())
      ++blank;
    else
      items.push_back(std::move(item));
  });
  if (skipped) *skipped = blank;
  RECUR_REQUIRE(!items.empty(),
                fmt::format("{}: no items: {} (one item per line expected)", source,
                            blank == 0 ? "the file is empty" : fmt::format("all {} lines are blank", blank)));
  return items;
}

}  // namespace recur::data
