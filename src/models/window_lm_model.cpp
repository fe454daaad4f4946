#include "recur/models/window_lm_model.h"

#include <fmt/format.h>

#include "recur/autograd/functions.h"
#include "recur/data/tokenize.h"
#include "recur/io/parameters_io.h"
#include "recur/models/checkpoint.h"
#include "recur/models/lm_lines.h"
#include "recur/models/lm_text.h"
#include "recur/models/window_lm_task.h"

namespace recur::models {

io::Safetensors window_lm_file(const WindowLm<float>& model, const data::Vocab& vocab) {
  io::Safetensors file;
  put_lm_metadata(file, model.config().to_json(), model.config().vocab_size, vocab);
  io::store_parameters(file, model.params());
  return file;
}

LoadedWindowLm load_window_lm(io::Safetensors file) {
  const std::string& source = file.source();
  LoadedWindowLm loaded;
  const WindowLmConfig config = WindowLmConfig::from_json(lm_config_json(file), source);
  loaded.vocab = lm_vocabulary_of(file, config.vocab_size);
  RECUR_REQUIRE(!config.lines || (loaded.vocab.bos() >= 0 && loaded.vocab.eos() >= 0),
                fmt::format("{}: a per-line model's vocabulary needs <bos> and <eos>", source));
  // The header against the config before the model is allocated (the config is input, not truth).
  io::check_parameter_shapes(file, WindowLm<float>::parameter_shapes(config), {kTrainingPrefix});
  loaded.model = std::make_unique<WindowLm<float>>(config);
  io::load_parameters(file, loaded.model->params(), {kTrainingPrefix});
  loaded.file = std::move(file);
  return loaded;
}

WindowLmModel::WindowLmModel(LoadedWindowLm loaded)
    : TaskModel(std::move(loaded.file)), model_(std::move(loaded.model)), vocab_(std::move(loaded.vocab)) {}

std::string_view WindowLmModel::task() const {
  return kLmTask;
}

std::vector<std::pair<std::string, std::string>> WindowLmModel::describe() const {
  return {{"vocabulary", lm_vocabulary_summary(vocab_)}};
}

Evaluation WindowLmModel::evaluate(std::string_view text, std::string_view source,
                                   const EvaluateOptions& options) const {
  const std::string name(source);
  const index_t N = model_->config().window;
  std::int64_t unknown = 0;
  WindowExamples examples;
  if (model_->config().lines) {
    examples = WindowExamples::lines(lm_line_items(text, vocab_, name, &unknown), N, vocab_);
  } else {
    const std::vector<std::int32_t> ids = lm_stream_ids(text, vocab_, name, &unknown).to_vector();
    RECUR_REQUIRE(ids.size() >= 2,
                  fmt::format("{}: needs at least 2 tokens to score, has {}", name, ids.size()));
    examples = WindowExamples::stream(ids, N, vocab_);
  }
  // Rows per forward pass: the examples are independent, so the chunk changes only the memory.
  const WindowLoss l = window_loss(*model_, examples, std::max<index_t>(1, options.chunk));
  return lm_evaluation(name, l.total, l.predictions, unknown, vocab_.kind());
}

void WindowLmModel::generate(const GenerateOptions& o,
                             const std::function<void(std::string_view)>& emit) const {
  const bool lines = model_->config().lines;
  const std::vector<std::int32_t> prime = lm_prime_ids(vocab_, o, lines, file().source());
  Rng rng(o.seed);
  const auto N = static_cast<size_t>(model_->config().window);
  // The last N tokens, oldest first; the sliding window a draw reads.
  std::vector<std::int32_t> window;
  const auto next = [&] {
    ag::Tape<float> tape;
    ag::NoGrad<float> no_grad(tape);
    const ag::Var<float> logits = model_->forward(tape, window, false, nullptr);
    return sample_token(logits.value().data(), vocab_.size(), o.sampling, rng);
  };
  const auto feed = [&](std::int32_t id) {
    window.erase(window.begin());
    window.push_back(id);
  };
  const std::int32_t padding = lines ? vocab_.bos() : window_stream_padding(vocab_);
  for (long item = 0; item < (lines ? (o.count > 0 ? o.count : 10) : 1); ++item) {
    window.assign(N, padding);
    for (std::int32_t id : prime) feed(id);
    if (!o.prime_text.empty()) emit(o.prime_text);
    lm_draw(vocab_, o.length, prime.empty() ? -1 : prime.back(), lines, next, feed, emit);
  }
}

}  // namespace recur::models
