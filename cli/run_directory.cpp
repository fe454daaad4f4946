#include "run_directory.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "recur/common.h"

namespace recur::cli {

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

}  // namespace

RunDirectory::RunDirectory(const fs::path& dir, bool resuming, bool overwrite) {
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

  if (!resuming) {
    const bool has_run = fs::exists(dir / "best.safetensors") || fs::exists(dir / "last.safetensors");
    RECUR_REQUIRE(
        !has_run || overwrite,
        fmt::format("{} holds a run already; continue it with --resume {}, replace it with --overwrite, "
                    "or choose another --checkpoint-dir",
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

}  // namespace recur::cli
