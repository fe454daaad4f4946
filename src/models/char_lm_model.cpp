#include "recur/models/char_lm_model.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "recur/autograd/functions.h"
#include "recur/data/tokenize.h"

namespace recur::models {

CharLmModel::CharLmModel(LoadedCharLm loaded)
    : TaskModel(std::move(loaded.file)), model_(std::move(loaded.model)), vocab_(std::move(loaded.vocab)) {}

std::unique_ptr<TaskModel> open_char_lm_model(io::Safetensors file) {
  return std::make_unique<CharLmModel>(load_char_lm(std::move(file)));
}

std::vector<std::pair<std::string, std::string>> CharLmModel::describe() const {
  std::string chars;
  for (const std::string& token : vocab_.tokens())
    chars += token == "\n" ? "\\n" : token == " " ? "␠" : token;
  return {{"vocabulary", fmt::format("{} characters: {}", vocab_.size(), chars)}};
}

Evaluation CharLmModel::evaluate(std::string_view text, std::string_view source,
                                 const EvaluateOptions& options) const {
  RECUR_CHECK(options.chunk >= 1, fmt::format("eval: chunk must be at least 1, got {}", options.chunk));
  const std::string name(source);
  const std::vector<std::int32_t> ids =
      vocab_.encode(data::tokenize(text, data::TokenKind::kChar, name), name);
  RECUR_CHECK(ids.size() >= 2,
              fmt::format("{}: needs at least 2 characters to score, has {}", name, ids.size()));
  const auto n = static_cast<index_t>(ids.size());
  double total = 0;  // summed in double over the whole text
  layers::RnnStateValues<float> state;
  for (index_t begin = 0; begin + 1 < n; begin += options.chunk) {
    const index_t T = std::min(options.chunk, n - 1 - begin);
    const std::vector<std::int32_t> inputs(ids.begin() + begin, ids.begin() + begin + T);
    const std::vector<std::int32_t> targets(ids.begin() + begin + 1, ids.begin() + begin + T + 1);
    ag::Tape<float> tape;
    ag::NoGrad<float> no_grad(tape);
    const auto out = model_->forward(tape, inputs, T, 1, layers::constants(tape, state), false, nullptr);
    ops::CrossEntropyOptions ce;
    ce.reduction = ops::Reduction::kNone;
    const ag::Var<float> losses = ag::cross_entropy(out.logits, targets, ce);
    for (index_t i = 0; i < T; ++i) total += static_cast<double>(losses.value()[i]);
    state = layers::values_of(out.state);
  }
  const double loss = total / static_cast<double>(n - 1);
  Evaluation e;
  e.json = nlohmann::json{
      {"loss", loss},
      {"bpc", loss / std::log(2.0)},
      {"perplexity", std::exp(loss)},
      {"tokens",
       n - 1}}.dump();
  e.summary = fmt::format("{}: {} predictions, loss {:.4f} nats/char, {:.4f} bits/char, perplexity {:.3f}",
                          name, n - 1, loss, loss / std::log(2.0), std::exp(loss));
  return e;
}

void CharLmModel::generate(const GenerateOptions& o,
                           const std::function<void(std::string_view)>& emit) const {
  validate(o.sampling);
  Rng rng(o.seed);
  CharLmStream<float> stream = model_->make_stream(1);
  Tensor<float> logits(Shape{1, vocab_.size()});
  std::vector<std::int32_t> prime =
      vocab_.encode(data::tokenize(o.prime_text, data::TokenKind::kChar, "--prime-text"), "--prime-text");
  if (prime.empty()) {
    const std::int32_t newline = vocab_.find("\n");
    prime.push_back(newline >= 0
                        ? newline
                        : static_cast<std::int32_t>(rng.below(static_cast<std::uint32_t>(vocab_.size()))));
  } else {
    emit(o.prime_text);
  }
  for (std::int32_t id : prime) model_->step(stream, {id}, logits);
  for (long i = 0; i < o.length; ++i) {
    const std::int32_t next = sample_token(logits.data(), vocab_.size(), o.sampling, rng);
    emit(vocab_.token(next));
    model_->step(stream, {next}, logits);
  }
}

}  // namespace recur::models
