// Vocabularies of characters and words (data/vocab.h) and the text → tokens readers
// (data/tokenize.h): ids, specials, --min-freq / --max-vocab, the JSON stored in checkpoints, and
// one item per line. Expected values are written out by hand in each test.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "recur/data/tokenize.h"
#include "recur/data/vocab.h"
#include "recur/io/safetensors.h"
#include "test_util.h"

namespace recur::data {
namespace {

using testing::error_message;
using testing::throws_error_with;

// ---------------------------------------------------------------------------------------------
// Vocab, characters

Vocab chars_of(const std::string& text, const VocabOptions& options = {}) {
  return Vocab::build(TokenKind::kChar, count_tokens(tokenize(text, TokenKind::kChar, "text")), options);
}

std::vector<std::string> chars(const std::string& text) {
  return tokenize(text, TokenKind::kChar, "text");
}

TEST(VocabOfCharacters, IsSortedByCodePointIncludingNonAscii) {
  // Characters appear out of order and repeated; non-ASCII ones above and between each other.
  const Vocab v = chars_of("\U0001F600\u20ACzb\u00F6a\nb \u00E9a\u20AC");
  const std::vector<std::string> expected = {"\n",     " ",      "a",      "b",         "z",
                                             "\u00E9", "\u00F6", "\u20AC", "\U0001F600"};
  EXPECT_EQ(v.tokens(), expected);
  EXPECT_EQ(v.size(), 9);
  EXPECT_TRUE(v.specials().empty());
  EXPECT_EQ(v.unk(), -1);
  // The vocabulary depends only on the set of characters.
  EXPECT_EQ(chars_of("ab\u00E9"), chars_of("\u00E9\u00E9baab"));
  EXPECT_TRUE(throws_error_with([] { chars_of(""); }, {"the vocabulary is empty"}));
}

TEST(VocabOfCharacters, FindEncodeDecode) {
  const Vocab v = chars_of("hello w\u00F6rld \u20AC");
  // Sorted: ' ' d e h l o r w ö €
  ASSERT_EQ(v.tokens(),
            (std::vector<std::string>{" ", "d", "e", "h", "l", "o", "r", "w", "\u00F6", "\u20AC"}));
  EXPECT_EQ(v.find(" "), 0);
  EXPECT_EQ(v.find("h"), 3);
  EXPECT_EQ(v.find("\u20AC"), 9);
  EXPECT_EQ(v.find("z"), -1);
  EXPECT_EQ(v.find("a"), -1);  // below 'd', between existing entries
  EXPECT_EQ(v.encode(chars("hello"), "prompt"), (std::vector<std::int32_t>{3, 2, 4, 4, 5}));
  EXPECT_EQ(v.encode(chars("w\u00F6rd \u20AC"), "prompt"), (std::vector<std::int32_t>{7, 8, 6, 1, 0, 9}));
  EXPECT_EQ(v.encode({}, "prompt"), std::vector<std::int32_t>{});
  EXPECT_EQ(v.token(8), "\xC3\xB6");
  EXPECT_EQ(v.decode({3, 2, 4, 4, 5, 0, 9}), "hello \xE2\x82\xAC");
  EXPECT_TRUE(throws_error_with([&] { v.token(10); }, {"token id 10", "vocabulary of 10"}));
  EXPECT_TRUE(throws_error_with([&] { v.decode({-1}); }, {"token id -1", "vocabulary of 10"}));
}

TEST(VocabOfCharacters, EncodeErrorListsEveryMissingCharacterOnceSorted) {
  const Vocab v = chars_of("abc");
  EXPECT_EQ(error_message([&] { v.encode(chars("az\u00E9Q\tbzQ\u00E9\t"), "the prompt"); }),
            "the prompt has 4 characters not in the model's vocabulary: U+0009, 'Q', 'z', '\xC3\xA9'");
  EXPECT_EQ(error_message([&] { v.encode(chars("ab ca "), "data/val.txt"); }),
            "data/val.txt has 1 character not in the model's vocabulary: U+0020");
}

TEST(VocabOfCharacters, MinFreqAndMaxVocabCutToUnk) {
  // a ×4, b ×3, c ×2, d ×1
  const std::string text = "aaaabbbccd";
  VocabOptions o;
  o.specials = {kUnk};
  o.min_freq = 2;
  const Vocab v = chars_of(text, o);
  EXPECT_EQ(v.tokens(), (std::vector<std::string>{"<unk>", "a", "b", "c"}));
  EXPECT_EQ(v.unk(), 0);
  std::int64_t unknown = 0;
  EXPECT_EQ(v.encode(chars("dab!"), "val", &unknown), (std::vector<std::int32_t>{0, 1, 2, 0}));
  EXPECT_EQ(unknown, 2);
  // --max-vocab counts the specials and keeps the most frequent (then in code point order).
  o.min_freq = 1;
  o.max_vocab = 3;
  EXPECT_EQ(chars_of("dccbbbaaaa", o).tokens(), (std::vector<std::string>{"<unk>", "a", "b"}));
  o.max_vocab = 1;
  EXPECT_TRUE(
      throws_error_with([&] { chars_of(text, o); }, {"--max-vocab 1 leaves no room beside the 1 special"}));
  o.max_vocab = 0;
  o.min_freq = 5;
  EXPECT_TRUE(throws_error_with([&] { chars_of(text, o); }, {"no token occurs at least 5 times"}));
}

TEST(VocabOfCharacters, JsonRoundTrip) {
  EXPECT_EQ(chars_of("ba").to_json(), R"({"kind":"char","specials":[],"tokens":["a","b"]})");
  // Characters JSON must escape, control characters, and 2/3/4-byte UTF-8.
  const Vocab v = chars_of("\"\\\n\t /{\u00E9\u20AC\U0001F600\u007F");
  const std::string json = v.to_json();
  const Vocab back = Vocab::from_json(json, "ckpt.safetensors");
  EXPECT_EQ(back, v);
  EXPECT_EQ(back.size(), 11);
  EXPECT_EQ(back.to_json(), json);
  // Checkpoints written before specials: a plain array of characters.
  const Vocab legacy = Vocab::from_json(R"(["\n"," ","a","\u00e9"])", "old.safetensors");
  EXPECT_EQ(legacy, chars_of("a \n\u00E9"));
}

TEST(VocabOfCharacters, FromJsonRejectsMalformedVocabulariesNamingTheSource) {
  const std::string src = "ckpt.safetensors";
  EXPECT_TRUE(
      throws_error_with([&] { Vocab::from_json(R"({"a": 1})", src); },
                        {"ckpt.safetensors: recur.vocab must be an object with \"kind\" and \"tokens\""}));
  EXPECT_TRUE(throws_error_with([&] { Vocab::from_json(R"("abc")", src); },
                                {"ckpt.safetensors: recur.vocab must be an object"}));
  EXPECT_TRUE(throws_error_with([&] { Vocab::from_json(R"(["a", 1])", src); },
                                {"ckpt.safetensors: recur.vocab token 1 is not a string"}));
  EXPECT_TRUE(throws_error_with([&] { Vocab::from_json(R"(["a", "bc"])", src); },
                                {"ckpt.safetensors: recur.vocab token 1 must be exactly one character"}));
  EXPECT_TRUE(throws_error_with([&] { Vocab::from_json(R"(["a", ""])", src); },
                                {"ckpt.safetensors: recur.vocab token 1 must be exactly one character"}));
  EXPECT_TRUE(throws_error_with([&] { Vocab::from_json(R"(["a", "c", "b"])", src); },
                                {"ckpt.safetensors: recur.vocab token 2 = 'b' is not after 'c'", "sorted"}));
  EXPECT_TRUE(
      throws_error_with([&] { Vocab::from_json(R"(["a", "b", "b"])", src); },
                        {"ckpt.safetensors: recur.vocab token 2 = 'b' is not after 'b'", "without repeats"}));
  EXPECT_TRUE(
      throws_error_with([&] { Vocab::from_json("[]", src); }, {"ckpt.safetensors: recur.vocab is empty"}));
  EXPECT_TRUE(throws_error_with([&] { Vocab::from_json("[\"a\",", src); },
                                {"ckpt.safetensors: recur.vocab is not valid JSON"}));
  EXPECT_TRUE(throws_error_with([&] { Vocab::from_json(R"({"kind":"byte","tokens":["a"]})", src); },
                                {"ckpt.safetensors: recur.vocab: tokens must be char or word, got 'byte'"}));
  EXPECT_TRUE(throws_error_with(
      [&] { Vocab::from_json(R"({"kind":"word","specials":["<unk>"],"tokens":["a"]})", src); },
      {"recur.vocab token 0 is a, the specials say <unk>"}));
  EXPECT_TRUE(
      throws_error_with([&] { Vocab::from_json(R"({"kind":"word","specials":[],"tokens":["a","a"]})", src); },
                        {"recur.vocab repeats a token"}));
  EXPECT_TRUE(throws_error_with(
      [&] { Vocab::from_json(R"({"kind":"word","specials":["<sep>"],"tokens":["<sep>"]})", src); },
      {"special \"<sep>\" is not one of <pad>, <unk>, <bos>, <eos>"}));
  // A multi-byte character is one character.
  EXPECT_EQ(Vocab::from_json("[\"a\", \"\xE2\x82\xAC\"]", src).tokens(),
            (std::vector<std::string>{"a", "\u20AC"}));
}

// ---------------------------------------------------------------------------------------------
// Vocab, words

TEST(VocabOfWords, SpecialsFirstThenByFrequencyTiesByBytes) {
  const std::vector<std::string> text =
      tokenize("the cat sat\non the mat\nthe end", TokenKind::kWord, "t", kEos);
  EXPECT_EQ(text, (std::vector<std::string>{"the", "cat", "sat", "<eos>", "on", "the", "mat", "<eos>", "the",
                                            "end", "<eos>"}));
  VocabOptions o;
  o.specials = {kUnk, kEos};
  const Vocab v = Vocab::build(TokenKind::kWord, count_tokens(text), o);
  // the ×3; then cat end mat on sat once each, by bytes; <eos> is the special, not a second token.
  EXPECT_EQ(v.tokens(),
            (std::vector<std::string>{"<unk>", "<eos>", "the", "cat", "end", "mat", "on", "sat"}));
  EXPECT_EQ(v.unk(), 0);
  EXPECT_EQ(v.eos(), 1);
  EXPECT_EQ(v.bos(), -1);
  EXPECT_EQ(v.pad(), -1);
  // A data set's own <unk> is the special.
  std::int64_t unknown = 0;
  EXPECT_EQ(v.encode({"the", "<unk>", "dog", "<eos>"}, "val", &unknown),
            (std::vector<std::int32_t>{2, 0, 0, 1}));
  EXPECT_EQ(unknown, 1);  // "dog"; the spelled <unk> does not count
  EXPECT_EQ(v.decode({2, 3, 1}), "the cat <eos>");
  EXPECT_EQ(Vocab::from_json(v.to_json(), "x"), v);
  EXPECT_EQ(
      v.to_json(),
      R"({"kind":"word","specials":["<unk>","<eos>"],"tokens":["<unk>","<eos>","the","cat","end","mat","on","sat"]})");
  // Every special, in the order asked for.
  o.specials = {kPad, kUnk, kBos, kEos};
  const Vocab all = Vocab::build(TokenKind::kWord, count_tokens(text), o);
  EXPECT_EQ(all.pad(), 0);
  EXPECT_EQ(all.unk(), 1);
  EXPECT_EQ(all.bos(), 2);
  EXPECT_EQ(all.eos(), 3);
  EXPECT_TRUE(all.is_special(3));
  EXPECT_FALSE(all.is_special(4));
  EXPECT_EQ(all.size(), 10);
}

// ---------------------------------------------------------------------------------------------
// TokenBatches

// The vocabulary a checkpoint stores (recur.vocab) is the one read back from the file.
TEST(VocabOfWords, SurvivesACheckpointRoundTrip) {
  VocabOptions o;
  o.specials = {kPad, kUnk, kBos, kEos};
  const Vocab v = Vocab::build(
      TokenKind::kWord,
      count_tokens(tokenize("a \"quoted\" word\nand caf\u00E9 \\ back", TokenKind::kWord, "t")), o);
  io::Safetensors file;
  file.add("w", Tensor<float>(Shape{1}));
  file.metadata()["recur.vocab"] = v.to_json();
  const io::Safetensors back = io::Safetensors::parse(file.serialize(), "ckpt.safetensors");
  EXPECT_EQ(Vocab::from_json(back.metadata().at("recur.vocab"), back.source()), v);
}

// ---------------------------------------------------------------------------------------------
// Readers

TEST(Tokenize, AStreamOfCharactersOrWords) {
  EXPECT_EQ(tokenize("a\u00E9\n b", TokenKind::kChar, "t"),
            (std::vector<std::string>{"a", "\u00E9", "\n", " ", "b"}));
  EXPECT_EQ(tokenize("  the  cat\tsat \n\n on\r\n", TokenKind::kWord, "t"),
            (std::vector<std::string>{"the", "cat", "sat", "on"}));
  // PTB's convention: <eos> after every line, the last one too without a final line break.
  EXPECT_EQ(tokenize("a b\nc", TokenKind::kWord, "t", kEos),
            (std::vector<std::string>{"a", "b", "<eos>", "c", "<eos>"}));
  EXPECT_TRUE(throws_error_with([] { tokenize("ok \xC3(", TokenKind::kWord, "data/train.txt"); },
                                {"data/train.txt: invalid UTF-8 at byte 3"}));
  EXPECT_TRUE(throws_error_with([] { tokenize("\xFF", TokenKind::kChar, "names.txt"); },
                                {"names.txt: invalid UTF-8 at byte 0"}));
}

TEST(Tokenize, OneItemPerLineSkipsAndCountsBlankLines) {
  long skipped = -1;
  const auto items = tokenize_lines("Anna\r\n\n  \nJos\u00E9\nLi", TokenKind::kChar, "names.txt", &skipped);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0], (std::vector<std::string>{"A", "n", "n", "a"}));  // the \r is dropped
  EXPECT_EQ(items[1], (std::vector<std::string>{"J", "o", "s", "\u00E9"}));
  EXPECT_EQ(items[2], (std::vector<std::string>{"L", "i"}));  // the last line needs no line break
  EXPECT_EQ(skipped, 2);
  const auto words = tokenize_lines("the cat\n\nsat on  it\n", TokenKind::kWord, "t", &skipped);
  ASSERT_EQ(words.size(), 2u);
  EXPECT_EQ(words[1], (std::vector<std::string>{"sat", "on", "it"}));
  EXPECT_EQ(skipped, 1);
  EXPECT_TRUE(throws_error_with([] { tokenize_lines("\n \n", TokenKind::kWord, "names.txt"); },
                                {"names.txt: no items: all 2 lines are blank (one item per line expected)"}));
  EXPECT_TRUE(throws_error_with([] { tokenize_lines("", TokenKind::kChar, "names.txt"); },
                                {"names.txt: no items: the file is empty"}));
}

}  // namespace
}  // namespace recur::data
