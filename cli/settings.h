// A training run's settings as text, the currency of --config, config.toml and --resume:
// every flag of `recur train TASK` by its long name without dashes ("rnn-size") and its value as
// CLI11 would read it ("128", "true", "text.txt").
//
// config.toml is the TOML subset CLI11 writes: `key = value` lines, values quoted when they are not
// numbers or booleans, `#` comments. Reading it is strict: an unknown key or a value a flag rejects
// is an error naming the file and the line. Keys may use char-rnn's underscores (rnn_size).
#pragma once

#include <CLI/CLI.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace recur::cli {

struct Setting {
  std::string key, value;
  int line = 0;  // in the file it came from; 0 when it did not come from a file
};
using Settings = std::vector<Setting>;

// The long names ("--rnn-size") of the options given on the command line.
std::set<std::string> given_options(const CLI::App& command);

// Every option of `command` with its current value (given, applied or default), in the order the
// options were declared; options named in `excluded` ("--resume") and --help are left out.
Settings current_settings(const CLI::App& command, const std::set<std::string>& excluded);

// The file's settings. `task` (the command's) is checked against a `task = "…"` line if any.
Settings read_config_file(const std::string& path, const std::string& task);
// config.toml text: a header comment, `task = "…"`, then one line per setting.
std::string settings_to_toml(const Settings& settings, const std::string& task);

// Gives each option of `command` not in `given` the value of its setting. `origin` names where
// the settings came from in errors ("cv/config.toml", "the checkpoint cv/last.safetensors").
// Unknown keys are errors (suggesting the nearest flag) unless `ignore_unknown`.
void apply_settings(CLI::App& command, const Settings& settings, const std::set<std::string>& given,
                    const std::string& origin, bool ignore_unknown = false);

// The value of the setting `key`, or nullptr.
const Setting* find_setting(const Settings& settings, const std::string& key);

// The closest long option name of `command` to `name` ("--rnn-sise" → "--rnn-size"), or "" when
// none is close.
std::string nearest_option(const CLI::App& command, const std::string& name);
// The closest of `candidates` to `name`, or "" when none is close.
std::string nearest_name(const std::string& name, const std::vector<std::string>& candidates);

// Two values of a setting are the same when they are equal as text or as numbers (2e-3 and 0.002).
bool same_value(const std::string& a, const std::string& b);

}  // namespace recur::cli
