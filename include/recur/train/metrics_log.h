// MetricsLog: a run's metrics as JSON lines (<run dir>/metrics.jsonl), one object per event:
//
//   {"epoch":0.5,"event":"train","grad_norm":0.8,"iteration":100,"loss":1.9,"lr":0.002,"skipped":0,
//    "steps":100,"time_s":12.5,"tokens":51200}
//   {"event":"val","iteration":100,"time_s":14.1,"tokens":51200,"val_loss":1.95}
//
// The records the trainer writes are documented in docs/run-directory.md. The caller chooses the fields; the
// log adds "time_s" (unless the record has one) and writes the object as one line, flushed at once, so a
// crash loses at most the line being written. Keys come out sorted (nlohmann::json's order); NaN and
// infinities come out as null.
//
// Opening an existing file appends to it (for --resume), and time_s continues from the last time_s
// in the file, so it counts the run's training time across restarts. If the file ends in a partial
// line (a crash mid-write), a newline is written first so the new lines stay parseable; readers
// should skip lines that do not parse.
#pragma once

#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <vector>

namespace recur::train {

class MetricsLog {
 public:
  static constexpr const char* kFileName = "metrics.jsonl";

  // Opens (creating or appending to) `file`; its directory must exist. `clock` gives monotonic
  // seconds (steady_clock by default); time_s is measured from this call.
  explicit MetricsLog(std::filesystem::path file, std::function<double()> clock = {});
  // The log of a run directory: <run_dir>/metrics.jsonl.
  static MetricsLog in_run_dir(const std::filesystem::path& run_dir, std::function<double()> clock = {});

  MetricsLog(MetricsLog&&) noexcept = default;
  MetricsLog& operator=(MetricsLog&&) noexcept = default;
  ~MetricsLog() = default;

  // Appends `record` (a JSON object) plus "time_s" as one line and flushes it.
  void write(const nlohmann::json& record);

  const std::filesystem::path& path() const { return path_; }
  // What write() would put in "time_s" now.
  double time_s() const;

  // Every record of `file` in order, skipping lines that do not parse as a JSON object (a line cut
  // by a crash). A missing file has no records.
  static std::vector<nlohmann::json> read(const std::filesystem::path& file);
  // Rewrites `file` (atomically) without the records past `iteration`, and without lines that do
  // not parse: a run resumed from its checkpoint at `iteration` trains those again, and its log
  // stays in order. Records without an iteration (a test score) are kept. A missing file stays so.
  static void truncate_after(const std::filesystem::path& file, long iteration);

 private:
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::filesystem::path path_;
  std::unique_ptr<std::FILE, Closer> file_;
  std::function<double()> clock_;
  double opened_at_ = 0;    // clock_() when opened
  double time_offset_ = 0;  // the last time_s already in the file
};

}  // namespace recur::train
