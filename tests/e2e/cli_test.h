// The e2e fixture: runs the `recur` binary in a temporary directory of its own, as a user would.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "recur/io/safetensors.h"

namespace recur {

namespace fs = std::filesystem;

inline namespace e2e {
struct Result {
  int exit_code = -1;
  std::string out, err;
};

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("recur_e2e_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
            "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // 30,000 characters of tiny-shakespeare: enough for a few dozen small batches.
    const std::string text = slurp(RECUR_DATA_DIR "/tinyshakespeare/input.txt").substr(0, 30000);
    std::ofstream(dir_ / "text.txt", std::ios::binary) << text;
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // Runs `recur <args>` in the test directory with 1 thread (and `env`, e.g. "RECUR_BLAS=reference").
  Result run(const std::string& args, const std::string& env = "") const {
    const std::string cmd = "cd '" + dir_.string() + "' && RECUR_NUM_THREADS=1 " + env + " '" RECUR_CLI "' " +
                            args + " > stdout.txt 2> stderr.txt";
    const int status = std::system(cmd.c_str());
    Result r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(dir_ / "stdout.txt");
    r.err = slurp(dir_ / "stderr.txt");
    return r;
  }

  static std::string small_model() {
    return "--data text.txt --rnn-size 32 --num-layers 2 --embedding-size 16 --batch-size 8 --seq-length 16 "
           "--progress log --log-every 5 --seed 7";
  }

  fs::path dir_;
};

// Two checkpoint files hold the same tensors, byte for byte (names, dtypes, shapes and data).
inline ::testing::AssertionResult same_model(const fs::path& a, const fs::path& b) {
  const io::Safetensors x = io::Safetensors::read_file(a.string()),
                        y = io::Safetensors::read_file(b.string());
  if (x.names() != y.names())
    return ::testing::AssertionFailure() << a << " and " << b << " hold different tensors";
  for (const std::string& name : x.names())
    if (!(x.entry(name) == y.entry(name))) return ::testing::AssertionFailure() << name << " differs";
  return ::testing::AssertionSuccess();
}

}  // namespace e2e
}  // namespace recur
