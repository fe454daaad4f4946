#include "recur/data/text_file.h"

#include <fmt/format.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "recur/common.h"

namespace recur::data {

namespace {

namespace fs = std::filesystem;

bool is_gzip(const std::string& bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

// Every gzip member of `bytes`, concatenated.
std::string gunzip(const std::string& bytes, const std::string& path) {
  z_stream z{};
  RECUR_CHECK(inflateInit2(&z, 15 + 16) == Z_OK, fmt::format("{}: zlib failed to start", path));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  std::string out;
  char buffer[1 << 16];
  int rc = Z_OK;
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof buffer;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - z.avail_out);
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0) break;
      if (inflateReset(&z) != Z_OK) break;  // another member follows
      continue;
    }
    if (rc != Z_OK) break;
    if (z.avail_in == 0 && z.avail_out != 0) {  // all input consumed inside a member
      rc = Z_BUF_ERROR;
      break;
    }
  }
  const std::string reason = z.msg ? z.msg : rc == Z_BUF_ERROR ? "the data ends inside a member" : "error";
  inflateEnd(&z);
  RECUR_CHECK(
      rc == Z_STREAM_END,
      fmt::format("{}: the gzip data is corrupt or cut short ({}); check it with gzip -t", path, reason));
  return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path guess = fs::path(path) / "input.txt";
    throw Error(fmt::format("{} is a directory, not a file{}", path,
                            fs::exists(guess, ec) ? fmt::format(" (did you mean {}?)", guess.string()) : ""));
  }
  // A device such as /dev/zero or /dev/urandom never ends: reading it would grow without bound.
  // Regular files are read, and FIFOs (a pipe: `--data <(zcat corpus.gz)`), which end.
  const fs::file_status status = fs::status(path, ec);
  if (!ec && status.type() != fs::file_type::regular && status.type() != fs::file_type::fifo)
    throw Error(fmt::format(
        "{} is not a regular file (a device or socket); recur reads text from files and pipes", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot open ({})", path, std::strerror(errno)));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) throw Error(fmt::format("{}: read error", path));
  std::string data = std::move(bytes).str();
  if (is_gzip(data)) return gunzip(data, path);
  RECUR_REQUIRE(
      !ends_with(path, ".gz"),
      fmt::format("{}: the name ends in .gz but the file is not gzip (it does not start with 1f 8b)", path));
  return data;
}

}  // namespace recur::data
