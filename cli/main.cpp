// recur: train, sample from, evaluate, inspect and benchmark character-level language models.
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string_view>
#include <vector>

#include "commands.h"
#include "recur/common.h"
#include "recur/ops/gemm.h"
#include "recur/ops/packed_gemm.h"
#include "settings.h"

namespace {

// `recur train` followed by a flag (or nothing) means `recur train lm`: the task name is inserted.
// char-rnn's underscore spellings (--rnn_size) are the dashed flags: the name before any '=' is
// rewritten in place.
std::vector<char*> normalized_arguments(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]).rfind("--", 0) != 0) continue;
    for (char* c = argv[i] + 2; *c && *c != '='; ++c)
      if (*c == '_') *c = '-';
  }
  std::vector<char*> args(argv, argv + argc);
  static char task[] = "lm";
  if (argc >= 2 && std::string_view(argv[1]) == "train") {
    const std::string_view next = argc >= 3 ? std::string_view(argv[2]) : std::string_view();
    if (next.empty() || (next[0] == '-' && next != "-h" && next != "--help"))
      args.insert(args.begin() + 2, task);
  }
  return args;
}

// Prints the first unknown flag left over by the parse of `app`'s innermost command, with the
// nearest flag that command has; false when there was none.
bool report_unknown_flag(const CLI::App& app) {
  const CLI::App* command = &app;
  while (!command->get_subcommands().empty()) command = command->get_subcommands().front();
  for (const std::string& extra : command->remaining(true)) {
    if (extra.rfind("--", 0) != 0) continue;
    const std::string flag = extra.substr(0, extra.find('='));
    const std::string near = recur::cli::nearest_option(*command, flag);
    std::string path;  // "train lm"
    for (const CLI::App* c = command; c != &app; c = c->get_parent())
      path = c->get_name() + (path.empty() ? "" : " ") + path;
    fmt::print(stderr, "error: unknown flag {} for recur {}{} (see recur {} --help)\n", flag, path,
               near.empty() ? "" : fmt::format("; did you mean {}?", near), path);
    return true;
  }
  return false;
}

// The last-resort error path: writes "error: <message>" to stderr and never throws (fmt::print
// throws when stderr is a full disk; inside a catch block that aborted the process).
void report_error(std::string_view message) noexcept {
  std::fputs("error: ", stderr);
  std::fwrite(message.data(), 1, message.size(), stderr);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

int run_command(int argc, char** argv) {
  CLI::App app{"recur: recurrent neural networks (RNN, LSTM, GRU) for sequence modelling", "recur"};
  app.require_subcommand(1);
  // The version line names the kernels this machine runs, for bug reports and benchmark records.
  app.set_version_flag("--version", [] {
    return fmt::format("recur 0.1 (GEMM backend {} [{}], packed kernel {})", recur::blas_backend(),
                       recur::blas_core(), recur::packed_gemm_isa());
  });
  recur::cli::add_train_command(app);
  recur::cli::add_sample_command(app);
  recur::cli::add_eval_command(app);
  recur::cli::add_predict_command(app);
  recur::cli::add_inspect_command(app);
  recur::cli::add_bench_command(app);
  // No command: the list of commands. A command that does not exist: the list and the nearest one.
  std::vector<std::string> commands;
  for (const CLI::App* sub : app.get_subcommands({})) commands.push_back(sub->get_name());
  if (argc == 1) {
    fmt::print("{}", app.help());
    return 0;
  }
  if (argv[1][0] != '-' && std::find(commands.begin(), commands.end(), argv[1]) == commands.end()) {
    const std::string near = recur::cli::nearest_name(argv[1], commands);
    fmt::print(stderr, "error: unknown command '{}'{}\n\n{}", argv[1],
               near.empty() ? "" : fmt::format(" (did you mean {}?)", near), app.help());
    return 2;
  }
  try {
    recur::blas_backend();  // a bad RECUR_BLAS in the environment is reported here, before any work
    std::vector<char*> args = normalized_arguments(argc, argv);
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::ParseError& e) {
    // An unknown flag is named, with the nearest flag of its command, also when it made another
    // check fail first ("sample --temprature 0.5 CKPT" reads 0.5 as the checkpoint).
    if (e.get_exit_code() != 0 && report_unknown_flag(app)) return 2;
    return app.exit(e);
  } catch (const recur::cli::ExitCode& e) {
    return e.code;
  } catch (const std::exception& e) {
    report_error(e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int code = 1;
  try {
    code = run_command(argc, argv);
  } catch (...) {  // a failure while reporting another
    report_error("recur failed while reporting an error");
  }
  // Output that was not written is an error: a sample cut short by a full disk must not exit 0.
  errno = 0;
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    report_error(fmt::format("cannot write the output to stdout ({})",
                             errno != 0 ? std::strerror(errno) : "write error"));
    if (code == 0) code = 1;
  }
  return code;
}
