// Tagged sentences from column files: CoNLL-U (Universal Dependencies) and the whitespace-column
// CoNLL format (CoNLL-2000 chunking: "word POS chunk", a blank line after each sentence).
//
//   CoNLL-U   10 tab-separated columns, ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC; lines
//             starting with '#' are comments (kept with their sentence, for writing it back);
//             multiword-token lines ("3-4") and empty nodes ("8.1") are kept but are not words
//   CoNLL     whitespace-separated columns, the word first; every line of a file has as many
//
// The word is FORM (column 2) in CoNLL-U and column 1 in CoNLL; the tag is the column the user
// names, 1-based: `upos` (4) or `xpos` (5) in CoNLL-U, or a number. CRLF line ends read as LF. A
// malformed line is an error naming the file and line. Feature columns (such as CoNLL-2000's part of
// speech, which a chunker reads beside the word) are read the same way, "_" included.
#pragma once

#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "recur/common.h"

namespace recur::data {

enum class ColumnFormat { kConllu, kConll };

// "conllu" or "conll"; else an error listing both.
ColumnFormat parse_column_format(std::string_view name);
const char* column_format_name(ColumnFormat format);

// The tag column, 1-based: "upos" → 4 and "xpos" → 5 (CoNLL-U only), or a number ≥ 2 (the word's
// column holds no tag). Errors name the flag's value.
int parse_tag_column(std::string_view spec, ColumnFormat format);

// Feature columns, comma-separated, each as parse_tag_column reads it ("2", "upos,xpos"); none may be
// `tag_column` or repeat. "" → none.
std::vector<int> parse_feature_columns(std::string_view spec, ColumnFormat format, int tag_column);

struct TaggedSentence {
  std::vector<std::string> words;
  std::vector<std::string> tags;  // one per word; empty when the sentence is read without tags
  std::vector<std::vector<std::string>> features;  // [feature column][word]
  // The sentence as read, for writing it back with the tag column filled in: every line (comments,
  // multiword tokens and words, without line ends), and which line each word is.
  std::vector<std::string> lines;
  std::vector<index_t> word_line;
  index_t first_line = 0;  // 1-based line number of the sentence's first line in its file
};

// Reads one sentence at a time (so a tagger can write a sentence before the next is read).
class TaggedSentenceReader {
 public:
  // `tag_column` 0: words only (the files `predict` tags may lack the column, or hold "_").
  TaggedSentenceReader(std::istream& in, ColumnFormat format, int tag_column, std::string source,
                       std::vector<int> feature_columns = {});
  // The next sentence, or nullopt at the end of the input.
  std::optional<TaggedSentence> next();
  index_t line_number() const { return line_number_; }
  const std::string& source() const { return source_; }

 private:
  std::string where() const;  // "file:line"
  std::istream& in_;
  ColumnFormat format_;
  int tag_column_;
  std::string source_;
  std::vector<int> feature_columns_;
  index_t line_number_ = 0;
  int columns_ = 0;  // CoNLL: the column count of the file's first token line
};

// Every sentence of `text` (the content of `source`, named in errors), each with its tags. A text
// without a sentence is an error naming it.
std::vector<TaggedSentence> read_tagged(std::string_view text, ColumnFormat format, int tag_column,
                                        const std::string& source,
                                        const std::vector<int>& feature_columns = {});
// The same for a file (read_file: plain or gzip).
std::vector<TaggedSentence> read_tagged_file(const std::string& path, ColumnFormat format, int tag_column,
                                             const std::vector<int>& feature_columns = {});

// One line of text per sentence, tokens separated by whitespace (what `predict` tags as plain text).
std::vector<std::string> split_words(std::string_view line);

}  // namespace recur::data
