// data::read_file: a .gz file reads as its plain twin (one member or several), and bad files are
// errors naming them: truncated or corrupt gzip, a .gz name on plain bytes, a directory, a missing file.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "recur/data/text_file.h"
#include "test_util.h"

namespace recur::data {
namespace {

namespace fs = std::filesystem;
using testing::throws_error_with;

class ReadFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("recur_read_file_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    for (int i = 0; i < 4000; ++i) text_ += "line " + std::to_string(i) + ": the quick brown fox\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write(const std::string& name, const std::string& bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
  }
  // `text` gzip-compressed by zlib as gzip(1) does, in `members` members.
  std::string gzip(const std::string& text, int members = 1) const {
    const std::string tmp = path("tmp.gz");
    gzFile f = gzopen(tmp.c_str(), "wb");
    const size_t part = text.size() / static_cast<size_t>(members);
    for (int m = 0; m < members; ++m) {
      const size_t begin = part * static_cast<size_t>(m);
      const size_t end = m + 1 == members ? text.size() : begin + part;
      gzwrite(f, text.data() + begin, static_cast<unsigned>(end - begin));
      if (m + 1 < members) {
        gzclose(f);
        f = gzopen(tmp.c_str(), "ab");  // a new member appended
      }
    }
    gzclose(f);
    std::ifstream in(tmp, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  fs::path dir_;
  std::string text_;
};

TEST_F(ReadFile, AGzipFileReadsAsItsPlainTwin) {
  write("plain.txt", text_);
  EXPECT_EQ(read_file(path("plain.txt")), text_);
  const std::string gz = gzip(text_);
  ASSERT_LT(gz.size(), text_.size() / 2);  // really compressed
  write("data.txt.gz", gz);
  EXPECT_EQ(read_file(path("data.txt.gz")), text_);
  write("no_suffix", gz);  // told by its bytes, not its name
  EXPECT_EQ(read_file(path("no_suffix")), text_);
  write("members.gz", gzip(text_, 3));
  EXPECT_EQ(read_file(path("members.gz")), text_);
  write("empty.txt", "");
  EXPECT_EQ(read_file(path("empty.txt")), "");
}

TEST_F(ReadFile, BadFilesAreErrorsNamingThem) {
  const std::string gz = gzip(text_);
  write("cut.gz", gz.substr(0, gz.size() - 20));
  EXPECT_TRUE(throws_error_with([&] { read_file(path("cut.gz")); },
                                {path("cut.gz"), "the gzip data is corrupt or cut short"}));
  std::string corrupt = gz;
  corrupt[gz.size() / 2] = static_cast<char>(corrupt[gz.size() / 2] ^ 0x55);
  write("corrupt.gz", corrupt);
  EXPECT_TRUE(throws_error_with([&] { read_file(path("corrupt.gz")); },
                                {path("corrupt.gz"), "the gzip data is corrupt or cut short"}));
  write("plain.gz", text_);
  EXPECT_TRUE(throws_error_with([&] { read_file(path("plain.gz")); },
                                {path("plain.gz"), "the name ends in .gz but the file is not gzip"}));
  write("input.txt", text_);
  EXPECT_TRUE(throws_error_with([&] { read_file(dir_.string()); },
                                {"is a directory, not a file (did you mean", "input.txt?)"}));
  EXPECT_TRUE(throws_error_with([&] { read_file(path("missing.txt")); },
                                {path("missing.txt"), "cannot open (No such file or directory)"}));
  // A device never ends (reading /dev/zero grew without bound): refused before reading.
  EXPECT_TRUE(throws_error_with([&] { read_file("/dev/zero"); },
                                {"/dev/zero is not a regular file (a device or socket)"}));
}

// A pipe ends, so it is read: `--data <(zcat corpus.gz)`.
TEST_F(ReadFile, AFifoIsRead) {
  const std::string fifo = path("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] { std::ofstream(fifo, std::ios::binary) << text_; });
  const std::string got = read_file(fifo);
  writer.join();
  EXPECT_EQ(got, text_);
}

}  // namespace
}  // namespace recur::data
