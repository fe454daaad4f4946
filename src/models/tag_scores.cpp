#include "recur/models/tag_scores.h"

#include <fmt/format.h>

#include <string_view>

#include "recur/common.h"

namespace recur::models {

namespace {

struct Tag {
  std::string_view prefix, type;
};

Tag split(std::string_view tag) {
  const size_t dash = tag.find('-');
  if (dash == std::string_view::npos) return {tag, {}};
  return {tag.substr(0, dash), tag.substr(dash + 1)};
}

// conlleval's endOfChunk: a chunk ended between `previous` and `current`.
bool chunk_ends(const Tag& previous, const Tag& current) {
  const std::string_view p = previous.prefix, c = current.prefix;
  if (p == "B" && (c == "B" || c == "O")) return true;
  if (p == "I" && (c == "B" || c == "O")) return true;
  if (p == "E" && (c == "E" || c == "I" || c == "O")) return true;
  if (p != "O" && p != "." && previous.type != current.type) return true;
  return p == "]" || p == "[";
}

// conlleval's startOfChunk: a chunk started at `current`.
bool chunk_starts(const Tag& previous, const Tag& current) {
  const std::string_view p = previous.prefix, c = current.prefix;
  if (c == "B" && (p == "B" || p == "I" || p == "O")) return true;
  if (p == "O" && (c == "I" || c == "E")) return true;
  if (p == "E" && (c == "E" || c == "I")) return true;
  if (c != "O" && c != "." && previous.type != current.type) return true;
  return c == "[" || c == "]";
}

double percent(std::int64_t part, std::int64_t whole) {
  return whole > 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

}  // namespace

bool is_chunk_tag(std::string_view tag) {
  if (tag == "O") return true;
  const Tag t = split(tag);
  return !t.type.empty() && (t.prefix == "B" || t.prefix == "I" || t.prefix == "E" || t.prefix == "S");
}

double ChunkCounts::precision() const {
  return percent(correct, guessed);
}
double ChunkCounts::recall() const {
  return percent(correct, gold);
}
double ChunkCounts::f1() const {
  const double p = precision(), r = recall();
  return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

double TagScorer::accuracy() const {
  return percent(correct_tags_, tokens_);
}

void TagScorer::add(const std::vector<std::string>& gold, const std::vector<std::string>& guessed) {
  RECUR_REQUIRE(gold.size() == guessed.size(),
                fmt::format("tag scores: sentence {} has {} gold tags and {} guessed", sentences_ + 1,
                            gold.size(), guessed.size()));
  ++sentences_;
  // The sentence, then the boundary conlleval reads as O for both (it ends every open chunk).
  const Tag outside{"O", {}};
  Tag last_gold = outside, last_guess = outside;
  bool in_correct = false;  // the chunk being read is correct so far
  for (size_t i = 0; i <= gold.size(); ++i) {
    const bool boundary = i == gold.size();
    const Tag g = boundary ? outside : split(gold[i]);
    const Tag h = boundary ? outside : split(guessed[i]);
    const bool gold_ends = chunk_ends(last_gold, g), guess_ends = chunk_ends(last_guess, h);
    const bool gold_starts = chunk_starts(last_gold, g), guess_starts = chunk_starts(last_guess, h);
    if (in_correct) {
      if (gold_ends && guess_ends && last_guess.type == last_gold.type) {
        in_correct = false;
        ++chunks_.correct;
        ++by_type_[std::string(last_gold.type)].correct;
      } else if (gold_ends != guess_ends || h.type != g.type) {
        in_correct = false;
      }
    }
    if (gold_starts && guess_starts && h.type == g.type) in_correct = true;
    if (gold_starts) {
      ++chunks_.gold;
      ++by_type_[std::string(g.type)].gold;
    }
    if (guess_starts) {
      ++chunks_.guessed;
      ++by_type_[std::string(h.type)].guessed;
    }
    if (!boundary) {
      ++tokens_;
      const bool right = gold[i] == guessed[i];
      correct_tags_ += right;
      ++by_tag_[gold[i]].gold;
      ++by_tag_[guessed[i]].guessed;
      by_tag_[gold[i]].correct += right;
      ++confusion_[{gold[i], guessed[i]}];
      chunk_tags_ = chunk_tags_ && is_chunk_tag(gold[i]);
    }
    last_gold = g;
    last_guess = h;
  }
}

}  // namespace recur::models
