// Strict UTF-8 (RFC 3629): decoding rejects overlong forms, surrogates (U+D800–U+DFFF), code
// points above U+10FFFF, stray continuation bytes and truncated sequences, naming the byte offset.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace recur::data {

// `source` names the input in errors ("data/input.txt"): "<source>: invalid UTF-8 at byte 1234 (…)".
std::u32string decode_utf8(std::string_view bytes, std::string_view source);
void append_utf8(char32_t code_point, std::string& out);
std::string encode_utf8(std::u32string_view text);
// A readable form of a code point for messages: the character itself when printable, else U+XXXX.
std::string describe_code_point(char32_t code_point);

}  // namespace recur::data
