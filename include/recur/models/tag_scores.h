// How well a tagger did: token accuracy, and for chunk tags (B-X, I-X, O; also E-X and the
// bracket tags of other chunk representations) chunk precision, recall and F1 exactly as the
// CoNLL-2000 evaluation script conlleval computes them, overall and per chunk type.
//
// conlleval's rules, kept as they are (published CoNLL-2000 and NER scores use them):
//   - a tag splits at its first '-': "B-NP" is prefix B, type NP; a tag without '-' (O, or a
//     part of speech) has an empty type;
//   - a chunk starts at B (after anything), at I or E after O, at E after E or I after E, and
//     wherever the type changes on a non-O tag: so an I-X without a B-X before it starts a chunk,
//     as if it were B-X;
//   - a chunk ends where the next one starts, at O, and at the end of the sentence;
//   - a guessed chunk is correct when it starts and ends where a gold chunk does, with its type;
//   - precision = correct / guessed chunks, recall = correct / gold chunks, F1 = 2PR / (P + R),
//     each 0 when undefined; accuracy = tokens whose whole tag is right / tokens.
// Scores are percentages, as conlleval prints them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace recur::models {

// O, or B-/I-/E-/S- and a type: a tag chunk scores mean something for.
bool is_chunk_tag(std::string_view tag);

struct ChunkCounts {
  std::int64_t correct = 0, gold = 0, guessed = 0;
  double precision() const;  // %
  double recall() const;     // %
  double f1() const;
};

class TagScorer {
 public:
  // One sentence's gold and guessed tags (the same length, or an error naming the sentence).
  void add(const std::vector<std::string>& gold, const std::vector<std::string>& guessed);

  std::int64_t tokens() const { return tokens_; }
  std::int64_t sentences() const { return sentences_; }
  double accuracy() const;  // % of tokens
  const ChunkCounts& chunks() const { return chunks_; }
  const std::map<std::string, ChunkCounts>& chunks_by_type() const { return by_type_; }
  // Whether every gold tag looked like a chunk tag (O, or B-/I-/E-/S- and a type): only then do
  // precision, recall and F1 mean anything.
  bool chunk_tags() const { return chunk_tags_; }
  // Per-tag token counts: gold, guessed and correct, for the per-tag table.
  struct TagCounts {
    std::int64_t gold = 0, guessed = 0, correct = 0;
  };
  const std::map<std::string, TagCounts>& by_tag() const { return by_tag_; }
  // Tokens by (gold tag, guessed tag), for the confusion matrix.
  const std::map<std::pair<std::string, std::string>, std::int64_t>& confusion() const { return confusion_; }

 private:
  std::int64_t tokens_ = 0, correct_tags_ = 0, sentences_ = 0;
  ChunkCounts chunks_;
  std::map<std::string, ChunkCounts> by_type_;
  std::map<std::string, TagCounts> by_tag_;
  std::map<std::pair<std::string, std::string>, std::int64_t> confusion_;
  bool chunk_tags_ = true;
};

}  // namespace recur::models
