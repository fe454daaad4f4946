// recur train tag → eval → predict → resume, on small files cut from the shipped data
// (tests/fixtures/tagging): UD English EWT for parts of speech (CoNLL-U, softmax) and CoNLL-2000
// for chunks (column file, CRF).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_test.h"
#include "recur/data/text_file.h"

namespace recur {
namespace {

const std::string kFixtures = RECUR_FIXTURE_DIR "/tagging/";

std::string small_tagger() {
  return "--rnn-size 24 --embedding-size 24 --char-embedding-size 8 --char-rnn-size 8 --batch-size 8 "
         "--learning-rate 0.01 --progress log --seed 3";
}

nlohmann::json last_json_line(const std::string& out) {
  const size_t end = out.find_last_not_of('\n');
  const size_t begin = out.rfind('\n', end);
  return nlohmann::json::parse(out.substr(begin == std::string::npos ? 0 : begin + 1, end + 1));
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Parts of speech from CoNLL-U: training writes the run directory, selects the best model by
// accuracy, and learns far past the most frequent tag; eval scores a file; predict writes the file
// back with the column filled in, and tags plain text.
TEST_F(Cli, TaggerTrainsEvaluatesAndPredictsPartsOfSpeech) {
  const Result trained =
      run("train tag --data " + kFixtures + "ewt_train_120.conllu.gz --val-data " + kFixtures +
          "ewt_dev_40.conllu.gz --max-epochs 6 --checkpoint-dir pos " + small_tagger());
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  for (const char* file :
       {"best.safetensors", "last.safetensors", "metrics.jsonl", "loss.svg", "config.toml"})
    EXPECT_TRUE(fs::exists(dir_ / "pos" / file)) << file;
  EXPECT_NE(trained.err.find("best val accuracy"), std::string::npos) << trained.err;
  EXPECT_NE(slurp(dir_ / "pos/metrics.jsonl").find("\"val_accuracy\""), std::string::npos);

  const Result eval = run("eval pos/best.safetensors " + kFixtures + "ewt_dev_40.conllu.gz --json");
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const nlohmann::json m = last_json_line(eval.out);
  EXPECT_EQ(m.at("tokens"), 960);
  EXPECT_EQ(m.at("sentences"), 40);
  EXPECT_FALSE(m.contains("f1"));  // parts of speech are not chunks
  // NOUN, the most frequent tag, is 17% of these words: the tagger must have learned more.
  EXPECT_GT(m.at("accuracy").get<double>(), 50.0) << eval.out;
  // The best model's per-tag table and confusion matrix beside it, and from eval --report.
  for (const char* file : {"pos/tags.tsv", "pos/confusion.svg"}) EXPECT_TRUE(fs::exists(dir_ / file)) << file;
  ASSERT_EQ(run("eval pos/best.safetensors " + kFixtures + "ewt_dev_40.conllu.gz --report report").exit_code,
            0);
  long gold = 0;
  for (const std::string& line : lines_of(slurp(dir_ / "report/tags.tsv"))) {
    if (line.empty() || line[0] == '#' || line.rfind("tag\t", 0) == 0) continue;
    gold += std::stol(line.substr(line.find('\t') + 1));
  }
  EXPECT_EQ(gold, 960);  // every word counted once, under its gold tag
  EXPECT_NE(slurp(dir_ / "report/confusion.svg").find("<svg"), std::string::npos);

  const Result predicted = run("predict pos/best.safetensors " + kFixtures + "ewt_dev_40.conllu.gz");
  ASSERT_EQ(predicted.exit_code, 0) << predicted.err;
  const std::vector<std::string> out = lines_of(predicted.out);
  size_t words = 0, comments = 0;
  for (const std::string& line : out) {
    if (line.rfind("#", 0) == 0) ++comments;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> columns;
    std::istringstream fields(line);
    for (std::string f; std::getline(fields, f, '\t');) columns.push_back(f);
    ASSERT_EQ(columns.size(), 10u) << line;
    if (columns[0].find_first_of("-.") == std::string::npos) {
      ++words;
      EXPECT_NE(columns[3], "_") << line;
    }
  }
  EXPECT_EQ(words, 960u);
  EXPECT_GE(comments, 80u);  // sent_id and text of each sentence, kept
  // Sentences tagged a batch at a time are tagged as one at a time, bit for bit.
  const Result one_by_one =
      run("predict pos/best.safetensors " + kFixtures + "ewt_dev_40.conllu.gz --batch-size 1");
  ASSERT_EQ(one_by_one.exit_code, 0) << one_by_one.err;
  EXPECT_EQ(one_by_one.out, predicted.out);
  // And from standard input.
  std::ofstream(dir_ / "dev.conllu", std::ios::binary) << data::read_file(kFixtures + "ewt_dev_40.conllu.gz");
  const Result piped = run("predict pos/best.safetensors - < dev.conllu");
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.out, predicted.out);

  // The third line is longer than any training sentence (at most 76 words): 400 words, 400 tags.
  std::string long_line;
  for (int i = 0; i < 100; ++i) long_line += "the cat sat . ";
  std::ofstream(dir_ / "plain.txt") << "The cat sat on the mat .\n\nI like it\n" << long_line << "\n";
  const Result text = run("predict pos/best.safetensors plain.txt --text");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  const std::vector<std::string> tagged = lines_of(text.out);
  ASSERT_EQ(tagged.size(), 4u) << text.out;
  EXPECT_EQ(std::count(tagged[3].begin(), tagged[3].end(), '/'), 400);
  EXPECT_EQ(run("predict pos/best.safetensors plain.txt --text --batch-size 1").out, text.out);
  EXPECT_EQ(run("predict pos/best.safetensors - --text < plain.txt").out, text.out);
  EXPECT_EQ(tagged[0].rfind("The/", 0), 0u) << tagged[0];
  EXPECT_EQ(std::count(tagged[0].begin(), tagged[0].end(), '/'), 7);
  EXPECT_TRUE(tagged[1].empty());
}

// Chunks from a column file with the CRF: the chunk scores come with the accuracy, and F1 selects
// the best model.
TEST_F(Cli, TaggerWithACrfChunks) {
  const Result trained =
      run("train tag --data " + kFixtures + "conll2000_train_120.txt.gz --val-data " + kFixtures +
          "conll2000_test_40.txt.gz --crf --max-epochs 4 --checkpoint-dir chunk " + small_tagger());
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  EXPECT_NE(trained.err.find("best val f1"), std::string::npos) << trained.err;
  const Result eval = run("eval chunk/best.safetensors " + kFixtures + "conll2000_test_40.txt.gz --json");
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const nlohmann::json m = last_json_line(eval.out);
  for (const char* key : {"accuracy", "precision", "recall", "f1", "tokens", "sentences"})
    EXPECT_TRUE(m.contains(key)) << key << ": " << eval.out;
  EXPECT_GT(m.at("f1").get<double>(), 20.0) << eval.out;
  EXPECT_EQ(m.at("sentences"), 40);
}

// A chunker that reads the part-of-speech column beside each word (Huang et al. 2015's feature):
// on these 120 sentences the words alone give a chunk F1 near 50, the words and their POS near 80.
// eval reads the column from its file, predict from files without the chunk column; plain text,
// which has no POS, is refused with a message saying why.
TEST_F(Cli, TaggerReadsFeatureColumns) {
  const std::string common = "train tag --data " + kFixtures + "conll2000_train_120.txt.gz --val-data " +
                             kFixtures + "conll2000_test_40.txt.gz --crf --max-epochs 4 " + small_tagger();
  const Result with = run(common + " --feature-columns 2 --feature-embedding-size 8 --checkpoint-dir pos");
  ASSERT_EQ(with.exit_code, 0) << with.err;
  // A new run from it keeps its columns; asking for others is refused, not ignored.
  const Result other = run("train tag --data " + kFixtures +
                           "conll2000_train_120.txt.gz --init-from "
                           "pos/best.safetensors --column 2 --checkpoint-dir other");
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(
      other.err.find("pos/best.safetensors reads conll files, tags in column 3, features from columns [2]; "
                     "--column 2 needs a new model"),
      std::string::npos)
      << other.err;
  EXPECT_NE(with.err.find("values in column 2"), std::string::npos) << with.err;
  ASSERT_EQ(run(common + " --checkpoint-dir words").exit_code, 0);
  const auto f1 = [&](const std::string& dir) {
    const Result eval =
        run("eval " + dir + "/best.safetensors " + kFixtures + "conll2000_test_40.txt.gz --json");
    EXPECT_EQ(eval.exit_code, 0) << eval.err;
    return last_json_line(eval.out).at("f1").get<double>();
  };
  const double f1_with = f1("pos"), f1_words = f1("words");
  EXPECT_GT(f1_with, 70.0);
  EXPECT_GT(f1_with, f1_words + 15.0) << "words and POS " << f1_with << ", words alone " << f1_words;

  std::ofstream(dir_ / "two_columns.txt") << "He PRP\nreckons VBZ\nthe DT\ncurrent JJ\ndeficit NN\n\n";
  const Result predicted = run("predict pos/best.safetensors two_columns.txt");
  ASSERT_EQ(predicted.exit_code, 0) << predicted.err;
  const std::vector<std::string> out = lines_of(predicted.out);
  ASSERT_EQ(out.size(), 6u) << predicted.out;
  EXPECT_EQ(out[0].rfind("He PRP ", 0), 0u) << out[0];
  EXPECT_EQ(std::count(out[4].begin(), out[4].end(), ' '), 2) << out[4];

  std::ofstream(dir_ / "one_column.txt") << "He\nreckons\n\n";
  const Result missing = run("predict pos/best.safetensors one_column.txt");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("one_column.txt:1: no column 2 (the lines have 1): check --feature-columns"),
            std::string::npos)
      << missing.err;
  std::ofstream(dir_ / "plain.txt") << "He reckons\n";
  const Result text = run("predict pos/best.safetensors plain.txt --text");
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_NE(text.err.find("reads column 2 beside each word, which plain text does not have"),
            std::string::npos)
      << text.err;
}

// Resume is exact: 2 epochs, stopped after 1 and resumed, give the weights of 2 straight: with the
// CRF and the weights averaged (so the average and the raw weights both come back), and with word
// dropout, label smoothing and a plateau schedule following the accuracy.
TEST_F(Cli, TaggerResumeIsExact) {
  for (const std::string variant : {"--crf --ema 0.9",
                                    "--word-dropout 0.3 --label-smoothing 0.1 --lr-schedule plateau "
                                    "--plateau-patience 0 --eval-val-every 8"}) {
    SCOPED_TRACE(variant);
    const std::string common = "train tag --data " + kFixtures + "ewt_train_120.conllu.gz --val-data " +
                               kFixtures + "ewt_dev_40.conllu.gz " + variant + " " + small_tagger() +
                               " --overwrite";
    ASSERT_EQ(run(common + " --max-epochs 2 --checkpoint-dir straight").exit_code, 0);
    ASSERT_EQ(run(common + " --max-epochs 1 --checkpoint-dir split").exit_code, 0);
    const Result resumed = run("train tag --resume split/last.safetensors --max-epochs 2");
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    EXPECT_TRUE(same_model(dir_ / "straight/last.safetensors", dir_ / "split/last.safetensors"));
  }
}

// --label-smoothing reaches the training loss: with ε = 0.9 over K tags no prediction scores under
// the entropy of the smoothed target, H = -(1 - ε + ε/K)·ln(1 - ε + ε/K) - (K - 1)·(ε/K)·ln(ε/K),
// while the same run without it falls well below that.
TEST_F(Cli, TaggerLabelSmoothingReachesTheLoss) {
  const auto final_loss = [&](const std::string& flags, const std::string& dir, int* tags) {
    const Result r = run("train tag --data " + kFixtures + "ewt_train_120.conllu.gz --val-data " + kFixtures +
                         "ewt_dev_40.conllu.gz --max-epochs 4 --checkpoint-dir " + dir + " " + flags + " " +
                         small_tagger());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const std::string log = r.out + r.err;
    const size_t at = log.find(" tags (column");
    EXPECT_NE(at, std::string::npos) << log;
    *tags = std::stoi(log.substr(log.rfind(' ', at - 1) + 1));
    double loss = -1;
    for (const std::string& line : lines_of(slurp(dir_ / dir / "metrics.jsonl"))) {
      const auto j = nlohmann::json::parse(line);
      if (j.at("event") == "train") loss = j.at("loss").get<double>();
    }
    return loss;
  };
  int K = 0, K_plain = 0;
  const double smoothed = final_loss("--label-smoothing 0.9", "smoothed", &K);
  const double plain = final_loss("", "plain", &K_plain);
  ASSERT_EQ(K, K_plain);
  ASSERT_GE(K, 10);
  const double eps = 0.9, q = 1 - eps + eps / K, r = eps / K;
  const double floor = -q * std::log(q) - (K - 1) * r * std::log(r);
  constexpr double kRounding = 1e-4;  // float losses averaged over a log window
  EXPECT_GE(smoothed, floor - kRounding) << K << " tags";
  EXPECT_LT(plain, floor - 0.5) << K << " tags";
}

// Bad input is named: a malformed line, a missing column.
TEST_F(Cli, TaggerBadInputIsNamed) {
  std::ofstream(dir_ / "bad.conllu") << "1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_\n2\tcat\tcat\tNOUN\n";
  const Result bad = run("train tag --data bad.conllu --max-epochs 1 " + small_tagger());
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("bad.conllu:2: a CoNLL-U line has 10 tab-separated columns, this one has 4"),
            std::string::npos)
      << bad.err;
  const Result column =
      run("train tag --data " + kFixtures + "conll2000_train_120.txt.gz --column 5 " + small_tagger());
  EXPECT_EQ(column.exit_code, 1);
  EXPECT_NE(column.err.find("conll2000_train_120.txt.gz:1: no column 5 (the lines have 3)"),
            std::string::npos)
      << column.err;
  const Result smoothed_crf = run("train tag --data " + kFixtures +
                                  "ewt_train_120.conllu.gz --crf --label-smoothing 0.1 " + small_tagger());
  EXPECT_EQ(smoothed_crf.exit_code, 1);
  EXPECT_NE(
      smoothed_crf.err.find("--label-smoothing smooths the softmax's targets; this model decodes with a CRF"),
      std::string::npos)
      << smoothed_crf.err;
}

}  // namespace
}  // namespace recur
