// The language model over words: its text conventions (models/lm_text.h), its checkpoint, its
// evaluation (perplexity per word, <unk> counted) and generation (words, <eos> as a line break),
// and the n-gram floors at a word vocabulary's size.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "recur/data/ngram.h"
#include "recur/models/lm_text.h"
#include "recur/models/rnn_lm_model.h"
#include "recur/models/tasks.h"
#include "test_util.h"

namespace recur::models {
namespace {

using testing::throws_error_with;

constexpr std::string_view kCorpus =
    " the cat sat on the mat \n the dog sat on the log \n a cat and a dog <unk> \n";

TEST(LmText, WordsEndEveryLineWithEosAndTheCorpusUnkIsTheSpecial) {
  const std::vector<std::string> tokens = lm_stream_tokens(kCorpus, data::TokenKind::kWord, "ptb.txt");
  ASSERT_EQ(tokens.size(), 21u);
  EXPECT_EQ(tokens[6], "<eos>");
  EXPECT_EQ(tokens.back(), "<eos>");
  const data::Vocab v = lm_vocabulary(tokens, data::TokenKind::kWord);
  // <unk> <eos>, then by frequency: the ×4, a cat dog on sat ×2, and log mat ×1.
  EXPECT_EQ(v.tokens(), (std::vector<std::string>{"<unk>", "<eos>", "the", "a", "cat", "dog", "on", "sat",
                                                  "and", "log", "mat"}));
  // --min-freq 2 sends and, log and mat to <unk>; --max-vocab keeps the most frequent.
  EXPECT_EQ(lm_vocabulary(tokens, data::TokenKind::kWord, 2).size(), 8);
  EXPECT_EQ(lm_vocabulary(tokens, data::TokenKind::kWord, 1, 4).tokens(),
            (std::vector<std::string>{"<unk>", "<eos>", "the", "a"}));
  // Characters: the stream as it is, no specials.
  EXPECT_EQ(
      lm_vocabulary(lm_stream_tokens("abca\n", data::TokenKind::kChar, "t"), data::TokenKind::kChar).size(),
      4);
  // Generated words are spaced, <eos> breaks the line, and a line starts without a space.
  EXPECT_EQ(lm_token_text(v, v.find("cat"), -1), "cat");
  EXPECT_EQ(lm_token_text(v, v.find("cat"), v.find("the")), " cat");
  EXPECT_EQ(lm_token_text(v, v.eos(), v.find("cat")), "\n");
  EXPECT_EQ(lm_token_text(v, v.find("a"), v.eos()), "a");
}

io::Safetensors word_lm_file() {
  const data::Vocab vocab =
      lm_vocabulary(lm_stream_tokens(kCorpus, data::TokenKind::kWord, "c"), data::TokenKind::kWord);
  RnnLmConfig c;
  c.num_layers = 1;
  c.rnn_size = 8;
  c.embedding_size = 8;
  c.vocab_size = vocab.size();
  c.tied = true;
  RnnLm<float> model(c);
  Rng rng(4);
  model.init_uniform(rng, 0.1f);
  return io::Safetensors::parse(rnn_lm_file(model, vocab).serialize(), "word.safetensors");
}

// Streams are tokenized piece by piece (no string per character for the whole text): the ids,
// unknown counts, vocabularies and errors are those of the whole text, whatever the piece size.
TEST(LmText, PiecewiseStreamsEqualTheWholeText) {
  const std::string chars = "h\u00E9llo w\u20ACrld!\nsecond line\r\nthird \u00E9\u00E9\u00E9 no newline";
  const std::string words = "the cat sat\n  on the   mat\n\nthe end\nno newline at the end";
  for (const auto& [text, kind] :
       {std::pair{chars, data::TokenKind::kChar}, std::pair{words, data::TokenKind::kWord}}) {
    const std::vector<std::string> tokens = lm_stream_tokens(text, kind, "t");
    const data::Vocab whole = lm_vocabulary(tokens, kind);
    for (size_t piece : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{64}, size_t{1} << 20}) {
      SCOPED_TRACE(piece);
      EXPECT_EQ(lm_stream_vocabulary(text, kind, "t", 1, 0, piece), whole);
      std::int64_t unknown = -1;
      EXPECT_EQ(lm_stream_ids(text, whole, "t", &unknown, piece).to_vector(), whole.encode(tokens, "t"));
      EXPECT_EQ(unknown, 0);
    }
  }
  // Words outside a smaller vocabulary: the same <unk>s and the same count.
  const data::Vocab small = lm_vocabulary({"the", "cat"}, data::TokenKind::kWord);
  std::int64_t whole_unknown = 0, piece_unknown = 0;
  const auto want = small.encode(lm_stream_tokens(words, data::TokenKind::kWord, "t"), "t", &whole_unknown);
  EXPECT_EQ(lm_stream_ids(words, small, "t", &piece_unknown, 5).to_vector(), want);
  EXPECT_EQ(piece_unknown, whole_unknown);
  EXPECT_GT(piece_unknown, 5);
  // Errors name the whole text's byte and list all its missing characters.
  const std::string bad = "abc\xff def";
  std::string whole_error, piece_error;
  try {
    lm_stream_tokens(bad, data::TokenKind::kChar, "bad.txt");
  } catch (const Error& e) {
    whole_error = e.what();
  }
  try {
    lm_stream_ids(bad, lm_vocabulary({"a"}, data::TokenKind::kChar), "bad.txt", nullptr, 2);
  } catch (const Error& e) {
    piece_error = e.what();
  }
  EXPECT_FALSE(whole_error.empty());
  EXPECT_EQ(piece_error, whole_error);
  EXPECT_TRUE(testing::throws_error_with(
      [&] {
        lm_stream_ids("abxyz", lm_vocabulary({"a", "b"}, data::TokenKind::kChar), "v.txt", nullptr, 1);
      },
      {"v.txt has 3 characters not in the model's vocabulary"}));
}

TEST(WordLm, CheckpointEvaluationAndGeneration) {
  const io::Safetensors file = word_lm_file();
  EXPECT_NE(file.metadata().at("recur.vocab").find(R"("kind":"word")"), std::string::npos);
  const std::unique_ptr<TaskModel> model = open_checkpoint(file);
  const auto& lm = dynamic_cast<const RnnLmModel&>(*model);
  EXPECT_EQ(lm.vocab().kind(), data::TokenKind::kWord);
  EXPECT_EQ(lm.vocab().size(), 11);
  EXPECT_NE(model->describe()[0].second.find("11 words: <unk> <eos> the a"), std::string::npos)
      << model->describe()[0].second;
  // init_uniform: every parameter within the range, and not all zero.
  for (const auto& e : lm.params().entries()) {
    const Tensor<float> v = lm.params().value(lm.params().id(e.name));
    float largest = 0;
    for (index_t i = 0; i < v.numel(); ++i) largest = std::max(largest, std::abs(v[i]));
    EXPECT_LE(largest, 0.1f) << e.name;
    EXPECT_GT(largest, 0.01f) << e.name;
  }

  // Perplexity per word over the stream with <eos>; "zebra" and "dog" → <unk> and "dog".
  const Evaluation e = model->evaluate(" the zebra sat \n the dog \n", "val.txt", {});
  const auto j = nlohmann::json::parse(e.json);
  EXPECT_EQ(j.at("tokens"), 6);  // the zebra sat <eos> the dog <eos>: 7 tokens, 6 predictions
  EXPECT_EQ(j.at("unknown"), 1);
  EXPECT_FALSE(j.contains("bpc"));
  EXPECT_NEAR(j.at("perplexity").get<double>(), std::exp(j.at("loss").get<double>()), 1e-9);
  // An untrained model is near uniform over the 11 words.
  EXPECT_NEAR(j.at("loss").get<double>(), std::log(11.0), 0.2);
  EXPECT_NE(e.summary.find("nats/word"), std::string::npos) << e.summary;
  EXPECT_NE(e.summary.find("warning: 14% of the words are outside the vocabulary"), std::string::npos)
      << e.summary;

  GenerateOptions g;
  g.prime_text = "the cat";
  g.length = 40;
  std::vector<std::string> pieces;
  model->generate(g, [&](std::string_view p) { pieces.emplace_back(p); });
  ASSERT_EQ(pieces.size(), 42u);  // the prime, 40 words, and the closing line break
  EXPECT_EQ(pieces[0], "the cat");
  EXPECT_EQ(pieces.back(), "\n");
  for (size_t i = 1; i + 1 < pieces.size(); ++i) {
    const std::string& p = pieces[i];
    const bool word_after_word = p.size() > 1 && p[0] == ' ';
    const bool line_break = p == "\n";
    const bool line_start = !p.empty() && p[0] != ' ' && pieces[i - 1] == "\n";
    EXPECT_TRUE(word_after_word || line_break || line_start) << i << ": '" << p << "'";
  }
}

TEST(NgramFloors, AWordVocabularyNeedsNoDenseBigramTable) {
  // V = 200,000: a dense V² table of doubles would take 320 GB.
  const std::vector<std::int32_t> train = {5, 199999, 5, 199999, 7}, held_out = {5, 199999, 7};
  const data::NgramFloors f = data::ngram_floors(train, held_out, 200000);
  // Bigram: P(199999 | 5) = (2 + 1) / (2 + V), P(7 | 199999) = (1 + 1) / (2 + V).
  const double V = 200000;
  EXPECT_NEAR(f.bigram, -(std::log(3 / (2 + V)) + std::log(2 / (2 + V))) / 2, 1e-12);
}

}  // namespace
}  // namespace recur::models
