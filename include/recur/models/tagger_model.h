// The tagger's checkpoints and its TaskModel: what recur eval, predict and inspect do with a "tag"
// checkpoint.
//
// The file: the tagger's tensors (models/tagger.h), recur.task "tag", recur.config
// (TaggerConfig::to_json: sizes, the CRF, and the format and column the training files were read
// with), recur.vocab (the words), recur.chars (their code points), recur.tags, and
// recur.features.<i> (the values of the i-th feature column).
//   evaluate: the text read as sentences in the training files' format and column; JSON
//             {"loss", "accuracy", "tokens", "sentences", "unknown_tags"} and, for chunk tags,
//             "precision", "recall", "f1" (conlleval's, in %).
//   predict:  sentences in, the same lines out with the tag column filled in (CoNLL-U or CoNLL), or
//             plain text (one sentence a line, words split at whitespace) out as word/TAG (not for
//             a model that reads feature columns); sentences are tagged in batches of those
//             already read (at most PredictOptions::batch_size) and written as soon as tagged.
#pragma once

#include <memory>

#include "recur/io/safetensors.h"
#include "recur/models/tagger.h"
#include "recur/models/tagger_data.h"
#include "recur/models/task_model.h"

namespace recur::models {

inline constexpr const char* kTagTask = "tag";

io::Safetensors tagger_file(const Tagger<float>& model, const TaggerVocabularies& vocabularies);

struct LoadedTagger {
  std::unique_ptr<Tagger<float>> model;
  TaggerVocabularies vocabularies;
  io::Safetensors file;
};
// Reads and validates the config, the three vocabularies and every tensor's shape; errors name the
// file.
LoadedTagger load_tagger(io::Safetensors file);
std::unique_ptr<TaskModel> open_tagger(io::Safetensors file);

class TaggerModel final : public TaskModel {
 public:
  explicit TaggerModel(LoadedTagger loaded);

  std::string_view task() const override { return kTagTask; }
  const nn::ParameterTable<float>& params() const override { return model_->params(); }
  std::string config_json() const override { return model_->config().to_json(); }
  std::vector<std::pair<std::string, std::string>> describe() const override;
  Evaluation evaluate(std::string_view text, std::string_view source,
                      const EvaluateOptions& options) const override;
  void predict(std::istream& in, std::string_view source, const PredictOptions& options,
               const std::function<void(std::string_view)>& emit) const override;

 private:
  // The best tags of each sentence, all in one batch.
  std::vector<std::vector<std::string>> tag(const std::vector<data::TaggedSentence>& sentences) const;

  std::unique_ptr<Tagger<float>> model_;
  TaggerVocabularies vocabularies_;
};

}  // namespace recur::models
