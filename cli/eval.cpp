// recur eval: a checkpoint's metrics on a file (TaskModel::evaluate); for a language model the
// mean loss over the text read as one stream.
#include <fmt/format.h>

#include <memory>

#include "commands.h"
#include "recur/io/parameters_io.h"
#include "recur/models/tasks.h"

namespace recur::cli {

namespace {

struct EvalOptions {
  std::string checkpoint, file;
  bool json = false;
  models::EvaluateOptions evaluate;
  int threads = 0;
};

void run_eval(const EvalOptions& o) {
  apply_threads(o.threads);
  const std::unique_ptr<models::TaskModel> model = models::open_checkpoint(o.checkpoint);
  io::require_finite(model->params(), o.checkpoint);  // else "loss nan", exit 0
  const std::string name = data_name(o.file);
  const models::Evaluation e = model->evaluate(load_data(o.file), name, o.evaluate);
  fmt::print("{}\n", o.json ? e.json : e.summary);
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
  cmd->add_option("--chunk", o.evaluate.chunk, "steps per forward pass (the state is carried across)")
      ->check(CLI::Range(1L, 1L << 20))
      ->capture_default_str();
  cmd->add_option("--report", o.evaluate.report_dir,
                  "a directory for the task's reports (a tagger: tags.tsv per tag, confusion.svg)");
  add_threads_option(*cmd, o.threads);
  cmd->callback([options] { run_eval(*options); });
}

}  // namespace recur::cli
