#include "recur/train/metrics_log.h"

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <utility>

#include "recur/common.h"
#include "recur/io/atomic_file.h"

namespace recur::train {
namespace {

// Enough to hold the last few complete lines of any realistic record.
constexpr long kTailBytes = 64 * 1024;

double steady_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// The file's last `kTailBytes` (or all of it), read from the current FILE*.
std::string read_tail(std::FILE* f, const std::filesystem::path& path) {
  RECUR_CHECK(std::fseek(f, 0, SEEK_END) == 0,
              fmt::format("metrics log {}: cannot seek ({})", path.string(), std::strerror(errno)));
  const long size = std::ftell(f);
  RECUR_CHECK(size >= 0,
              fmt::format("metrics log {}: cannot tell its size ({})", path.string(), std::strerror(errno)));
  const long start = size > kTailBytes ? size - kTailBytes : 0;
  RECUR_CHECK(std::fseek(f, start, SEEK_SET) == 0,
              fmt::format("metrics log {}: cannot seek ({})", path.string(), std::strerror(errno)));
  std::string tail(static_cast<size_t>(size - start), '\0');
  RECUR_CHECK(std::fread(tail.data(), 1, tail.size(), f) == tail.size(),
              fmt::format("metrics log {}: cannot read ({})", path.string(), std::strerror(errno)));
  // C requires a positioning call between reading and writing the same FILE*.
  RECUR_CHECK(std::fseek(f, 0, SEEK_END) == 0,
              fmt::format("metrics log {}: cannot seek ({})", path.string(), std::strerror(errno)));
  return tail;
}

// The "time_s" of the last complete line that parses as an object with a finite time_s, or 0.
double last_time_s(const std::string& tail) {
  size_t end = tail.rfind('\n');  // the end of the last complete line
  while (end != std::string::npos) {
    const size_t nl = end == 0 ? std::string::npos : tail.rfind('\n', end - 1);
    const size_t begin = nl == std::string::npos ? 0 : nl + 1;
    // The first line of a cut tail may be partial: it then simply fails to parse.
    const nlohmann::json j = nlohmann::json::parse(tail.data() + begin, tail.data() + end, nullptr, false);
    if (j.is_object() && j.contains("time_s") && j["time_s"].is_number()) {
      const double t = j["time_s"].get<double>();
      if (std::isfinite(t)) return t;
    }
    end = nl;
  }
  return 0;
}

}  // namespace

MetricsLog::MetricsLog(std::filesystem::path file, std::function<double()> clock)
    : path_(std::move(file)), clock_(std::move(clock)) {
  if (!clock_) clock_ = steady_seconds;
  // "a+": create or append; every write goes to the end, and the existing tail can be read.
  file_.reset(std::fopen(path_.c_str(), "a+b"));
  RECUR_CHECK(file_ != nullptr, fmt::format("cannot open metrics log {} for appending: {}", path_.string(),
                                            std::strerror(errno)));
  const std::string tail = read_tail(file_.get(), path_);
  time_offset_ = last_time_s(tail);
  if (!tail.empty() && tail.back() != '\n') {
    // A crash cut the last line: end it so that our first record starts a line of its own.
    RECUR_CHECK(std::fputc('\n', file_.get()) != EOF && std::fflush(file_.get()) == 0,
                fmt::format("cannot write metrics log {}: {}", path_.string(), std::strerror(errno)));
  }
  opened_at_ = clock_();
}

MetricsLog MetricsLog::in_run_dir(const std::filesystem::path& run_dir, std::function<double()> clock) {
  return MetricsLog(run_dir / kFileName, std::move(clock));
}

double MetricsLog::time_s() const {
  return time_offset_ + (clock_() - opened_at_);
}

std::vector<nlohmann::json> MetricsLog::read(const std::filesystem::path& file) {
  std::vector<nlohmann::json> records;
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    RECUR_CHECK(!std::filesystem::exists(file), fmt::format("cannot read metrics log {}", file.string()));
    return records;
  }
  for (std::string line; std::getline(in, line);) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object()) records.push_back(std::move(j));
  }
  return records;
}

void MetricsLog::truncate_after(const std::filesystem::path& file, long iteration) {
  if (!std::filesystem::exists(file)) return;
  std::string kept;
  bool dropped = false;
  for (const nlohmann::json& record : read(file)) {
    const auto at = record.find("iteration");
    if (at != record.end() && at->is_number() && at->get<double>() > static_cast<double>(iteration)) {
      dropped = true;
      continue;
    }
    kept += record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    kept += '\n';
  }
  if (!dropped && std::filesystem::file_size(file) == kept.size()) return;  // nothing to drop
  io::write_file_atomic(file.string(), std::as_bytes(std::span(kept.data(), kept.size())));
}

void MetricsLog::write(const nlohmann::json& record) {
  RECUR_CHECK(file_ != nullptr, "MetricsLog::write on a moved-from log");
  RECUR_CHECK(record.is_object(), fmt::format("metrics log {}: a record must be a JSON object, got {} {}",
                                              path_.string(), record.type_name(), record.dump()));
  nlohmann::json line = record;
  if (!line.contains("time_s")) line["time_s"] = time_s();
  // Replace invalid UTF-8 rather than throwing in the middle of training.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text += '\n';
  RECUR_CHECK(
      std::fwrite(text.data(), 1, text.size(), file_.get()) == text.size() && std::fflush(file_.get()) == 0,
      fmt::format("cannot write metrics log {}: {}", path_.string(), std::strerror(errno)));
}

}  // namespace recur::train
