// The run directory of `recur train TASK` (--checkpoint-dir): one run at a time, and a run's files
// replaced only on purpose.
#pragma once

#include <filesystem>

#include "recur/io/safetensors.h"

namespace recur::cli {

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
  int lock_fd_ = -1;
};

}  // namespace recur::cli
