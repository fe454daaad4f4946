// Tagging data: the CoNLL-U and CoNLL column readers (data/conll.h) on hand-written edge cases and
// the shipped files, and the tag scores (models/tag_scores.h) against conlleval's own numbers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "recur/data/conll.h"
#include "recur/models/tag_report.h"
#include "recur/models/tag_scores.h"
#include "recur/models/tagger_data.h"
#include "recur/models/word_vectors.h"
#include "test_util.h"

namespace recur {
namespace {

using data::ColumnFormat;
using data::TaggedSentence;
using data::TaggedSentenceReader;
using testing::throws_error_with;
using Strings = std::vector<std::string>;

std::vector<TaggedSentence> read_all(const std::string& text, ColumnFormat format, int column,
                                     const std::string& source = "f.txt") {
  std::istringstream in(text);
  TaggedSentenceReader reader(in, format, column, source);
  std::vector<TaggedSentence> out;
  while (auto s = reader.next()) out.push_back(std::move(*s));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Readers

// Comments are kept with their sentence; multiword tokens and empty nodes are kept as lines but
// are not words; CRLF reads as LF; several blank lines are one break; the last sentence needs no
// blank line after it.
TEST(ConllReader, ConlluWordsTagsAndTheLinesToWriteBack) {
  const std::string text =
      "# sent_id = 1\r\n"
      "# text = Don't go.\r\n"
      "1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_\r\n"
      "1\tDo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_\r\n"
      "2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_\r\n"
      "3\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\tSpaceAfter=No\r\n"
      "3.1\tgo\tgo\tVERB\tVB\t_\t_\t_\t0:root\t_\r\n"
      "4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_\r\n"
      "\r\n\r\n\n"
      "1\tYes\tyes\tINTJ\tUH\t_\t0\troot\t_\t_\n";
  const auto upos = read_all(text, ColumnFormat::kConllu, 4);
  ASSERT_EQ(upos.size(), 2u);
  EXPECT_EQ(upos[0].words, (Strings{"Do", "n't", "go", "."}));
  EXPECT_EQ(upos[0].tags, (Strings{"AUX", "PART", "VERB", "PUNCT"}));
  EXPECT_EQ(upos[0].lines.size(), 8u);  // 2 comments, the range, 4 words, the empty node
  EXPECT_EQ(upos[0].lines[0], "# sent_id = 1");
  EXPECT_EQ(upos[0].word_line, (std::vector<index_t>{3, 4, 5, 7}));
  EXPECT_EQ(upos[0].lines[5].back(), 'o');  // "…SpaceAfter=No" without its \r
  EXPECT_EQ(upos[0].first_line, 1);
  EXPECT_EQ(upos[1].words, (Strings{"Yes"}));
  EXPECT_EQ(upos[1].first_line, 12);
  EXPECT_EQ(read_all(text, ColumnFormat::kConllu, 5)[0].tags, (Strings{"VBP", "RB", "VB", "."}));
  // Without a tag column: words only (what predict reads).
  const auto words = read_all(text, ColumnFormat::kConllu, 0);
  EXPECT_EQ(words[0].words, upos[0].words);
  EXPECT_TRUE(words[0].tags.empty());
}

TEST(ConllReader, ConllColumnsSeparatedByAnyWhitespace) {
  const auto s = read_all("Confidence NN B-NP\nin\tIN  B-PP\n\nThe DT B-NP\r\n", ColumnFormat::kConll, 3);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].words, (Strings{"Confidence", "in"}));
  EXPECT_EQ(s[0].tags, (Strings{"B-NP", "B-PP"}));
  EXPECT_EQ(s[1].tags, (Strings{"B-NP"}));
  EXPECT_EQ(read_all("a DT B-NP\n", ColumnFormat::kConll, 2)[0].tags, (Strings{"DT"}));
}

// Feature columns are read beside the word, "_" included; a missing one is named.
TEST(ConllReader, FeatureColumns) {
  const std::string conll = "Confidence NN B-NP\nin IN B-PP\n\nThe DT B-NP\n";
  std::istringstream in(conll);
  data::TaggedSentenceReader reader(in, ColumnFormat::kConll, 3, "c.txt", {2});
  const auto first = reader.next();
  ASSERT_TRUE(first);
  ASSERT_EQ(first->features.size(), 1u);
  EXPECT_EQ(first->features[0], (Strings{"NN", "IN"}));
  EXPECT_EQ(first->tags, (Strings{"B-NP", "B-PP"}));
  const auto conllu = data::read_tagged(
      "1\ta\ta\tDET\t_\t_\t0\troot\t_\t_\n2-3\tbc\t_\t_\t_\t_\t_\t_\t_\t_\n"
      "2\tb\tb\tNOUN\tNN\t_\t1\tdep\t_\t_\n3\tc\tc\tADP\tIN\t_\t1\tdep\t_\t_\n",
      ColumnFormat::kConllu, 4, "u.conllu", {5, 3});
  ASSERT_EQ(conllu[0].features.size(), 2u);
  EXPECT_EQ(conllu[0].features[0], (Strings{"_", "NN", "IN"}));  // a "_" feature is a value
  EXPECT_EQ(conllu[0].features[1], (Strings{"a", "b", "c"}));
  EXPECT_TRUE(
      throws_error_with([] { data::read_tagged("a DT B-NP\n", ColumnFormat::kConll, 3, "c.txt", {4}); },
                        {"c.txt:1: no column 4 (the lines have 3): check --feature-columns"}));
  EXPECT_EQ(data::parse_feature_columns("", ColumnFormat::kConll, 3), std::vector<int>{});
  EXPECT_EQ(data::parse_feature_columns("2", ColumnFormat::kConll, 3), std::vector<int>{2});
  EXPECT_EQ(data::parse_feature_columns("xpos,3", ColumnFormat::kConllu, 4), (std::vector<int>{5, 3}));
  EXPECT_TRUE(throws_error_with([] { data::parse_feature_columns("2,3", ColumnFormat::kConll, 3); },
                                {"--feature-columns '2,3': column 3 is the tag column"}));
  EXPECT_TRUE(throws_error_with([] { data::parse_feature_columns("2,2", ColumnFormat::kConll, 3); },
                                {"column 2 is named twice"}));
  EXPECT_TRUE(throws_error_with([] { data::parse_feature_columns("2,", ColumnFormat::kConll, 3); },
                                {"--feature-columns '2,'", "got ''"}));
}

// A malformed line is an error naming the file and line.
TEST(ConllReader, MalformedLinesAreErrorsNamingFileAndLine) {
  const auto fails = [](const std::string& text, ColumnFormat format, int column, const std::string& says) {
    return throws_error_with([&] { read_all(text, format, column, "x.conllu"); }, {says});
  };
  const std::string good = "1\ta\ta\tDET\tDT\t_\t0\troot\t_\t_\n";
  EXPECT_TRUE(fails(good + "2\tb\tb\tNOUN\tNN\t_\t1\tdep\t_\n", ColumnFormat::kConllu, 4,
                    "x.conllu:2: a CoNLL-U line has 10 tab-separated columns, this one has 9"));
  EXPECT_TRUE(fails("one\ta\ta\tDET\tDT\t_\t0\troot\t_\t_\n", ColumnFormat::kConllu, 4,
                    "x.conllu:1: 'one' is not a CoNLL-U ID (1, 2-3 or 8.1)"));
  EXPECT_TRUE(fails(good + "2\tb\tb\t_\tNN\t_\t1\tdep\t_\t_\n", ColumnFormat::kConllu, 4,
                    "x.conllu:2: the word 'b' has no tag in column 4"));
  EXPECT_TRUE(fails("# only a comment\n\n" + good, ColumnFormat::kConllu, 4,
                    "x.conllu:2: the sentence that starts at line 1 has no words"));
  EXPECT_TRUE(fails("a DT B-NP\nb NN\n", ColumnFormat::kConll, 3,
                    "x.conllu:2: 2 columns, where the file's first line has 3"));
  EXPECT_TRUE(fails("a DT B-NP\n", ColumnFormat::kConll, 4, "x.conllu:1: no column 4 (the lines have 3)"));
}

TEST(ConllReader, FormatAndColumnFlags) {
  EXPECT_EQ(data::parse_column_format("conllu"), ColumnFormat::kConllu);
  EXPECT_EQ(data::parse_column_format("conll"), ColumnFormat::kConll);
  EXPECT_TRUE(
      throws_error_with([] { data::parse_column_format("csv"); }, {"--format must be conllu", "'csv'"}));
  EXPECT_EQ(data::parse_tag_column("upos", ColumnFormat::kConllu), 4);
  EXPECT_EQ(data::parse_tag_column("xpos", ColumnFormat::kConllu), 5);
  EXPECT_EQ(data::parse_tag_column("3", ColumnFormat::kConll), 3);
  EXPECT_TRUE(throws_error_with([] { data::parse_tag_column("upos", ColumnFormat::kConll); },
                                {"--column upos names a CoNLL-U column"}));
  EXPECT_TRUE(throws_error_with([] { data::parse_tag_column("1", ColumnFormat::kConll); },
                                {"--column must be upos, xpos or a column number from 2", "got '1'"}));
  EXPECT_TRUE(throws_error_with([] { data::parse_tag_column("11", ColumnFormat::kConllu); }, {"got '11'"}));
  EXPECT_TRUE(throws_error_with([] { data::parse_tag_column("2", ColumnFormat::kConllu); },
                                {"--column 2 is the CoNLL-U word (FORM)"}));
  EXPECT_TRUE(throws_error_with([] { data::parse_tag_column("4x", ColumnFormat::kConllu); }, {"got '4x'"}));
}

// The shipped files read whole, with the counts their SOURCE.md states.
TEST(ConllReader, TheShippedFilesHaveTheirStatedSize) {
  const auto dev = data::read_tagged_file(RECUR_DATA_DIR "/ud_english_ewt/en_ewt-ud-dev.conllu.gz",
                                          ColumnFormat::kConllu, 4);
  size_t words = 0;
  for (const auto& s : dev) words += s.words.size();
  EXPECT_EQ(dev.size(), 2001u);
  EXPECT_EQ(words, 25147u);
  EXPECT_EQ(dev[0].words[0], "From");
  EXPECT_EQ(dev[0].tags[0], "ADP");
  const auto test = data::read_tagged_file(RECUR_DATA_DIR "/conll2000/test.txt.gz", ColumnFormat::kConll, 3);
  words = 0;
  for (const auto& s : test) words += s.words.size();
  EXPECT_EQ(test.size(), 2012u);
  EXPECT_EQ(words, 47377u);
  EXPECT_TRUE(throws_error_with(
      [] { data::read_tagged_file(RECUR_DATA_DIR "/conll2000/test.txt.gz", ColumnFormat::kConllu, 4); },
      {"test.txt.gz:1: a CoNLL-U line has 10 tab-separated columns, this one has 1"}));
}

TEST(ConllReader, PlainTextWords) {
  EXPECT_EQ(data::split_words("  The cat\tsat .\r\n"), (Strings{"The", "cat", "sat", "."}));
  EXPECT_TRUE(data::split_words(" \t ").empty());
}

// ---------------------------------------------------------------------------------------------
// Word dropout

// "a" is seen 3 times, "b" once: with word dropout 0.2, "a" is read as <unk> with probability 0.2,
// "b" with 1/2; never the specials. Over many batches the rates land within kRateTolerance (5
// standard deviations of 4000 draws at 1/2) and the characters stay.
TEST(TaggerBatch, WordDropoutReadsWordsAsUnkAtTheirRates) {
  const std::vector<TaggedSentence> train = read_all("a X\na X\nb Y\n\na X\n", ColumnFormat::kConll, 2);
  const models::TaggerVocabularies v = models::tagger_vocabularies(train, 1);
  const models::EncodedSentences encoded = models::encode_sentences(train, v);
  const std::int32_t a = v.words.find("a"), b = v.words.find("b"), unk = v.words.unk();
  const std::vector<double> p = models::unk_probabilities(encoded, v.words, 0.2);
  ASSERT_EQ(p.size(), static_cast<size_t>(v.words.size()));
  EXPECT_DOUBLE_EQ(p[static_cast<size_t>(a)], 0.2);
  EXPECT_DOUBLE_EQ(p[static_cast<size_t>(b)], 0.5);
  EXPECT_DOUBLE_EQ(p[static_cast<size_t>(unk)], 0.0);
  EXPECT_DOUBLE_EQ(models::unk_probabilities(encoded, v.words, 0.7)[static_cast<size_t>(b)], 0.7);
  EXPECT_DOUBLE_EQ(models::unk_probabilities(encoded, v.words, 0.0)[static_cast<size_t>(a)], 0.0);
  EXPECT_TRUE(throws_error_with([&] { models::unk_probabilities(encoded, v.words, 1.0); },
                                {"word dropout must be in [0, 1)"}));

  constexpr double kRateTolerance = 0.04;
  constexpr int kDraws = 4000;
  Rng rng(5);
  int a_seen = 0, a_unk = 0, b_seen = 0, b_unk = 0;
  for (int i = 0; i < kDraws; ++i) {
    const models::TaggerBatch batch = models::tagger_batch(encoded, {0}, nullptr, &rng, &p, unk);
    ASSERT_EQ(batch.words.size(), 3u);
    for (size_t t = 0; t < 3; ++t) EXPECT_EQ(batch.chars[t], encoded.chars[0][t]);
    for (size_t t = 0; t < 2; ++t) {
      ++a_seen;
      a_unk += batch.words[t] == unk;
      EXPECT_TRUE(batch.words[t] == a || batch.words[t] == unk);
    }
    ++b_seen;
    b_unk += batch.words[2] == unk;
    EXPECT_TRUE(batch.words[2] == b || batch.words[2] == unk);
  }
  EXPECT_NEAR(double(a_unk) / a_seen, 0.2, kRateTolerance);
  EXPECT_NEAR(double(b_unk) / b_seen, 0.5, kRateTolerance);
  // Without a generator nothing is dropped: evaluation reads the words as they are.
  const models::TaggerBatch plain = models::tagger_batch(encoded, {0}, nullptr, nullptr, &p, unk);
  EXPECT_EQ(plain.words, encoded.words[0]);
}

// ---------------------------------------------------------------------------------------------
// Pretrained word vectors

TEST(WordVectors, ExactThenLowerCasedWordsFillTheirRows) {
  const data::Vocab vocab =
      data::Vocab::build(data::TokenKind::kWord, {{"The", 3}, {"cat", 2}, {"Paris", 1}, {"zzz", 1}},
                         {{data::kPad, data::kUnk}, 1, 0});
  const std::string path = ::testing::TempDir() + "vectors_" + std::to_string(::getpid()) + ".txt";
  // word2vec's header line, an exact match, a lower-cased one for "The", an exact "The" after it
  // (exact wins), a word outside the vocabulary.
  std::ofstream(path) << "5 2\nthe 1 2\ncat 3 4\nparis 5 6\nThe 7 8\ndog 9 9\n";
  Tensor<float> table(Shape{vocab.size(), 2});
  table.fill(-1.0f);
  const models::WordVectorsLoaded loaded = models::load_word_vectors(path, vocab, table);
  EXPECT_EQ(loaded.lines, 5);
  EXPECT_EQ(loaded.found, 3);       // The, cat, Paris
  EXPECT_EQ(loaded.lower_case, 1);  // Paris from "paris"
  const auto row = [&](const char* word) {
    const std::int32_t id = vocab.find(word);
    return std::vector<float>{table[id * 2], table[id * 2 + 1]};
  };
  EXPECT_EQ(row("The"), (std::vector<float>{7, 8}));
  EXPECT_EQ(row("cat"), (std::vector<float>{3, 4}));
  EXPECT_EQ(row("Paris"), (std::vector<float>{5, 6}));
  EXPECT_EQ(row("zzz"), (std::vector<float>{-1, -1}));    // no vector: its initialization stays
  EXPECT_EQ(row("<unk>"), (std::vector<float>{-1, -1}));  // specials are never read from the file
  std::ofstream(path) << "the 1 2 3\n";
  EXPECT_TRUE(throws_error_with([&] { models::load_word_vectors(path, vocab, table); },
                                {".txt:1: 3 numbers after the word, the model's word embedding has 2"}));
  std::ofstream(path) << "the 1 x\n";
  EXPECT_TRUE(throws_error_with([&] { models::load_word_vectors(path, vocab, table); },
                                {".txt:1: 'x' is not a number"}));
  std::remove(path.c_str());
}

// ---------------------------------------------------------------------------------------------
// Scores

// conlleval's numbers on tests/fixtures/tagging/conll2000_guessed.txt (see its README), count for
// count: overall, per chunk type, and the token accuracy.
TEST(TagScores, ReproduceConllevalOnAFixture) {
  std::ifstream in(RECUR_FIXTURE_DIR "/tagging/conll2000_guessed.txt");
  ASSERT_TRUE(in) << "missing fixture";
  models::TagScorer scorer;
  Strings gold, guess;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) {
      scorer.add(gold, guess);
      gold.clear();
      guess.clear();
      continue;
    }
    std::istringstream fields(line);
    std::string word, pos, g, h;
    fields >> word >> pos >> g >> h;
    gold.push_back(g);
    guess.push_back(h);
  }
  if (!gold.empty()) scorer.add(gold, guess);
  EXPECT_EQ(scorer.sentences(), 80);
  EXPECT_EQ(scorer.tokens(), 1816);
  EXPECT_TRUE(scorer.chunk_tags());
  const models::ChunkCounts& all = scorer.chunks();
  EXPECT_EQ(all.gold, 866);
  EXPECT_EQ(all.guessed, 972);
  EXPECT_EQ(all.correct, 695);
  // conlleval prints two decimals: 87.22%, 71.50%, 80.25%, 75.63.
  constexpr double kPrinted = 0.005;
  EXPECT_NEAR(scorer.accuracy(), 87.22, kPrinted);
  EXPECT_NEAR(scorer.accuracy(), 100.0 * 1584 / 1816, 1e-12);
  EXPECT_NEAR(all.precision(), 71.50, kPrinted);
  EXPECT_NEAR(all.recall(), 80.25, kPrinted);
  EXPECT_NEAR(all.f1(), 75.63, kPrinted);
  const std::vector<std::tuple<std::string, std::int64_t, std::int64_t, std::int64_t>> types = {
      {"ADJP", 8, 8, 24},    {"ADVP", 19, 21, 36}, {"NP", 368, 492, 548},
      {"PP", 163, 188, 178}, {"SBAR", 8, 9, 28},   {"VP", 129, 148, 158}};
  ASSERT_EQ(scorer.chunks_by_type().size(), types.size());
  for (const auto& [type, correct, gold_n, guessed_n] : types) {
    SCOPED_TRACE(type);
    const models::ChunkCounts& c = scorer.chunks_by_type().at(type);
    EXPECT_EQ(c.correct, correct);
    EXPECT_EQ(c.gold, gold_n);
    EXPECT_EQ(c.guessed, guessed_n);
  }
  EXPECT_NEAR(scorer.chunks_by_type().at("SBAR").f1(), 43.24, kPrinted);
}

// The rules on a case small enough to check by hand (conlleval gives the same: 1 of 4 and 4).
// Gold I-NP I-NP O I-VP B-NP has chunks NP(a b), VP(d), NP(e): an I- without a B- starts a chunk.
// The guess I-NP B-NP O B-VP I-VP has NP(a), NP(b), VP(d e). None match; the second sentence's one
// chunk does. Precision = recall = 1/4.
TEST(TagScores, AnIWithoutABStartsAChunk) {
  models::TagScorer scorer;
  scorer.add({"I-NP", "I-NP", "O", "I-VP", "B-NP"}, {"I-NP", "B-NP", "O", "B-VP", "I-VP"});
  scorer.add({"I-NP"}, {"I-NP"});
  EXPECT_EQ(scorer.chunks().gold, 4);
  EXPECT_EQ(scorer.chunks().guessed, 4);
  EXPECT_EQ(scorer.chunks().correct, 1);
  EXPECT_DOUBLE_EQ(scorer.chunks().f1(), 25.0);
  EXPECT_DOUBLE_EQ(scorer.accuracy(), 50.0);  // a, c, f
  EXPECT_EQ(scorer.chunks_by_type().at("NP").correct, 1);
  // A chunk open at the end of one sentence does not run into the next.
  models::TagScorer split;
  split.add({"B-NP"}, {"B-NP"});
  split.add({"I-NP"}, {"I-NP"});
  EXPECT_EQ(split.chunks().correct, 2);
  EXPECT_EQ(split.chunks().gold, 2);
}

// The per-tag table and the confusion matrix of a small case, by hand.
TEST(TagScores, PerTagTableAndConfusionMatrix) {
  models::TagScorer scorer;
  scorer.add({"DT", "NN", "NN", "VBZ"}, {"DT", "NN", "VBZ", "VBZ"});
  EXPECT_EQ(scorer.confusion().at({"NN", "VBZ"}), 1);
  EXPECT_EQ(scorer.confusion().at({"NN", "NN"}), 1);
  EXPECT_EQ(models::tag_table(scorer, "t"),
            "# t: 4 words, accuracy 75.00%\n"
            "tag\tgold\tpredicted\tcorrect\tprecision\trecall\tf1\n"
            "NN\t2\t1\t1\t100.00\t50.00\t66.67\n"
            "DT\t1\t1\t1\t100.00\t100.00\t100.00\n"
            "VBZ\t1\t2\t1\t50.00\t100.00\t66.67\n");
  const std::string svg = models::confusion_svg(scorer, "t");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_EQ(std::count(svg.begin(), svg.end(), '\n') > 9, true);
  EXPECT_NE(svg.find(">VBZ</text>"), std::string::npos);
}

TEST(TagScores, PartOfSpeechTagsAreNotChunks) {
  models::TagScorer scorer;
  scorer.add({"DT", "NN", "VBZ"}, {"DT", "NN", "NNS"});
  EXPECT_FALSE(scorer.chunk_tags());
  EXPECT_NEAR(scorer.accuracy(), 200.0 / 3, 1e-12);
  EXPECT_EQ(scorer.by_tag().at("NN").correct, 1);
  EXPECT_EQ(scorer.by_tag().at("NNS").guessed, 1);
  EXPECT_EQ(scorer.by_tag().at("VBZ").gold, 1);
  EXPECT_EQ(scorer.by_tag().at("VBZ").correct, 0);
  EXPECT_TRUE(
      throws_error_with([&] { scorer.add({"DT"}, {}); }, {"sentence 2 has 1 gold tags and 0 guessed"}));
}

}  // namespace
}  // namespace recur
