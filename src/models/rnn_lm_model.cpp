#include "recur/models/rnn_lm_model.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "recur/autograd/functions.h"
#include "recur/data/tokenize.h"
#include "recur/models/lm_lines.h"
#include "recur/models/lm_text.h"
#include "recur/models/window_lm_model.h"

namespace recur::models {

RnnLmModel::RnnLmModel(LoadedRnnLm loaded)
    : TaskModel(std::move(loaded.file)), model_(std::move(loaded.model)), vocab_(std::move(loaded.vocab)) {}

std::unique_ptr<TaskModel> open_lm_model(io::Safetensors file) {
  // The lm task's two architectures: recurrent (RnnLm) and the fixed window (WindowLm).
  const auto config = file.metadata().find(kConfigKey);
  if (config != file.metadata().end() && is_window_lm_config(config->second))
    return std::make_unique<WindowLmModel>(load_window_lm(std::move(file)));
  return std::make_unique<RnnLmModel>(load_rnn_lm(std::move(file)));
}

std::vector<std::pair<std::string, std::string>> RnnLmModel::describe() const {
  return {{"vocabulary", lm_vocabulary_summary(vocab_)}};
}

Evaluation RnnLmModel::evaluate(std::string_view text, std::string_view source,
                                const EvaluateOptions& options) const {
  RECUR_CHECK(options.chunk >= 1, fmt::format("eval: chunk must be at least 1, got {}", options.chunk));
  const std::string name(source);
  std::int64_t unknown = 0, predictions = 0;
  double total = 0;  // summed in double over the whole text
  if (model_->config().lines) {
    // One item per line, each from <bos> through its <eos>.
    const LinesLoss l = lm_lines_loss(*model_, vocab_, lm_line_items(text, vocab_, name, &unknown), 64);
    total = l.total;
    predictions = l.predictions;
  } else {
    // One stream at batch 1, the state carried from chunk to chunk.
    const data::TokenIds ids = lm_stream_ids(text, vocab_, name, &unknown);
    RECUR_REQUIRE(ids.size() >= 2,
                  fmt::format("{}: needs at least 2 tokens to score, has {}", name, ids.size()));
    const index_t n = ids.size();
    layers::RnnStateValues<float> state;
    for (index_t begin = 0; begin + 1 < n; begin += options.chunk) {
      const index_t T = std::min(options.chunk, n - 1 - begin);
      const std::vector<std::int32_t> inputs = ids.slice(begin, T), targets = ids.slice(begin + 1, T);
      ag::Tape<float> tape;
      ag::NoGrad<float> no_grad(tape);
      const auto out = model_->forward(tape, inputs, T, 1, layers::constants(tape, state), false, nullptr);
      ops::CrossEntropyOptions ce;
      ce.reduction = ops::Reduction::kNone;
      const ag::Var<float> losses = ag::cross_entropy(out.logits, targets, ce);
      for (index_t i = 0; i < T; ++i) total += static_cast<double>(losses.value()[i]);
      state = layers::values_of(out.state);
    }
    predictions = n - 1;
  }
  return lm_evaluation(name, total, predictions, unknown, vocab_.kind());
}

void RnnLmModel::generate(const GenerateOptions& o, const std::function<void(std::string_view)>& emit) const {
  const bool lines = model_->config().lines;
  const std::vector<std::int32_t> prime = lm_prime_ids(vocab_, o, lines, file().source());
  Rng rng(o.seed);
  const RnnLmStream<float> fresh = model_->make_stream(1);
  RnnLmStream<float> stream = fresh;
  Tensor<float> logits(Shape{1, vocab_.size()});
  const auto next = [&] { return sample_token(logits.data(), vocab_.size(), o.sampling, rng); };
  const auto feed = [&](std::int32_t id) { model_->step(stream, {id}, logits); };
  if (lines) {
    // Items: each from <bos> (and the prime) to <eos>, from a fresh state.
    for (long item = 0; item < (o.count > 0 ? o.count : 10); ++item) {
      stream = fresh;
      feed(vocab_.bos());
      for (std::int32_t id : prime) feed(id);
      if (!o.prime_text.empty()) emit(o.prime_text);
      lm_draw(vocab_, o.length, prime.empty() ? -1 : prime.back(), true, next, feed, emit);
    }
    return;
  }
  std::vector<std::int32_t> start = prime;
  if (start.empty()) {
    // Start after a line break: "\n" or <eos>; else from a random token.
    const std::int32_t newline = vocab_.kind() == data::TokenKind::kChar ? vocab_.find("\n") : vocab_.eos();
    start.push_back(newline >= 0
                        ? newline
                        : static_cast<std::int32_t>(rng.below(static_cast<std::uint32_t>(vocab_.size()))));
  } else {
    emit(o.prime_text);
  }
  for (std::int32_t id : start) feed(id);
  lm_draw(vocab_, o.length, o.prime_text.empty() ? -1 : start.back(), false, next, feed, emit);
}

}  // namespace recur::models
