#include "recur/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "recur/common.h"

namespace recur::io {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what, int err) {
  throw Error(fmt::format("cannot write '{}': {}: {}", path, what, std::strerror(err)));
}

// The directory holding `path` ("." for a bare file name).
std::string parent_directory(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// A temporary name next to `path` that no other writer (thread or process) will pick at the same
// time: pid, a process-wide counter and the clock, mixed. O_EXCL settles any collision anyway.
std::string temporary_name(const std::string& path, int attempt) {
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t x = static_cast<std::uint64_t>(::getpid()) << 32;
  x ^= counter.fetch_add(1) * 0x9E3779B97F4A7C15ULL;
  x ^= static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  x ^= static_cast<std::uint64_t>(attempt) << 48;
  x ^= x >> 33;  // a round of murmur3's finalizer spreads every input bit over the 32 we keep
  x *= 0xFF51AFD7ED558CCDULL;
  x ^= x >> 33;
  return fmt::format("{}.tmp-{:08x}", path, static_cast<std::uint32_t>(x));
}

bool write_all(int fd, const std::byte* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

void write_file_atomic(const std::string& path, std::span<const std::byte> bytes) {
  RECUR_CHECK(!path.empty() && path.back() != '/', fmt::format("cannot write '{}': not a file path", path));
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp = temporary_name(path, attempt);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) fail(path, fmt::format("creating '{}'", tmp), errno);
  }
  if (fd < 0) fail(path, fmt::format("creating a temporary file like '{}'", tmp), EEXIST);

  // From here on, a failure removes the temporary file (saving errno first: close and unlink may
  // overwrite it) and leaves `path` as it was.
  auto abandon = [&](const std::string& what, bool close_fd) {
    const int err = errno;
    if (close_fd) ::close(fd);
    ::unlink(tmp.c_str());
    fail(path, what, err);
  };
  if (!write_all(fd, bytes.data(), bytes.size())) abandon(fmt::format("writing '{}'", tmp), true);
  if (::fsync(fd) != 0) abandon(fmt::format("syncing '{}'", tmp), true);
  if (::close(fd) != 0) abandon(fmt::format("closing '{}'", tmp), false);
  if (::rename(tmp.c_str(), path.c_str()) != 0) abandon(fmt::format("renaming '{}' over it", tmp), false);

  // The new content is in place; make the rename durable. A failure here is still reported, since
  // a crash could now bring the old file back.
  const std::string dir = parent_directory(path);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) fail(path, fmt::format("opening directory '{}' to sync it", dir), errno);
  // EINVAL: the file system cannot sync directories, and there is nothing more to do.
  if (::fsync(dir_fd) != 0 && errno != EINVAL) {
    const int err = errno;
    ::close(dir_fd);
    fail(path, fmt::format("syncing directory '{}'", dir), err);
  }
  ::close(dir_fd);
}

std::vector<std::byte> read_file_bytes(const std::string& path) {
  auto fail_read = [&](const std::string& what, int err) {
    throw Error(fmt::format("cannot read '{}': {}: {}", path, what, std::strerror(err)));
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_read("open", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail_read("stat", err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(fmt::format("cannot read '{}': not a regular file", path));
  }
  std::vector<std::byte> bytes(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      if (n == 0) throw Error(fmt::format("cannot read '{}': the file shrank while being read", path));
      fail_read("read", err);
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return bytes;
}

}  // namespace recur::io
