// The recurrent LM behind TaskModel: what recur sample, eval and inspect do with an "lm" checkpoint.
//
//   evaluate: the mean loss over a text read as one stream (batch 1, from the zero state, the
//             state carried from chunk to chunk): the mean over the predictions of tokens
//             2…n, each from all the ones before it; JSON {"bpc", "loss", "perplexity", "tokens"}.
//   generate: one token at a time on an RnnLmStream (the prime text is read once, never
//             recomputed); without a prime it starts after a line break when the vocabulary has
//             one, else from a random token.
#pragma once

#include <memory>

#include "recur/models/rnn_lm_checkpoint.h"
#include "recur/models/task_model.h"

namespace recur::models {

class RnnLmModel final : public TaskModel {
 public:
  explicit RnnLmModel(LoadedRnnLm loaded);

  std::string_view task() const override { return kLmTask; }
  const nn::ParameterTable<float>& params() const override { return model_->params(); }
  std::string config_json() const override { return model_->config().to_json(); }
  std::vector<std::pair<std::string, std::string>> describe() const override;
  Evaluation evaluate(std::string_view text, std::string_view source,
                      const EvaluateOptions& options) const override;
  void generate(const GenerateOptions& options,
                const std::function<void(std::string_view)>& emit) const override;

  const RnnLm<float>& model() const { return *model_; }
  const data::Vocab& vocab() const { return vocab_; }

 private:
  std::unique_ptr<RnnLm<float>> model_;
  data::Vocab vocab_;
};

// The task's entry in tasks() (models/tasks.h).
std::unique_ptr<TaskModel> open_lm_model(io::Safetensors file);

}  // namespace recur::models
