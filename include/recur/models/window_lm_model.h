// The window model's checkpoints and its TaskModel: what recur sample, eval and inspect do with an
// "lm" checkpoint whose recur.config says "model": "window".
//
// The file: the model's tensors (embedding.weight, hidden.weight, hidden.bias, decoder.weight,
// decoder.bias), recur.task "lm", recur.config (WindowLmConfig::to_json), recur.vocab.
//   evaluate: every token of the text predicted from the N before it (WindowExamples: a stream's
//             tokens 2…n, or each line's tokens and <eos>); JSON as the recurrent LM's.
//   generate: one token at a time from a window that slides over the prime text and the draws.
#pragma once

#include <memory>

#include "recur/data/vocab.h"
#include "recur/io/safetensors.h"
#include "recur/models/task_model.h"
#include "recur/models/window_lm.h"

namespace recur::models {

io::Safetensors window_lm_file(const WindowLm<float>& model, const data::Vocab& vocab);

struct LoadedWindowLm {
  std::unique_ptr<WindowLm<float>> model;
  data::Vocab vocab;
  io::Safetensors file;
};
// Reads and validates the config, the vocabulary and every tensor's shape; errors name the file.
LoadedWindowLm load_window_lm(io::Safetensors file);

class WindowLmModel final : public TaskModel {
 public:
  explicit WindowLmModel(LoadedWindowLm loaded);

  std::string_view task() const override;
  const nn::ParameterTable<float>& params() const override { return model_->params(); }
  std::string config_json() const override { return model_->config().to_json(); }
  std::vector<std::pair<std::string, std::string>> describe() const override;
  Evaluation evaluate(std::string_view text, std::string_view source,
                      const EvaluateOptions& options) const override;
  void generate(const GenerateOptions& options,
                const std::function<void(std::string_view)>& emit) const override;

 private:
  std::unique_ptr<WindowLm<float>> model_;
  data::Vocab vocab_;
};

}  // namespace recur::models
