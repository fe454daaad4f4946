#include "recur/train/run_directory.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "recur/common.h"
#include "recur/train/trainer.h"

namespace recur::train {

namespace fs = std::filesystem;

namespace {

// The files a run writes, removed by --overwrite.
constexpr const char* kRunFiles[] = {"best.safetensors", "last.safetensors", "metrics.jsonl", "loss.svg",
                                     "config.toml"};

std::string read_small_file(int fd) {
  char buffer[64] = {};
  const ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
  return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
}

// Whether `checkpoint` continues the run in `dir`: it is one of dir's files, or a copy of a
// checkpoint of the run whose last.safetensors is there (a run resumed from a backup). A run from
// elsewhere continued into dir would mix two runs' logs, curves and best models.
bool is_run_of(const fs::path& dir, const io::Safetensors& checkpoint) {
  std::error_code ec;
  const fs::path file(checkpoint.source());
  if (fs::equivalent(file.has_parent_path() ? file.parent_path() : fs::path("."), dir, ec)) return true;
  const fs::path last = dir / "last.safetensors";
  if (!fs::exists(last, ec)) return !fs::exists(dir / "best.safetensors", ec);  // no run here
  const std::optional<std::string> id = run_id_of(checkpoint);
  try {
    return id && run_id_of(io::Safetensors::read_file(last.string())) == id;
  } catch (const Error&) {
    return false;  // a damaged last.safetensors is not shown to be this run's
  }
}

}  // namespace

RunDirectory::RunDirectory(const fs::path& dir, const io::Safetensors* resume_from, bool overwrite) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  RECUR_REQUIRE(!ec, fmt::format("cannot create the run directory {}: {}", dir.string(), ec.message()));
  const fs::path lock = dir / ".lock";
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  RECUR_REQUIRE(lock_fd_ >= 0, fmt::format("cannot open {}: {}", lock.string(), std::strerror(errno)));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const std::string holder = read_small_file(lock_fd_);
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw Error(
        fmt::format("{} is in use by another recur train ({}); wait for it to end or choose another "
                    "--checkpoint-dir",
                    dir.string(), holder.empty() ? "a process" : "pid " + holder));
  }
  // The pid, for the message a second run gets (best effort: the lock holds without it).
  const std::string pid = std::to_string(::getpid());
  [[maybe_unused]] const bool noted =
      ::ftruncate(lock_fd_, 0) == 0 && ::pwrite(lock_fd_, pid.data(), pid.size(), 0) == ssize_t(pid.size());

  try {
    claim(dir, resume_from, overwrite);
  } catch (...) {
    ::close(lock_fd_);  // a refused run lets the directory go (a constructor that throws has no destructor)
    lock_fd_ = -1;
    throw;
  }
}

void RunDirectory::claim(const fs::path& dir, const io::Safetensors* resume_from, bool overwrite) {
  std::error_code ec;
  if (!resume_from || !is_run_of(dir, *resume_from)) {
    const bool has_run = fs::exists(dir / "best.safetensors") || fs::exists(dir / "last.safetensors");
    RECUR_REQUIRE(!has_run || overwrite,
                  resume_from
                      ? fmt::format("{} holds another run than {}; resuming into it would mix the two runs' "
                                    "files: choose another --checkpoint-dir, or replace that run with "
                                    "--overwrite",
                                    dir.string(), resume_from->source())
                      : fmt::format("{} holds a run already; continue it with --resume {}, replace it with "
                                    "--overwrite, or choose another --checkpoint-dir",
                                    dir.string(), (dir / "last.safetensors").string()));
    if (overwrite)
      for (const char* name : kRunFiles) fs::remove(dir / name, ec);
  }
  // Leftovers of writes a crash interrupted (io/atomic_file.h names them <file>.tmp-<hex>): no
  // other process writes here while the lock is held.
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".tmp-") != std::string::npos && entry.is_regular_file(ec)) fs::remove(entry.path(), ec);
  }
}

RunDirectory::~RunDirectory() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

}  // namespace recur::train
