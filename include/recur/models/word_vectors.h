// Pretrained word vectors (word2vec or GloVe text format) into a model's word embedding: one word
// per line, "word v1 … vd", space separated; word2vec's first line "count d" is skipped. A
// vocabulary word takes the vector of the same word, else of its lower-cased form (GloVe is lower
// case); other rows keep their initialization.
#pragma once

#include <cstdint>
#include <string>

#include "recur/data/vocab.h"
#include "recur/tensor.h"

namespace recur::models {

struct WordVectorsLoaded {
  std::int64_t found = 0;       // vocabulary words that got a vector
  std::int64_t lower_case = 0;  // of them, by their lower-cased form
  std::int64_t lines = 0;       // vectors in the file
};

// Fills rows of `table` (V, d) for the words of `vocab` found in the file at `path` (plain or gzip).
// A line whose vector is not d numbers is an error naming the file and line.
WordVectorsLoaded load_word_vectors(const std::string& path, const data::Vocab& vocab, Tensor<float>& table);

}  // namespace recur::models
