// The tagger (models/tagger.h) as a train::TrainingTask: shuffled padded batches of sentences
// (bucketed by length when asked), <unk> trained by reading each word seen once in training as
// <unk> half the time and any word with probability `word_dropout`, targets smoothed by
// `label_smoothing`, and validation by accuracy, or chunk F1 for chunk tags (B-X / I-X / O), which
// selects best.safetensors.
#pragma once

#include <cmath>
#include <filesystem>
#include <vector>

#include "recur/data/sequence_batches.h"
#include "recur/models/tagger.h"
#include "recur/models/tagger_data.h"
#include "recur/train/trainer.h"

namespace recur::models {

class TaggerTask final : public train::TrainingTask {
 public:
  // model and vocabularies must outlive the task.
  TaggerTask(Tagger<float>& model, const TaggerVocabularies& vocabularies, EncodedSentences train,
             EncodedSentences validation, const data::SequenceBatchOptions& options,
             double word_dropout = 0.0, double label_smoothing = 0.0);

  nn::ParameterTable<float>& params() override { return model_.params(); }
  long batches_per_epoch() const override { return batches_.batches_per_epoch(); }
  train::TrainingBatch training_batch(ag::Tape<float>& tape, long epoch, long index, Rng& rng) override;
  bool has_validation() const override { return validation_.size() > 0; }
  // {"loss", "accuracy"} and, for chunk tags, {"precision", "recall", "f1"} (percentages).
  train::Metrics validate() override;
  train::BestMetric best_metric() const override;
  double guessing_loss() const override { return std::log(double(vocabularies_.tags.size())); }  // ln K
  io::Safetensors model_file() const override;
  // tags.tsv and confusion.svg of the validation that made the model the best.
  void write_best_reports(const std::filesystem::path& dir) const override;

 private:
  Tagger<float>& model_;
  const TaggerVocabularies& vocabularies_;
  EncodedSentences train_, validation_;
  data::SequenceBatches batches_;
  std::vector<double> unk_probability_;  // by word id (unk_probabilities)
  double label_smoothing_ = 0.0;         // of the training loss (validation's is plain)
  bool chunks_ = false;                  // the validation tags are chunk tags
  TagScorer last_scores_;                // of the last validation
};

}  // namespace recur::models
