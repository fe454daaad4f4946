// recur train lm --items lines on the bundled names: each line one item from <bos> to <eos>;
// train → sample --count → eval → inspect, and resume bit for bit.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli_test.h"
#include "recur/data/text_file.h"
#include "recur/io/safetensors.h"

namespace recur {
namespace {

class LinesLm : public Cli {
 protected:
  void SetUp() override {
    Cli::SetUp();
    const std::string names = data::read_file(RECUR_DATA_DIR "/names/names.txt.gz");
    std::ofstream(dir_ / "names.txt") << names.substr(0, names.find('\n', 30000) + 1);  // ~4,500 names
  }
  static std::string lines() {
    return "train lm --items lines --data names.txt --rnn-size 32 --num-layers 1 --embedding-size 16 "
           "--batch-size 16 --bucket 4 --optimizer adam --learning-rate 0.01 --lr-schedule constant "
           "--val-frac 0.1 "
           "--progress log --seed 3";
  }
};

TEST_F(LinesLm, TrainSampleEvalInspectResume) {
  const Result train = run(lines() + " --max-iters 60 --eval-val-every 30 --checkpoint-dir cv");
  ASSERT_EQ(train.exit_code, 0) << train.err;
  EXPECT_NE(train.err.find("vocabulary 28, items train "), std::string::npos) << train.err;

  const Result sample = run("sample cv/best.safetensors --count 12 --seed 4");
  ASSERT_EQ(sample.exit_code, 0) << sample.err;
  std::istringstream out(sample.out);
  int count = 0;
  for (std::string name; std::getline(out, name); ++count) {
    EXPECT_LE(name.size(), 40u) << name;
    for (char ch : name) EXPECT_TRUE(ch >= 'a' && ch <= 'z') << "'" << name << "'";
  }
  EXPECT_EQ(count, 12);
  EXPECT_EQ(run("sample cv/best.safetensors --count 12 --seed 4").out, sample.out);
  const Result primed = run("sample cv/best.safetensors --count 3 --prime-text ma --seed 1");
  std::istringstream p(primed.out);
  for (std::string name; std::getline(p, name);) EXPECT_EQ(name.rfind("ma", 0), 0u) << name;

  const Result eval = run("eval cv/best.safetensors names.txt --json");
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const auto e = nlohmann::json::parse(eval.out);
  // Every character and one <eos> per name.
  std::ifstream in(dir_ / "names.txt");
  long chars = 0, names = 0;
  for (std::string line; std::getline(in, line); ++names) chars += static_cast<long>(line.size());
  EXPECT_EQ(e.at("tokens").get<long>(), chars + names);
  EXPECT_LT(e.at("loss").get<double>(), std::log(27.0));  // better than uniform

  const Result inspect = run("inspect cv/best.safetensors");
  EXPECT_NE(inspect.out.find("\"items\":\"lines\""), std::string::npos) << inspect.out;

  ASSERT_EQ(run(lines() + " --max-iters 30 --eval-val-every 30 --checkpoint-dir split").exit_code, 0);
  const Result resumed = run("train lm --resume split/last.safetensors --max-iters 60");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_TRUE(same_model(dir_ / "cv/last.safetensors", dir_ / "split/last.safetensors"));
}

TEST_F(LinesLm, CountIsForPerLineModels) {
  ASSERT_EQ(run("train " + small_model() + " --max-iters 2 --checkpoint-dir stream").exit_code, 0);
  const Result r = run("sample stream/best.safetensors --count 5");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("reads text as one stream: --count counts the items of a per-line model"),
            std::string::npos)
      << r.err;
  std::ofstream(dir_ / "blank.txt") << "\n  \n\n";
  const Result blank = run("train lm --items lines --data blank.txt --max-iters 1");
  EXPECT_NE(blank.exit_code, 0);
  EXPECT_NE(blank.err.find("blank.txt: no items: all 3 lines are blank"), std::string::npos) << blank.err;
}

// Bundled sets by name; a file of that name here wins.
TEST_F(LinesLm, BundledDataByName) {
  const Result r =
      run("train lm --items lines --data names --rnn-size 8 --num-layers 1 --batch-size 64 "
          "--max-iters 2 --progress log --checkpoint-dir bundled");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("data names: vocabulary 28, items train 30431 / val 1602"), std::string::npos)
      << r.err;
  std::ofstream(dir_ / "names") << "ann\nbob\ncid\n";
  const Result local =
      run("train lm --items lines --data names --rnn-size 8 --num-layers 1 --batch-size 2 "
          "--max-iters 2 --progress log --checkpoint-dir local");
  ASSERT_EQ(local.exit_code, 0) << local.err;
  EXPECT_NE(local.err.find("items train 2 / val 1"), std::string::npos) << local.err;
  // recur eval takes the bundled names too.
  const Result eval = run("eval bundled/last.safetensors names --json");
  EXPECT_EQ(eval.exit_code, 0) << eval.err;
}

}  // namespace
}  // namespace recur
