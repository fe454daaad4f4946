// recur eval: the mean loss of a checkpoint on a text, carrying the state over the whole file
// (batch 1, from the zero state): the mean over the predictions of characters 2…n, each from all
// the ones before it.
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "recur/autograd/functions.h"
#include "recur/data/utf8.h"
#include "recur/models/char_lm_checkpoint.h"

namespace recur::cli {

namespace {

struct EvalOptions {
  std::string checkpoint, file;
  bool json = false;
  index_t chunk = 1000;
  int threads = 0;
};

void run_eval(const EvalOptions& o) {
  apply_threads(o.threads);
  const models::LoadedCharLm loaded = models::load_char_lm(o.checkpoint);
  const std::string name = o.file == kBuiltinDataName ? "tinyshakespeare (built in)" : o.file;
  const std::vector<std::int32_t> ids = loaded.vocab.encode(data::decode_utf8(load_data(o.file), name), name);
  RECUR_CHECK(ids.size() >= 2,
              fmt::format("{}: needs at least 2 characters to score, has {}", name, ids.size()));
  const auto n = static_cast<index_t>(ids.size());
  double total = 0;  // summed in double over the whole file
  layers::RnnStateValues<float> state;
  for (index_t begin = 0; begin + 1 < n; begin += o.chunk) {
    const index_t T = std::min(o.chunk, n - 1 - begin);
    const std::vector<std::int32_t> inputs(ids.begin() + begin, ids.begin() + begin + T);
    const std::vector<std::int32_t> targets(ids.begin() + begin + 1, ids.begin() + begin + T + 1);
    ag::Tape<float> tape;
    ag::NoGrad<float> no_grad(tape);
    const auto out =
        loaded.model->forward(tape, inputs, T, 1, layers::constants(tape, state), false, nullptr);
    ops::CrossEntropyOptions ce;
    ce.reduction = ops::Reduction::kNone;
    const ag::Var<float> losses = ag::cross_entropy(out.logits, targets, ce);
    for (index_t i = 0; i < T; ++i) total += static_cast<double>(losses.value()[i]);
    state = layers::values_of(out.state);
  }
  const double tokens = static_cast<double>(n - 1), loss = total / tokens;
  if (o.json) {
    fmt::print(
        "{}\n",
        nlohmann::json{
            {"loss", loss}, {"bpc", loss / std::log(2.0)}, {"perplexity", std::exp(loss)}, {"tokens", n - 1}}
            .dump());
  } else {
    fmt::print("{}: {} predictions, loss {:.4f} nats/char, {:.4f} bits/char, perplexity {:.3f}\n", name,
               n - 1, loss, loss / std::log(2.0), std::exp(loss));
  }
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto options = std::make_shared<EvalOptions>();
  EvalOptions& o = *options;
  CLI::App* cmd =
      app.add_subcommand("eval", "mean loss of a checkpoint on a text (nats/char, bits/char, perplexity)");
  cmd->add_option("checkpoint", o.checkpoint, "a .safetensors checkpoint")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("file", o.file, "UTF-8 text, or 'tinyshakespeare' for the built-in text")->required();
  cmd->add_flag("--json", o.json, "print one JSON object: loss, bpc, perplexity, tokens");
  cmd->add_option("--chunk", o.chunk, "steps per forward pass (the state is carried across)")
      ->check(CLI::Range(1L, 1L << 20))
      ->capture_default_str();
  add_threads_option(*cmd, o.threads);
  cmd->callback([options] { run_eval(*options); });
}

}  // namespace recur::cli
