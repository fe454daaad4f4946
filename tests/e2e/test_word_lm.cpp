// recur train lm --tokens word on slices of the bundled Penn Treebank: train → sample → eval →
// inspect, and resume bit for bit.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "cli_test.h"
#include "recur/data/text_file.h"
#include "recur/io/safetensors.h"

namespace recur {
namespace {

class WordLm : public Cli {
 protected:
  void SetUp() override {
    Cli::SetUp();
    // About 100 kB of training text and 20 kB of validation, cut at line ends.
    const auto cut = [](const std::string& text, size_t bytes) {
      return text.substr(0, text.find('\n', bytes) + 1);
    };
    std::ofstream(dir_ / "train.txt") << cut(data::read_file(RECUR_DATA_DIR "/ptb/ptb.train.txt.gz"), 100000);
    std::ofstream(dir_ / "valid.txt") << cut(data::read_file(RECUR_DATA_DIR "/ptb/ptb.valid.txt.gz"), 20000);
  }
  static std::string words() {
    return "train lm --tokens word --data train.txt --val-data valid.txt --min-freq 2 --rnn-size 32 "
           "--embedding-size 32 --tied --num-layers 2 --batch-size 8 --seq-length 12 --optimizer sgd "
           "--learning-rate 1 --init-range 0.1 --progress log --seed 5";
  }
};

TEST_F(WordLm, TrainSampleEvalInspectResume) {
  const Result train = run(words() + " --max-iters 40 --eval-val-every 20 --checkpoint-dir cv");
  ASSERT_EQ(train.exit_code, 0) << train.err;
  const io::Safetensors best = io::Safetensors::read_file((dir_ / "cv/best.safetensors").string());
  const auto vocab = nlohmann::json::parse(best.metadata().at("recur.vocab"));
  EXPECT_EQ(vocab.at("kind"), "word");
  EXPECT_EQ(vocab.at("specials"), (nlohmann::json{"<unk>", "<eos>"}));
  const auto V = vocab.at("tokens").size();
  EXPECT_GT(V, 500u);

  const Result sample = run("sample cv/best.safetensors --length 60 --seed 2 --prime-text 'the company'");
  ASSERT_EQ(sample.exit_code, 0) << sample.err;
  EXPECT_EQ(sample.out.rfind("the company ", 0), 0u) << sample.out;
  EXPECT_EQ(run("sample cv/best.safetensors --length 60 --seed 2 --prime-text 'the company'").out,
            sample.out);

  const Result eval = run("eval cv/best.safetensors valid.txt --json");
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const auto e = nlohmann::json::parse(eval.out);
  EXPECT_FALSE(e.contains("bpc"));
  const double ppl = e.at("perplexity").get<double>();
  EXPECT_LT(ppl, static_cast<double>(V));  // better than uniform after 40 steps
  EXPECT_GT(ppl, 50.0);
  // The validation loss of the best checkpoint at batch 8 and at batch 1 (eval) are the same
  // quantity up to where the streams are cut: close, not equal.
  const double val = nlohmann::json::parse(best.metadata().at("recur.best")).at("best_value").get<double>();
  EXPECT_NEAR(e.at("loss").get<double>(), val, 0.15);

  const Result inspect = run("inspect cv/last.safetensors");
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_NE(inspect.out.find("words: <unk> <eos> the"), std::string::npos) << inspect.out;

  // 20 steps, stop, resume to 40: the same weights as 40 straight.
  ASSERT_EQ(run(words() + " --max-iters 20 --eval-val-every 20 --checkpoint-dir split").exit_code, 0);
  const Result resumed = run("train lm --resume split/last.safetensors --max-iters 40");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_TRUE(same_model(dir_ / "cv/last.safetensors", dir_ / "split/last.safetensors"));
}

// Bengio et al.'s fixed-window model through the same commands: train → sample → eval → inspect,
// resume bit for bit, and the recurrent flags it has no use for are errors.
TEST_F(WordLm, TheWindowModelTrainsSamplesEvaluatesAndResumes) {
  const std::string window =
      "train lm --tokens word --data train.txt --val-data valid.txt --min-freq 2 --model window --window 3 "
      "--rnn-size 32 --embedding-size 16 --dropout 0.2 --batch-size 64 --optimizer adam --learning-rate 3e-3 "
      "--progress log --seed 5";
  const Result train = run(window + " --max-iters 60 --eval-val-every 30 --checkpoint-dir win");
  ASSERT_EQ(train.exit_code, 0) << train.err;
  EXPECT_NE(train.err.find("model window of 3 tokens: embedding 16 → tanh 32"), std::string::npos)
      << train.err;
  const io::Safetensors best = io::Safetensors::read_file((dir_ / "win/best.safetensors").string());
  const auto config = nlohmann::json::parse(best.metadata().at("recur.config"));
  EXPECT_EQ(config.at("model"), "window");
  EXPECT_EQ(config.at("window"), 3);
  const auto V = nlohmann::json::parse(best.metadata().at("recur.vocab")).at("tokens").size();

  const Result sample = run("sample win/best.safetensors --length 30 --seed 2 --prime-text 'the company'");
  ASSERT_EQ(sample.exit_code, 0) << sample.err;
  EXPECT_EQ(sample.out.rfind("the company", 0), 0u) << sample.out;
  EXPECT_GT(sample.out.size(), 60u) << sample.out;  // 30 words after it
  EXPECT_EQ(run("sample win/best.safetensors --length 30 --seed 2 --prime-text 'the company'").out,
            sample.out);

  // eval scores every word of the file but the first, each from the 3 before it; the best
  // checkpoint's validation loss is the same number (the same examples, one file).
  const Result eval = run("eval win/best.safetensors valid.txt --json");
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const auto e = nlohmann::json::parse(eval.out);
  const double val = nlohmann::json::parse(best.metadata().at("recur.best")).at("best_value").get<double>();
  constexpr double kFloatSums = 1e-5;  // the same float losses summed in batches of other sizes
  EXPECT_NEAR(e.at("loss").get<double>(), val, kFloatSums);
  EXPECT_LT(e.at("perplexity").get<double>(), static_cast<double>(V));

  const Result inspect = run("inspect win/last.safetensors");
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_NE(inspect.out.find("hidden.weight"), std::string::npos) << inspect.out;

  ASSERT_EQ(run(window + " --max-iters 30 --eval-val-every 30 --checkpoint-dir split").exit_code, 0);
  const Result resumed = run("train lm --resume split/last.safetensors --max-iters 60");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_TRUE(same_model(dir_ / "win/last.safetensors", dir_ / "split/last.safetensors"));

  const Result layers = run(window + " --num-layers 3 --max-iters 1");
  EXPECT_NE(layers.exit_code, 0);
  EXPECT_NE(layers.err.find("--num-layers does not apply to --model window"), std::string::npos)
      << layers.err;
}

TEST_F(WordLm, AValidationFileOfUnknownWordsWarns) {
  std::ofstream(dir_ / "french.txt") << " le chat est sur le tapis \n le chien aussi \n";
  const Result r = run(words() + " --val-data french.txt --batch-size 1 --seq-length 4 --max-iters 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("of french.txt's tokens are outside the training vocabulary and read as <unk>"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace recur
