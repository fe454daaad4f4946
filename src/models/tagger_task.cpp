#include "recur/models/tagger_task.h"

#include <algorithm>

#include "recur/models/tag_report.h"
#include "recur/models/tag_scores.h"
#include "recur/models/tagger_model.h"

namespace recur::models {

namespace {

bool all_chunk_tags(const EncodedSentences& sentences) {
  for (const auto& gold : sentences.gold)
    if (!std::all_of(gold.begin(), gold.end(), [](const std::string& tag) { return is_chunk_tag(tag); }))
      return false;
  return sentences.size() > 0;
}

}  // namespace

TaggerTask::TaggerTask(Tagger<float>& model, const TaggerVocabularies& vocabularies, EncodedSentences train,
                       EncodedSentences validation, const data::SequenceBatchOptions& options,
                       double word_dropout, double label_smoothing)
    : model_(model),
      vocabularies_(vocabularies),
      train_(std::move(train)),
      validation_(std::move(validation)),
      batches_(train_.words, options),
      unk_probability_(unk_probabilities(train_, vocabularies.words, word_dropout)),
      label_smoothing_(label_smoothing),
      chunks_(all_chunk_tags(validation_)) {}

train::TrainingBatch TaggerTask::training_batch(ag::Tape<float>& tape, long epoch, long index, Rng& rng) {
  std::vector<std::int32_t> tags;
  const TaggerBatch batch = tagger_batch(train_, batches_.batch_items(epoch, index), &tags, &rng,
                                         &unk_probability_, vocabularies_.words.unk());
  return {model_.loss(tape, batch, tags, true, &rng, label_smoothing_), batch.num_words()};
}

train::Metrics TaggerTask::validate() {
  TaggerEvaluation e = evaluate_tagger(model_, vocabularies_, validation_);
  train::Metrics m{{"loss", e.loss}, {"accuracy", e.accuracy}};
  if (chunks_) {
    m["precision"] = e.precision;
    m["recall"] = e.recall;
    m["f1"] = e.f1;
  }
  last_scores_ = std::move(e.scores);
  return m;
}

train::BestMetric TaggerTask::best_metric() const {
  return {chunks_ ? "f1" : "accuracy", true};
}

void TaggerTask::write_best_reports(const std::filesystem::path& dir) const {
  write_tag_reports(dir, last_scores_, "best.safetensors on the validation data");
}

io::Safetensors TaggerTask::model_file() const {
  return tagger_file(model_, vocabularies_);
}

}  // namespace recur::models
