#include "recur/models/tagger_data.h"

#include <fmt/format.h>

#include <algorithm>

#include "recur/data/tokenize.h"
#include "recur/models/tag_scores.h"

namespace recur::models {

TaggerVocabularies tagger_vocabularies(const std::vector<data::TaggedSentence>& train,
                                       std::int64_t min_word_freq) {
  data::TokenCounts words, chars, tags;
  std::vector<data::TokenCounts> features(train.empty() ? 0 : train.front().features.size());
  for (const data::TaggedSentence& s : train) {
    RECUR_CHECK(s.features.size() == features.size(), "tagger: sentences with different feature columns");
    for (size_t f = 0; f < features.size(); ++f)
      for (const std::string& value : s.features[f]) ++features[f][value];
    for (const std::string& w : s.words) {
      ++words[w];
      for (const std::string& c : data::tokenize(w, data::TokenKind::kChar, "a word")) ++chars[c];
    }
    for (const std::string& t : s.tags) ++tags[t];
  }
  TaggerVocabularies v;
  v.words = data::Vocab::build(data::TokenKind::kWord, words, {{data::kPad, data::kUnk}, min_word_freq, 0});
  v.chars = data::Vocab::build(data::TokenKind::kChar, chars, {{data::kPad, data::kUnk}, 1, 0});
  v.tags = data::Vocab::build(data::TokenKind::kWord, tags, {});
  for (const data::TokenCounts& counts : features)
    v.features.push_back(
        data::Vocab::build(data::TokenKind::kWord, counts, {{data::kPad, data::kUnk}, 1, 0}));
  return v;
}

EncodedSentences encode_sentences(const std::vector<data::TaggedSentence>& sentences,
                                  const TaggerVocabularies& v) {
  EncodedSentences out;
  out.features.resize(v.features.size());
  for (const data::TaggedSentence& s : sentences) {
    RECUR_CHECK(s.features.size() == v.features.size(),
                fmt::format("tagger: a sentence with {} feature columns for a model of {}", s.features.size(),
                            v.features.size()));
    for (size_t f = 0; f < v.features.size(); ++f)
      out.features[f].push_back(v.features[f].encode(s.features[f], "feature values"));
    std::int64_t unknown = 0;
    out.words.push_back(v.words.encode(s.words, "words", &unknown));
    out.unknown_words += unknown;
    out.total_words += static_cast<std::int64_t>(s.words.size());
    std::vector<std::vector<std::int32_t>> chars;
    for (const std::string& w : s.words)
      chars.push_back(v.chars.encode(data::tokenize(w, data::TokenKind::kChar, "a word"), "characters"));
    out.chars.push_back(std::move(chars));
    std::vector<std::int32_t> tags;
    for (const std::string& t : s.tags) {
      const std::int32_t id = v.tags.find(t);
      out.unknown_tags += id < 0;
      tags.push_back(std::max(id, 0));
    }
    out.tags.push_back(std::move(tags));
    out.gold.push_back(s.tags);
  }
  return out;
}

TaggerBatch tagger_batch(const EncodedSentences& sentences, const std::vector<index_t>& which,
                         std::vector<std::int32_t>* tags, Rng* unk_rng,
                         const std::vector<double>* unk_probability, std::int32_t unk) {
  TaggerBatch batch;
  batch.B = static_cast<index_t>(which.size());
  batch.items = which;
  std::stable_sort(batch.items.begin(), batch.items.end(), [&](index_t a, index_t b) {
    return sentences.words[static_cast<size_t>(a)].size() > sentences.words[static_cast<size_t>(b)].size();
  });
  for (index_t i : batch.items)
    batch.T =
        std::max<index_t>(batch.T, static_cast<index_t>(sentences.words[static_cast<size_t>(i)].size()));
  batch.words.assign(static_cast<size_t>(batch.T * batch.B), 0);
  batch.features.assign(sentences.features.size(), std::vector<std::int32_t>(batch.words.size(), 0));
  if (tags) tags->assign(batch.words.size(), 0);
  for (index_t b = 0; b < batch.B; ++b) {
    const auto s = static_cast<size_t>(batch.items[static_cast<size_t>(b)]);
    batch.lengths.push_back(static_cast<index_t>(sentences.words[s].size()));
  }
  // Words t-major, then b: the order the tagger's character features are read in.
  for (index_t t = 0; t < batch.T; ++t)
    for (index_t b = 0; b < batch.B; ++b) {
      const auto s = static_cast<size_t>(batch.items[static_cast<size_t>(b)]);
      if (t >= batch.lengths[static_cast<size_t>(b)]) continue;
      std::int32_t w = sentences.words[s][static_cast<size_t>(t)];
      // A word that is never dropped draws no random number.
      if (unk_rng && unk_probability && w >= 0 && static_cast<size_t>(w) < unk_probability->size() &&
          (*unk_probability)[static_cast<size_t>(w)] > 0.0 &&
          unk_rng->bernoulli((*unk_probability)[static_cast<size_t>(w)]))
        w = unk;
      batch.words[static_cast<size_t>(t * batch.B + b)] = w;
      for (size_t f = 0; f < batch.features.size(); ++f)
        batch.features[f][static_cast<size_t>(t * batch.B + b)] =
            sentences.features[f][s][static_cast<size_t>(t)];
      batch.chars.push_back(sentences.chars[s][static_cast<size_t>(t)]);
      if (tags) (*tags)[static_cast<size_t>(t * batch.B + b)] = sentences.tags[s][static_cast<size_t>(t)];
    }
  return batch;
}

std::vector<double> unk_probabilities(const EncodedSentences& train, const data::Vocab& words,
                                      double word_dropout) {
  RECUR_REQUIRE(word_dropout >= 0.0 && word_dropout < 1.0,
                fmt::format("word dropout must be in [0, 1), got {}", word_dropout));
  std::vector<std::int64_t> counts(static_cast<size_t>(words.size()), 0);
  for (const auto& sentence : train.words)
    for (std::int32_t w : sentence) ++counts[static_cast<size_t>(w)];
  std::vector<double> p(counts.size(), 0.0);
  for (size_t w = 0; w < counts.size(); ++w)
    if (!words.is_special(static_cast<std::int32_t>(w)))
      p[w] = counts[w] == 1 ? std::max(0.5, word_dropout) : word_dropout;
  return p;
}

TaggerEvaluation evaluate_tagger(const Tagger<float>& model, const TaggerVocabularies& v,
                                 const EncodedSentences& sentences, index_t batch_size) {
  TaggerEvaluation e;
  TagScorer scorer;
  double total = 0;
  for (index_t first = 0; first < sentences.size(); first += batch_size) {
    std::vector<index_t> which;
    for (index_t i = first; i < std::min(sentences.size(), first + batch_size); ++i) which.push_back(i);
    std::vector<std::int32_t> tags;
    const TaggerBatch batch = tagger_batch(sentences, which, &tags);
    total += model.loss_sum(batch, tags);
    const std::vector<std::int32_t> best = model.decode(batch);
    for (index_t b = 0; b < batch.B; ++b) {
      const auto s = static_cast<size_t>(batch.items[static_cast<size_t>(b)]);
      std::vector<std::string> guessed;
      for (index_t t = 0; t < batch.lengths[static_cast<size_t>(b)]; ++t)
        guessed.push_back(v.tags.token(best[static_cast<size_t>(t * batch.B + b)]));
      scorer.add(sentences.gold[s], guessed);
    }
  }
  e.words = scorer.tokens();
  e.sentences = scorer.sentences();
  e.loss = e.words > 0 ? total / static_cast<double>(e.words) : 0.0;
  e.accuracy = scorer.accuracy();
  e.chunks = scorer.chunk_tags();
  e.precision = scorer.chunks().precision();
  e.recall = scorer.chunks().recall();
  e.f1 = scorer.chunks().f1();
  e.scores = std::move(scorer);
  return e;
}

}  // namespace recur::models
