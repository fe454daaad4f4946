// The character LM behind TaskModel: what recur sample, eval and inspect do with an "lm" checkpoint.
//
//   evaluate: the mean loss over a text read as one stream (batch 1, from the zero state, the
//             state carried from chunk to chunk): the mean over the predictions of characters
//             2…n, each from all the ones before it; JSON {"bpc", "loss", "perplexity", "tokens"}.
//   generate: one character at a time on a CharLmStream (the prime text is read once, never
//             recomputed); without a prime it starts after a line break when the vocabulary has
//             one, else from a random character.
#pragma once

#include <memory>

#include "recur/models/char_lm_checkpoint.h"
#include "recur/models/task_model.h"

namespace recur::models {

class CharLmModel final : public TaskModel {
 public:
  explicit CharLmModel(LoadedCharLm loaded);

  std::string_view task() const override { return kLmTask; }
  const nn::ParameterTable<float>& params() const override { return model_->params(); }
  std::string config_json() const override { return model_->config().to_json(); }
  std::vector<std::pair<std::string, std::string>> describe() const override;
  Evaluation evaluate(std::string_view text, std::string_view source,
                      const EvaluateOptions& options) const override;
  void generate(const GenerateOptions& options,
                const std::function<void(std::string_view)>& emit) const override;

  const CharLm<float>& model() const { return *model_; }
  const data::Vocab& vocab() const { return vocab_; }

 private:
  std::unique_ptr<CharLm<float>> model_;
  data::Vocab vocab_;
};

// The task's entry in tasks() (models/tasks.h).
std::unique_ptr<TaskModel> open_char_lm_model(io::Safetensors file);

}  // namespace recur::models
