// recur sample: generate from a checkpoint (TaskModel::generate), streamed to stdout as it is drawn.
#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "commands.h"
#include "recur/data/text_file.h"
#include "recur/io/parameters_io.h"
#include "recur/models/tasks.h"

namespace recur::cli {

namespace {

struct SampleOptions {
  std::string checkpoint;
  std::string prime_file;
  models::GenerateOptions generate;
  int threads = 0;
};

void run_sample(const SampleOptions& given) {
  SampleOptions o = given;
  apply_threads(o.threads);
  models::validate(o.generate.sampling);
  // A prime longer than a command line takes comes from a file (its text as is, gzip read too).
  if (!o.prime_file.empty()) o.generate.prime_text = data::read_file(o.prime_file);
  const std::unique_ptr<models::TaskModel> model = models::open_checkpoint(o.checkpoint);
  io::require_finite(model->params(), o.checkpoint);
  // Each line flushed as it is drawn; a write that fails (a full disk) stops the sampling with an
  // error rather than drawing on into nowhere.
  model->generate(o.generate, [](std::string_view piece) {
    const bool written = std::fwrite(piece.data(), 1, piece.size(), stdout) == piece.size() &&
                         (piece != "\n" || std::fflush(stdout) == 0);
    RECUR_REQUIRE(written, fmt::format("cannot write the output to stdout ({})", std::strerror(errno)));
  });
}

}  // namespace

void add_sample_command(CLI::App& app) {
  auto options = std::make_shared<SampleOptions>();
  SampleOptions& o = *options;
  CLI::App* cmd = app.add_subcommand("sample", "generate text from a checkpoint");
  cmd->add_option("checkpoint", o.checkpoint, "a .safetensors checkpoint")
      ->required()
      ->check(CLI::ExistingFile);
  CLI::Option* prime_text =
      cmd->add_option("--prime-text", o.generate.prime_text, "text to condition on (printed first)");
  cmd->add_option("--prime-file", o.prime_file, "a file whose text conditions the output, as --prime-text")
      ->excludes(prime_text);
  cmd->add_option("--count", o.generate.count, "per-line models: items to generate, one a line (0: 10)")
      ->check(CLI::Range(0L, 1L << 30))
      ->capture_default_str();
  cmd->add_option("--length", o.generate.length, "tokens to generate (per-line models: at most, per item)")
      ->check(CLI::Range(0L, 1L << 40))
      ->capture_default_str();
  cmd->add_option("--temperature", o.generate.sampling.temperature,
                  "divides the logits; lower is more conservative (checked by models::validate)")
      ->capture_default_str();
  cmd->add_option("--top-k", o.generate.sampling.top_k, "sample among the k most likely (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--top-p", o.generate.sampling.top_p,
                  "sample from the smallest set with this much probability")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_flag("--argmax", o.generate.sampling.argmax, "always take the most likely character");
  cmd->add_option("--seed", o.generate.seed, "random seed")->capture_default_str();
  add_threads_option(*cmd, o.threads);
  cmd->callback([options] { run_sample(*options); });
}

}  // namespace recur::cli
