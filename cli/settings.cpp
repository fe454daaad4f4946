#include "settings.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "recur/common.h"
#include "recur/data/text_file.h"

namespace recur::cli {

namespace {

std::string trim(std::string_view s) {
  const auto begin = s.find_first_not_of(" \t\r");
  if (begin == std::string_view::npos) return {};
  const auto end = s.find_last_not_of(" \t\r");
  return std::string(s.substr(begin, end - begin + 1));
}

std::string dashed(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return key;
}

bool parse_number(const std::string& s, double& out) {
  const char* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && ptr == end;
}

// TOML basic string: "…" with \" and \\ escapes.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string option_value(const CLI::Option& opt) {
  const bool is_flag = opt.get_expected_min() == 0;
  if (opt.count() > 0) {
    const auto& r = opt.results();
    if (is_flag) {
      // A flag given on the command line has no text ("") or "true"/"false" from a file.
      const std::string v = r.empty() ? "" : r.back();
      return v == "false" || v == "0" ? "false" : "true";
    }
    // A flag given twice takes its last value (MultiOptionPolicy::TakeLast), a list all of them.
    if (opt.get_items_expected_max() <= 1) return r.empty() ? std::string() : r.back();
    std::string joined;
    for (const std::string& v : r) joined += (joined.empty() ? "" : " ") + v;
    return joined;
  }
  if (is_flag) return "false";
  return opt.get_default_str();
}

}  // namespace

std::set<std::string> given_options(const CLI::App& command) {
  std::set<std::string> given;
  for (const CLI::Option* opt : command.get_options())
    if (opt->count() > 0) given.insert(opt->get_name());
  return given;
}

Settings current_settings(const CLI::App& command, const std::set<std::string>& excluded) {
  Settings out;
  for (const CLI::Option* opt : command.get_options()) {
    const std::string name = opt->get_name();
    if (name.rfind("--", 0) != 0 || name == "--help" || excluded.count(name)) continue;
    out.push_back({name.substr(2), option_value(*opt), 0});
  }
  return out;
}

Settings read_config_file(const std::string& path, const std::string& task) {
  std::istringstream in(data::read_file(path));
  Settings out;
  int line_no = 0;
  for (std::string raw; std::getline(in, raw);) {
    ++line_no;
    std::string line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    RECUR_REQUIRE(line[0] != '[',
                  fmt::format("{}:{}: sections are not used; write `key = value` lines", path, line_no));
    const auto eq = line.find('=');
    RECUR_REQUIRE(eq != std::string::npos,
                  fmt::format("{}:{}: expected `key = value`, got `{}`", path, line_no, line));
    const std::string key = dashed(trim(line.substr(0, eq)));
    std::string value = trim(line.substr(eq + 1));
    RECUR_REQUIRE(!key.empty(), fmt::format("{}:{}: a setting has no key", path, line_no));
    if (!value.empty() && value[0] == '"') {
      std::string unquoted;
      size_t i = 1;
      for (; i < value.size() && value[i] != '"'; ++i) {
        if (value[i] == '\\' && i + 1 < value.size()) ++i;
        unquoted += value[i];
      }
      RECUR_REQUIRE(i < value.size(), fmt::format("{}:{}: unterminated string in `{}`", path, line_no, line));
      const std::string rest = trim(value.substr(i + 1));
      RECUR_REQUIRE(rest.empty() || rest[0] == '#',
                    fmt::format("{}:{}: unexpected text after the string: `{}`", path, line_no, rest));
      value = unquoted;
    } else if (const auto hash = value.find('#'); hash != std::string::npos) {
      value = trim(value.substr(0, hash));
    }
    if (key == "task") {
      RECUR_REQUIRE(value == task,
                    fmt::format("{}:{}: the file is for `recur train {}`, not `recur train {}`", path,
                                line_no, value, task));
      continue;
    }
    RECUR_REQUIRE(!find_setting(out, key), fmt::format("{}:{}: {} is set twice", path, line_no, key));
    out.push_back({key, value, line_no});
  }
  return out;
}

std::string settings_to_toml(const Settings& settings, const std::string& task) {
  std::string out = fmt::format(
      "# The resolved settings of a `recur train {}` run. Repeat the run with\n"
      "#   recur train {} --config <this file>\n"
      "# (flags given on the command line override these).\n",
      task, task);
  out += fmt::format("task = {}\n", quoted(task));
  for (const Setting& s : settings) {
    double number = 0;
    const bool bare =
        s.value == "true" || s.value == "false" || (parse_number(s.value, number) && std::isfinite(number));
    out += fmt::format("{} = {}\n", s.key, bare ? s.value : quoted(s.value));
  }
  return out;
}

const Setting* find_setting(const Settings& settings, const std::string& key) {
  for (const Setting& s : settings)
    if (s.key == key) return &s;
  return nullptr;
}

std::string nearest_option(const CLI::App& command, const std::string& name) {
  std::vector<std::string> flags;
  for (const CLI::Option* opt : command.get_options())
    if (opt->get_name().rfind("--", 0) == 0) flags.push_back(opt->get_name());
  return nearest_name(dashed(name), flags);
}

std::string nearest_name(const std::string& wanted, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::max<size_t>(3, wanted.size() / 3) + 1;
  for (const std::string& candidate : candidates) {
    const size_t d = edit_distance(wanted, candidate);
    if (d < best_distance || (candidate.find(wanted) == 0 && wanted.size() >= 4 && d < best_distance + 8)) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

void apply_settings(CLI::App& command, const Settings& settings, const std::set<std::string>& given,
                    const std::string& origin, bool ignore_unknown) {
  for (const Setting& s : settings) {
    const std::string where = s.line > 0 ? fmt::format("{}:{}", origin, s.line) : origin;
    const std::string flag = "--" + s.key;
    CLI::Option* opt = command.get_option_no_throw(flag);
    if (!opt || s.key == "help") {
      if (ignore_unknown) continue;
      const std::string near = nearest_option(command, flag);
      throw Error(fmt::format("{}: unknown setting '{}'{}", where, s.key,
                              near.empty() ? "" : fmt::format(" (did you mean {}?)", near.substr(2))));
    }
    if (given.count(flag)) continue;  // the command line wins
    try {
      opt->clear();
      const bool is_flag = opt->get_expected_min() == 0;
      if (is_flag) {
        RECUR_REQUIRE(s.value == "true" || s.value == "false",
                      fmt::format("{}: {} is a switch: true or false, got '{}'", where, s.key, s.value));
        if (s.value == "false") continue;  // absent is false
      }
      opt->add_result(s.value);
      opt->run_callback();
    } catch (const CLI::Error& e) {
      throw Error(fmt::format("{}: {} = '{}': {}", where, s.key, s.value, e.what()));
    }
  }
}

bool same_value(const std::string& a, const std::string& b) {
  if (a == b) return true;
  double x = 0, y = 0;
  return parse_number(a, x) && parse_number(b, y) && x == y;
}

}  // namespace recur::cli
