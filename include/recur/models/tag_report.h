// Reports of a tagger's scores for people: a per-tag table (tags.tsv) and a confusion matrix
// (confusion.svg), written beside best.safetensors for its validation and by recur eval --report.
#pragma once

#include <filesystem>
#include <string>

#include "recur/models/tag_scores.h"

namespace recur::models {

// Tab-separated: tag, gold, predicted, correct, precision, recall, F1 (%), tags by falling gold
// count, after a '#' line saying what was scored.
std::string tag_table(const TagScorer& scores, const std::string& what);

// Rows the gold tags, columns the guessed ones, both by falling gold count; each cell shaded by its
// share of the row and labelled with its count. The diagonal is the accuracy per tag.
std::string confusion_svg(const TagScorer& scores, const std::string& title);

// Both into `dir` (tags.tsv, confusion.svg), each written atomically.
void write_tag_reports(const std::filesystem::path& dir, const TagScorer& scores, const std::string& what);

}  // namespace recur::models
