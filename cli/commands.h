// The `recur` command line: one file per subcommand, each built on the public headers only.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <string_view>

namespace recur::cli {

// Thrown by a command to end recur with this exit code after its output is complete (an
// interrupted training run: 128 + the signal, as a shell reports a process the signal killed).
struct ExitCode {
  int code;
};

void add_train_command(CLI::App& app);
// The tasks' `recur train TASK` subcommands (train_<task>.cpp).
void add_train_lm_command(CLI::App& train);
void add_train_tag_command(CLI::App& train);
void add_sample_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_predict_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_bench_command(CLI::App& app);

// The tiny-shakespeare text compiled into the binary (data/tinyshakespeare, MIT / public domain).
std::string_view builtin_tinyshakespeare();
inline constexpr const char* kBuiltinDataName = "tinyshakespeare";
// `--data` as given (read by data::read_file: gzip is decompressed), the built-in text when it is
// kBuiltinDataName, or a bundled file by name (bundled_data_path) when no such file exists here.
std::string load_data(const std::string& path_or_builtin);
// How messages name `--data` and the like: the path, or "tinyshakespeare (built in)".
std::string data_name(const std::string& path_or_builtin);
// The bundled data sets' files by name: ptb (= ptb.train), ptb.valid, ptb.test, names. Looked up in
// the source tree's data/, then in the installed share/recur/data/. "" for other names; an error
// naming both places when a bundled name's file is in neither.
std::string bundled_data_path(const std::string& name);
// "ptb, ptb.valid, ptb.test, names" for help texts.
std::string bundled_data_names();
// --data NAME of a bundled set with separate validation and test files (ptb): their names, for
// --val-data and --test-data when those are not given. Empty otherwise.
struct BundledSplits {
  std::string val, test;
};
BundledSplits bundled_splits(const std::string& data);

// --threads N on a subcommand (0: RECUR_NUM_THREADS or all cores).
void add_threads_option(CLI::App& command, int& threads);
void apply_threads(int threads);

}  // namespace recur::cli
