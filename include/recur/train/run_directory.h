// The run directory of `recur train TASK` (--checkpoint-dir): one run at a time, and a run's files
// replaced only on purpose. The Trainer writes into a directory without locking it: a program that
// trains holds a RunDirectory for options.checkpoint_dir from before it writes anything there
// (config.toml) until run() returns, as every `recur train` task does.
#pragma once

#include <filesystem>

#include "recur/io/safetensors.h"

namespace recur::train {

class RunDirectory {
 public:
  // Creates `dir` if needed and locks it for this process: flock on dir/.lock, which the system
  // releases when the process ends, even by kill -9. A directory another process holds is an error
  // naming that process. A directory that holds a run (best.safetensors or last.safetensors) is an
  // error unless it is the run being resumed (`resume_from`: a checkpoint in `dir`, or a copy of one
  // of the run's checkpoints, told by its run id), or `overwrite`, which removes that run's files
  // first. Temporary files that interrupted writes left behind (*.tmp-*) are removed.
  RunDirectory(const std::filesystem::path& dir, const io::Safetensors* resume_from, bool overwrite);
  ~RunDirectory();
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;

 private:
  // With the lock held: refuses another run's files, removes them on overwrite, and the leftovers.
  void claim(const std::filesystem::path& dir, const io::Safetensors* resume_from, bool overwrite);
  int lock_fd_ = -1;
};

}  // namespace recur::train
