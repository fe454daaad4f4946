// Tagged sentences as a tagger reads them: vocabularies (words, their code points, tags, and one per
// feature column) built from the training sentences, sentences as ids, and padded batches (models/tagger.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "recur/data/conll.h"
#include "recur/data/vocab.h"
#include "recur/models/tag_scores.h"
#include "recur/models/tagger.h"
#include "recur/rng.h"

namespace recur::models {

struct TaggerVocabularies {
  data::Vocab words;                  // <pad> <unk>, then by falling frequency (--min-freq)
  data::Vocab chars;                  // <pad> <unk>, then code points in order
  data::Vocab tags;                   // by falling frequency, no specials
  std::vector<data::Vocab> features;  // per feature column: <pad> <unk>, then by falling frequency
};

TaggerVocabularies tagger_vocabularies(const std::vector<data::TaggedSentence>& train,
                                       std::int64_t min_word_freq);

// Sentences as ids. Words outside the vocabulary are <unk> (characters too); a gold tag outside it
// is kept as its text in `gold` (scored as wrong: the model cannot give it) and read as tag 0 by
// the loss.
struct EncodedSentences {
  std::vector<std::vector<std::int32_t>> words, tags;
  std::vector<std::vector<std::vector<std::int32_t>>> features;  // per feature column, per sentence
  std::vector<std::vector<std::vector<std::int32_t>>> chars;     // per sentence, per word
  std::vector<std::vector<std::string>> gold;                    // the tags as read
  std::int64_t unknown_words = 0, unknown_tags = 0, total_words = 0;
  index_t size() const { return static_cast<index_t>(words.size()); }
};

EncodedSentences encode_sentences(const std::vector<data::TaggedSentence>& sentences,
                                  const TaggerVocabularies& vocabularies);

// Sentences `which` as a batch, longest first (batch.items says which is where: the recurrent layers
// then skip the rows whose sentence has ended, as packed sequences do), and their tags (T, B) (0
// past each length) in `tags` when given.
// With `unk_rng`, word w is read as <unk> with probability unk_probability[w] (word dropout: <unk> is
// trained, and the model learns to tag from a word's characters and context); its characters stay.
TaggerBatch tagger_batch(const EncodedSentences& sentences, const std::vector<index_t>& which,
                         std::vector<std::int32_t>* tags = nullptr, Rng* unk_rng = nullptr,
                         const std::vector<double>* unk_probability = nullptr, std::int32_t unk = -1);

// By word id, the probability that training reads it as <unk>: `word_dropout` for every word, and at
// least 1/2 for a word seen once in `train` (Lample et al. 2016 do this for singletons); 0 for the
// specials.
std::vector<double> unk_probabilities(const EncodedSentences& train, const data::Vocab& words,
                                      double word_dropout);

// What a tagger makes of `sentences`: the mean loss per word, and the scores of its best tags
// against the gold ones (accuracy; chunk precision, recall and F1). `batch` sentences at a time.
struct TaggerEvaluation {
  double loss = 0;
  std::int64_t words = 0, sentences = 0;
  double accuracy = 0;
  bool chunks = false;
  double precision = 0, recall = 0, f1 = 0;
  TagScorer scores;  // per tag and per chunk type, and the confusion counts
};
TaggerEvaluation evaluate_tagger(const Tagger<float>& model, const TaggerVocabularies& vocabularies,
                                 const EncodedSentences& sentences, index_t batch = 64);

}  // namespace recur::models
