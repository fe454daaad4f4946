// recur train TASK's shared machinery, as a user meets it: the resolved config.toml every run
// writes and --config reading it back (a bit-identical rerun), --config's errors, --resume with a
// flag given again at the run's value, and gzip data.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "cli_test.h"
#include "recur/io/safetensors.h"

namespace recur {
namespace {

TEST_F(Cli, TheResolvedConfigRepeatsTheRunBitForBit) {
  const Result first = run("train lm " + small_model() +
                           " --max-iters 12 --eval-val-every 6 --dropout 0.2 --optimizer adam --tied "
                           "--checkpoint-dir cv");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string toml = slurp(dir_ / "cv/config.toml");
  for (const char* line : {"task = \"lm\"", "rnn-size = 32", "dropout = 0.2", "optimizer = \"adam\"",
                           "tied = true", "data = \"text.txt\"", "max-iters = 12", "learning-rate = 0.002"})
    EXPECT_NE(toml.find(std::string("\n") + line + "\n"), std::string::npos) << line << "\n" << toml;
  // Every setting, defaults included, so the file alone defines the run.
  EXPECT_NE(toml.find("\nlr-schedule = \"char-rnn\"\n"), std::string::npos) << toml;
  const Result again = run("train lm --config cv/config.toml --checkpoint-dir cv2");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(same_model(dir_ / "cv/last.safetensors", dir_ / "cv2/last.safetensors"));
  EXPECT_TRUE(same_model(dir_ / "cv/best.safetensors", dir_ / "cv2/best.safetensors"));
  // A flag on the command line wins over the file.
  const Result changed = run("train lm --config cv/config.toml --checkpoint-dir cv3 --max-iters 3");
  ASSERT_EQ(changed.exit_code, 0) << changed.err;
  EXPECT_NE(slurp(dir_ / "cv3/config.toml").find("\nmax-iters = 3\n"), std::string::npos);
  EXPECT_NE(changed.err.find("iteration 3/3"), std::string::npos) << changed.err;
}

TEST_F(Cli, ConfigErrorsNameTheFileAndLine) {
  const auto error_of = [&](const std::string& text) {
    std::ofstream(dir_ / "run.toml") << text;
    const Result r = run("train lm --config run.toml --max-iters 1");
    EXPECT_NE(r.exit_code, 0) << text;
    return r.err;
  };
  EXPECT_NE(error_of("# a run\nrnn-size = 16\nrnn-sise = 32\n")
                .find("run.toml:3: unknown setting 'rnn-sise' (did you mean rnn-size?)"),
            std::string::npos);
  EXPECT_NE(error_of("rnn-size = \"big\"\n").find("run.toml:1: rnn-size = 'big'"), std::string::npos);
  EXPECT_NE(error_of("tied = maybe\n").find("run.toml:1: tied is a switch: true or false, got 'maybe'"),
            std::string::npos);
  EXPECT_NE(error_of("task = \"tag\"\n")
                .find("run.toml:1: the file is for `recur train tag`, not `recur train lm`"),
            std::string::npos);
  EXPECT_NE(error_of("just words\n").find("run.toml:1: expected `key = value`"), std::string::npos);
  const Result missing = run("train lm --config nowhere.toml");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("nowhere.toml: cannot open"), std::string::npos) << missing.err;
}

TEST_F(Cli, ResumeAcceptsAFlagGivenAgainWithTheRunsValue) {
  ASSERT_EQ(
      run("train " + small_model() + " --learning-rate 0.003 --max-iters 4 --checkpoint-dir cv").exit_code,
      0);
  // The run's own values, spelled differently (3e-3 is 0.003), and a length flag that may change.
  const Result r = run("train --resume cv/last.safetensors --learning-rate 3e-3 --rnn-size 32 --max-iters 6");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("resuming at iteration 4"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("iteration 6/6"), std::string::npos) << r.err;
  const Result changed = run("train --resume cv/last.safetensors --rnn-size 64 --max-iters 8");
  EXPECT_NE(changed.exit_code, 0);
  EXPECT_NE(changed.err.find("--rnn-size 64 differs from the run's 32"), std::string::npos) << changed.err;
}

TEST_F(Cli, GzipDataTrainsAsItsPlainTwin) {
  ASSERT_EQ(std::system(("gzip -k '" + (dir_ / "text.txt").string() + "'").c_str()), 0);
  ASSERT_EQ(run("train " + small_model() + " --max-iters 3 --checkpoint-dir plain").exit_code, 0);
  std::string args = small_model();
  args.replace(args.find("--data text.txt"), 15, "--data text.txt.gz");
  const Result gz = run("train " + args + " --max-iters 3 --checkpoint-dir gz");
  ASSERT_EQ(gz.exit_code, 0) << gz.err;
  EXPECT_TRUE(same_model(dir_ / "plain/last.safetensors", dir_ / "gz/last.safetensors"));
  const Result eval = run("eval gz/last.safetensors text.txt.gz --json");
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_EQ(nlohmann::json::parse(eval.out).at("tokens"), 29999);
}

}  // namespace
}  // namespace recur

namespace recur {
namespace {

// --val-data validates on its own file; --test-data scores the best model on another when training
// ends, as recur eval would.
TEST_F(Cli, ValidationAndTestFilesOfTheirOwn) {
  const std::string text = slurp(dir_ / "text.txt");
  std::ofstream(dir_ / "train.txt") << text.substr(0, 20000);
  std::ofstream(dir_ / "val.txt") << text.substr(20000, 5000);
  std::ofstream(dir_ / "test.txt") << text.substr(25000, 5000);
  const Result r = run(
      "train lm --data train.txt --val-data val.txt --test-data test.txt --rnn-size 32 --num-layers 1 "
      "--embedding-size 16 --batch-size 8 --seq-length 16 --max-iters 20 --eval-val-every 10 --progress log "
      "--checkpoint-dir cv");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // 20,000 characters of 8 × 16 give 156 training batches, all of them (no split); 5,000 give 39.
  EXPECT_NE(r.err.find("batches train 156 / val 39 (from val.txt) / test 0"), std::string::npos) << r.err;
  nlohmann::json test;
  std::istringstream lines(slurp(dir_ / "cv/metrics.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.at("event") == "test") test = j;
  }
  ASSERT_FALSE(test.is_null()) << "no test record";
  EXPECT_EQ(test.at("checkpoint"), "best.safetensors");
  const auto eval = nlohmann::json::parse(run("eval cv/best.safetensors test.txt --json").out);
  EXPECT_EQ(test.at("test_loss").get<double>(), eval.at("loss").get<double>());
  EXPECT_EQ(test.at("test_tokens"), 4999);
  EXPECT_NE(r.err.find("test (best.safetensors): test.txt: 4999 predictions"), std::string::npos) << r.err;
  // Characters of the validation file the training data never had are named.
  std::ofstream(dir_ / "odd.txt") << text.substr(20000, 5000) + "\xE2\x82\xAC";
  const Result odd =
      run("train lm --data train.txt --val-data odd.txt --batch-size 8 --seq-length 16 --max-iters 1 "
          "--checkpoint-dir odd");
  EXPECT_NE(odd.exit_code, 0);
  EXPECT_NE(odd.err.find("odd.txt has 1 character not in the model's vocabulary"), std::string::npos)
      << odd.err;
}

}  // namespace
}  // namespace recur
