// recur predict: a checkpoint's output for each item of a file (TaskModel::predict), written to
// stdout as soon as each is made: a tagger's sentences with the tag column filled in, or plain text
// tagged as word/TAG.
#include <fmt/format.h>
#include <unistd.h>

#include <ext/stdio_filebuf.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "commands.h"
#include "recur/io/parameters_io.h"
#include "recur/models/tasks.h"

namespace recur::cli {

namespace {

struct PredictFlags {
  std::string checkpoint, file;
  models::PredictOptions predict;
  int threads = 0;
};

bool is_gzip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[2] = {};
  return in.read(magic, 2) && static_cast<unsigned char>(magic[0]) == 0x1f &&
         static_cast<unsigned char>(magic[1]) == 0x8b;
}

void run_predict(const PredictFlags& o) {
  apply_threads(o.threads);
  const std::unique_ptr<models::TaskModel> model = models::open_checkpoint(o.checkpoint);
  io::require_finite(model->params(), o.checkpoint);
  const auto emit = [](std::string_view piece) {
    const bool written =
        std::fwrite(piece.data(), 1, piece.size(), stdout) == piece.size() && std::fflush(stdout) == 0;
    RECUR_REQUIRE(written, fmt::format("cannot write the output to stdout ({})", std::strerror(errno)));
  };
  if (o.file == "-") {
    // Standard input through a buffer of its own (std::cin, tied to C stdio, says nothing of what
    // has arrived): the items already there are computed together, and nothing waits for more.
    __gnu_cxx::stdio_filebuf<char> buffer(STDIN_FILENO, std::ios::in);
    std::istream in(&buffer);
    model->predict(in, "stdin", o.predict, emit);
    return;
  }
  // A plain file is read as it is tagged (the first sentences are out before the last are read); a
  // gzip file or a bundled data set by name is read whole first.
  std::error_code ec;
  if (std::filesystem::is_regular_file(o.file, ec) && !is_gzip(o.file)) {
    std::ifstream in(o.file, std::ios::binary);
    RECUR_REQUIRE(in.good(), fmt::format("cannot read {}: {}", o.file, std::strerror(errno)));
    model->predict(in, o.file, o.predict, emit);
    return;
  }
  std::istringstream in(load_data(o.file));
  model->predict(in, data_name(o.file), o.predict, emit);
}

}  // namespace

void add_predict_command(CLI::App& app) {
  auto options = std::make_shared<PredictFlags>();
  PredictFlags& o = *options;
  CLI::App* cmd = app.add_subcommand(
      "predict", "a model's output for each item of a file: a tagger's tags, in the file's own format");
  cmd->add_option("checkpoint", o.checkpoint, "a .safetensors checkpoint")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("file", o.file,
                  "input in the format the model was trained on (CoNLL-U or columns), '-' for stdin, or with "
                  "--text one sentence a line")
      ->required();
  cmd->add_flag("--text", o.predict.plain_text,
                "plain text in: one sentence a line, words split at whitespace; word/TAG out");
  cmd->add_option(
         "--batch-size", o.predict.batch_size,
         "items computed together, at most (only those already arrived: a line typed at a terminal is "
         "answered at once)")
      ->check(CLI::Range(index_t(1), index_t(1) << 16))
      ->capture_default_str();
  add_threads_option(*cmd, o.threads);
  cmd->callback([options] { run_predict(*options); });
}

}  // namespace recur::cli
