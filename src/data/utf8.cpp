#include "recur/data/utf8.h"

#include <fmt/format.h>

#include "recur/common.h"

namespace recur::data {

namespace {

[[noreturn]] void invalid(std::string_view source, size_t offset, std::string_view what) {
  throw Error(fmt::format("{}: invalid UTF-8 at byte {} ({})", source, offset, what));
}

}  // namespace

std::u32string decode_utf8(std::string_view bytes, std::string_view source) {
  std::u32string out;
  out.reserve(bytes.size());
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  for (size_t i = 0; i < n;) {
    const unsigned char lead = p[i];
    if (lead < 0x80) {
      out.push_back(lead);
      ++i;
      continue;
    }
    int extra;
    char32_t cp, min;
    if ((lead & 0xE0) == 0xC0) {
      extra = 1, cp = lead & 0x1F, min = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      extra = 2, cp = lead & 0x0F, min = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      extra = 3, cp = lead & 0x07, min = 0x10000;
    } else {
      invalid(source, i, (lead & 0xC0) == 0x80 ? "unexpected continuation byte" : "invalid lead byte");
    }
    if (n - i <= static_cast<size_t>(extra)) invalid(source, i, "sequence truncated by the end of the input");
    for (int k = 1; k <= extra; ++k) {
      const unsigned char c = p[i + static_cast<size_t>(k)];
      if ((c & 0xC0) != 0x80) invalid(source, i, "sequence truncated by a non-continuation byte");
      cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min) invalid(source, i, "overlong encoding");
    if (cp >= 0xD800 && cp <= 0xDFFF) invalid(source, i, "surrogate code point");
    if (cp > 0x10FFFF) invalid(source, i, "code point above U+10FFFF");
    out.push_back(cp);
    i += static_cast<size_t>(extra) + 1;
  }
  return out;
}

void append_utf8(char32_t cp, std::string& out) {
  RECUR_CHECK(cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF),
              fmt::format("cannot encode U+{:04X} as UTF-8", static_cast<unsigned>(cp)));
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : text) append_utf8(cp, out);
  return out;
}

std::string describe_code_point(char32_t cp) {
  if (cp >= 0x21 && cp != 0x7F && !(cp >= 0x80 && cp < 0xA0) && cp <= 0x10FFFF &&
      !(cp >= 0xD800 && cp <= 0xDFFF)) {
    std::string s = "'";
    append_utf8(cp, s);
    return s + "'";
  }
  return fmt::format("U+{:04X}", static_cast<unsigned>(cp));
}

}  // namespace recur::data
