// Text → tokens, for characters (Unicode code points, strict UTF-8) or words (runs of
// non-whitespace), either as one stream or as one item per line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "recur/data/vocab.h"

namespace recur::data {

// The tokens of a whole text in order. Characters include the line breaks. Words: runs separated
// by ASCII whitespace; when line_end is not empty (PTB's convention: "<eos>") it follows every
// line's words, the last line's too when the text does not end in a line break. `source` names the
// text in errors (invalid UTF-8 at byte N).
std::vector<std::string> tokenize(std::string_view text, TokenKind kind, std::string_view source,
                                  std::string_view line_end = {});

// One item per line: the line's characters (without the line break; a trailing '\r' is dropped
// too) or its words. Blank lines (nothing but whitespace) are skipped and counted in `skipped`; a
// text without any item is an error naming `source`.
std::vector<std::vector<std::string>> tokenize_lines(std::string_view text, TokenKind kind,
                                                     std::string_view source, long* skipped = nullptr);

}  // namespace recur::data
