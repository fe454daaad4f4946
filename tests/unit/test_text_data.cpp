// Text data: strict UTF-8 decoding and encoding (data/utf8.h), char-rnn's batch layout and splits
// (data/text_batches.h), and the add-one unigram / bigram floors (data/ngram.h). Expected values
// are written out by hand in each test.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <iterator>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "recur/data/ngram.h"
#include "recur/data/text_batches.h"
#include "recur/data/token_ids.h"
#include "recur/data/tokenize.h"
#include "recur/data/utf8.h"
#include "recur/rng.h"
#include "test_util.h"

namespace recur::data {
namespace {

using testing::error_message;
using testing::throws_error_with;

// ---------------------------------------------------------------------------------------------
// UTF-8

TEST(Utf8, DecodesAsciiAndMultiByteSequences) {
  EXPECT_EQ(decode_utf8("", "in.txt"), U"");
  EXPECT_EQ(decode_utf8("Hi!\n\t~", "in.txt"), U"Hi!\n\t~");
  EXPECT_EQ(decode_utf8(std::string("a\0b", 3), "in.txt"), std::u32string(U"a\0b", 3));
  EXPECT_EQ(decode_utf8("\xC3\xA9", "in.txt"), std::u32string(1, char32_t{0xE9}));             // é
  EXPECT_EQ(decode_utf8("\xE2\x82\xAC", "in.txt"), std::u32string(1, char32_t{0x20AC}));       // €
  EXPECT_EQ(decode_utf8("\xF0\x9F\x98\x80", "in.txt"), std::u32string(1, char32_t{0x1F600}));  // 😀
  // Mixed: one character per sequence, in order.
  const std::u32string mixed = decode_utf8("a\xC3\xA9z\xE2\x82\xAC\xF0\x9F\x98\x80.", "in.txt");
  EXPECT_EQ(mixed, (std::u32string{U'a', 0xE9, U'z', 0x20AC, 0x1F600, U'.'}));
}

TEST(Utf8, RejectsInvalidInputNamingTheByteOffsetAndTheSource) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ab\xC0\x80", "in.txt: invalid UTF-8 at byte 2 (overlong encoding)"},
      {"x\xE0\x80\x80", "in.txt: invalid UTF-8 at byte 1 (overlong encoding)"},
      {"xyz\xED\xA0\x80", "in.txt: invalid UTF-8 at byte 3 (surrogate code point)"},
      {"\xF4\x90\x80\x80", "in.txt: invalid UTF-8 at byte 0 (code point above U+10FFFF)"},
      {"a\x80", "in.txt: invalid UTF-8 at byte 1 (unexpected continuation byte)"},
      {"ab\xF8\x88\x80\x80\x80", "in.txt: invalid UTF-8 at byte 2 (invalid lead byte)"},
      {"abc\xE2\x82", "in.txt: invalid UTF-8 at byte 3 (sequence truncated by the end of the input)"},
      {"abc\xF0", "in.txt: invalid UTF-8 at byte 3 (sequence truncated by the end of the input)"},
      {"a\xE2\x82x", "in.txt: invalid UTF-8 at byte 1 (sequence truncated by a non-continuation byte)"},
      // Offsets count bytes, not characters: é and € take 2 + 3 bytes before the bad one.
      {"\xC3\xA9\xE2\x82\xAC\xFF", "in.txt: invalid UTF-8 at byte 5 (invalid lead byte)"},
      // A valid prefix followed by the bad sequence: the first bad byte is reported.
      {"\xC3\xA9"
       "a\xED\xBF\xBF",
       "in.txt: invalid UTF-8 at byte 3 (surrogate code point)"},
  };
  for (const auto& [bytes, expected] : cases) {
    SCOPED_TRACE(expected);
    EXPECT_EQ(error_message([&] { decode_utf8(bytes, "in.txt"); }), expected);
  }
  // The largest and smallest valid neighbours of the rejected ranges still decode.
  EXPECT_EQ(decode_utf8("\xED\x9F\xBF", "in.txt"), std::u32string(1, char32_t{0xD7FF}));
  EXPECT_EQ(decode_utf8("\xEE\x80\x80", "in.txt"), std::u32string(1, char32_t{0xE000}));
  EXPECT_EQ(decode_utf8("\xF4\x8F\xBF\xBF", "in.txt"), std::u32string(1, char32_t{0x10FFFF}));
}

TEST(Utf8, EncodesEveryLengthBoundaryAndRoundTrips) {
  const std::vector<std::pair<char32_t, std::string>> cases = {
      {0x00, std::string(1, '\0')},
      {0x7F, "\x7F"},
      {0x80, "\xC2\x80"},
      {0x7FF, "\xDF\xBF"},
      {0x800, "\xE0\xA0\x80"},
      {0xFFFF, "\xEF\xBF\xBF"},
      {0x10000, "\xF0\x90\x80\x80"},
      {0x10FFFF, "\xF4\x8F\xBF\xBF"},
  };
  std::u32string all;
  std::string all_bytes;
  for (const auto& [cp, bytes] : cases) {
    SCOPED_TRACE(static_cast<unsigned>(cp));
    const std::u32string one(1, cp);
    EXPECT_EQ(encode_utf8(one), bytes);
    EXPECT_EQ(decode_utf8(bytes, "s"), one);
    std::string appended = "x";
    append_utf8(cp, appended);
    EXPECT_EQ(appended, "x" + bytes);
    all += one;
    all_bytes += bytes;
  }
  EXPECT_EQ(encode_utf8(all), all_bytes);
  EXPECT_EQ(decode_utf8(all_bytes, "s"), all);
}

TEST(Utf8, EncodeRejectsSurrogatesAndCodePointsAboveTheRange) {
  EXPECT_TRUE(throws_error_with([] { encode_utf8(std::u32string(1, char32_t{0xD800})); },
                                {"cannot encode U+D800 as UTF-8"}));
  EXPECT_TRUE(throws_error_with(
      [] {
        encode_utf8(std::u32string{U'a', char32_t{0xDFFF}});
      },
      {"cannot encode U+DFFF as UTF-8"}));
  EXPECT_TRUE(throws_error_with([] { encode_utf8(std::u32string(1, char32_t{0x110000})); },
                                {"cannot encode U+110000 as UTF-8"}));
}

TEST(Utf8, DescribeCodePoint) {
  EXPECT_EQ(describe_code_point(U'a'), "'a'");
  EXPECT_EQ(describe_code_point(U'!'), "'!'");
  EXPECT_EQ(describe_code_point(0xE9), "'\xC3\xA9'");
  EXPECT_EQ(describe_code_point(0x20AC), "'\xE2\x82\xAC'");
  EXPECT_EQ(describe_code_point(U' '), "U+0020");
  EXPECT_EQ(describe_code_point(U'\n'), "U+000A");
  EXPECT_EQ(describe_code_point(0x7F), "U+007F");
  EXPECT_EQ(describe_code_point(0x85), "U+0085");
  EXPECT_EQ(describe_code_point(0xD800), "U+D800");
  EXPECT_EQ(describe_code_point(0x110000), "U+110000");
}

// ---------------------------------------------------------------------------------------------
// TokenBatches

// Token i of the stream is 100 + i, so a wrong index shows up as a wrong value.
std::vector<std::int32_t> stream_of(index_t n) {
  std::vector<std::int32_t> tokens;
  for (index_t i = 0; i < n; ++i) tokens.push_back(static_cast<std::int32_t>(100 + i));
  return tokens;
}

TEST(TokenBatches, CharRnnLayoutByHand) {
  // N = 20, B = 2, T = 3: nb = (20 − 1) / 6 = 3 batches, rows of nb·T = 9 tokens.
  // Row 0 = tokens 0..8 (values 100..108), row 1 = tokens 9..17 (values 109..117); 18, 19 unused
  // except token 18 as row 1's last target.
  const TokenBatches batches(stream_of(20), 2, 3, {.train = 0.95, .val = 0.05, .test = 0.0}, "toy.txt");
  EXPECT_EQ(batches.batch_size(), 2);
  EXPECT_EQ(batches.seq_length(), 3);
  EXPECT_EQ(batches.tokens_per_batch(), 6);
  // n_train = ⌊3 · 0.95⌋ = 2, n_test = 0, n_val = 1.
  ASSERT_EQ(batches.count(Split::kTrain), 2);
  ASSERT_EQ(batches.count(Split::kVal), 1);
  ASSERT_EQ(batches.count(Split::kTest), 0);
  // Time-major [t·B + b]: (row 0, row 1) at t = 0, then t = 1, then t = 2.
  const TokenBatch b0 = batches.get(Split::kTrain, 0);
  EXPECT_EQ(b0.T, 3);
  EXPECT_EQ(b0.B, 2);
  EXPECT_EQ(b0.inputs, (std::vector<std::int32_t>{100, 109, 101, 110, 102, 111}));
  EXPECT_EQ(b0.targets, (std::vector<std::int32_t>{101, 110, 102, 111, 103, 112}));
  const TokenBatch b1 = batches.get(Split::kTrain, 1);
  EXPECT_EQ(b1.inputs, (std::vector<std::int32_t>{103, 112, 104, 113, 105, 114}));
  EXPECT_EQ(b1.targets, (std::vector<std::int32_t>{104, 113, 105, 114, 106, 115}));
  // The validation split starts at global batch n_train = 2. Row 0's last target is token 9, the
  // first token of row 1: targets are the next token in the stream, not in the row.
  const TokenBatch v0 = batches.get(Split::kVal, 0);
  EXPECT_EQ(v0.inputs, (std::vector<std::int32_t>{106, 115, 107, 116, 108, 117}));
  EXPECT_EQ(v0.targets, (std::vector<std::int32_t>{107, 116, 108, 117, 109, 118}));

  EXPECT_EQ(batches.split_tokens(Split::kTrain),
            (std::vector<std::int32_t>{100, 101, 102, 103, 104, 105, 109, 110, 111, 112, 113, 114}));
  EXPECT_EQ(batches.split_tokens(Split::kVal), (std::vector<std::int32_t>{106, 107, 108, 115, 116, 117}));
  EXPECT_TRUE(batches.split_tokens(Split::kTest).empty());

  EXPECT_TRUE(
      throws_error_with([&] { batches.get(Split::kTrain, 2); }, {"batch 2 of a split with 2 batches"}));
  EXPECT_TRUE(
      throws_error_with([&] { batches.get(Split::kVal, -1); }, {"batch -1 of a split with 1 batches"}));
  EXPECT_TRUE(
      throws_error_with([&] { batches.get(Split::kTest, 0); }, {"batch 0 of a split with 0 batches"}));
}

TEST(TokenBatches, ThreeWaySplitByHand) {
  // N = 10, B = 3, T = 1: nb = 3, rows of 3 tokens: row 0 = 100..102, row 1 = 103..105,
  // row 2 = 106..108. train ⌊3 · 0.34⌋ = 1, test ⌊3 · 0.34⌋ = 1, val the remaining 1.
  const TokenBatches batches(stream_of(10), 3, 1, {.train = 0.34, .val = 0.32, .test = 0.34}, "toy.txt");
  ASSERT_EQ(batches.count(Split::kTrain), 1);
  ASSERT_EQ(batches.count(Split::kVal), 1);
  ASSERT_EQ(batches.count(Split::kTest), 1);
  EXPECT_EQ(batches.get(Split::kTrain, 0).inputs, (std::vector<std::int32_t>{100, 103, 106}));
  EXPECT_EQ(batches.get(Split::kVal, 0).inputs, (std::vector<std::int32_t>{101, 104, 107}));
  EXPECT_EQ(batches.get(Split::kTest, 0).inputs, (std::vector<std::int32_t>{102, 105, 108}));
  EXPECT_EQ(batches.get(Split::kTest, 0).targets, (std::vector<std::int32_t>{103, 106, 109}));
  EXPECT_EQ(batches.split_tokens(Split::kTest), (std::vector<std::int32_t>{102, 105, 108}));
}

TEST(TokenBatches, SplitCountsFollowCharRnnRule) {
  struct Case {
    index_t n_tokens, B, T;
    SplitFractions f;
    index_t train, val, test;
  };
  const std::vector<Case> cases = {
      // nb = (61 − 1) / 6 = 10: ⌊5⌋, ⌊3⌋, rest 2.
      {61, 2, 3, {.train = 0.5, .val = 0.2, .test = 0.3}, 5, 2, 3},
      // nb = (48 − 1) / 6 = 7: ⌊4.2⌋ = 4, ⌊1.75⌋ = 1, rest 2.
      {48, 2, 3, {.train = 0.6, .val = 0.15, .test = 0.25}, 4, 2, 1},
      // nb = 7, defaults: ⌊6.65⌋ = 6, 0, rest 1.
      {48, 3, 2, {}, 6, 1, 0},
      // nb = 100: ⌊90⌋, ⌊5⌋, 5.
      {101, 1, 1, {.train = 0.9, .val = 0.05, .test = 0.05}, 90, 5, 5},
      // The remainder goes to validation even at val = 0: ⌊3.5⌋ = 3, ⌊3.5⌋ = 3, rest 1.
      {8, 1, 1, {.train = 0.5, .val = 0.0, .test = 0.5}, 3, 1, 3},
      // All training.
      {13, 2, 2, {.train = 1.0, .val = 0.0, .test = 0.0}, 3, 0, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.n_tokens << " tokens, B " << c.B << ", T " << c.T);
    const TokenBatches batches(stream_of(c.n_tokens), c.B, c.T, c.f, "toy.txt");
    EXPECT_EQ(batches.count(Split::kTrain), c.train);
    EXPECT_EQ(batches.count(Split::kVal), c.val);
    EXPECT_EQ(batches.count(Split::kTest), c.test);
    for (Split s : {Split::kTrain, Split::kVal, Split::kTest})
      EXPECT_EQ(static_cast<index_t>(batches.split_tokens(s).size()), batches.count(s) * c.B * c.T);
  }
}

TEST(TokenBatches, ConsecutiveBatchesContinueEachRow) {
  // A pseudo-random stream; B = 4, T = 5, N = 437 → nb = 436 / 20 = 21, rows of 105 tokens.
  constexpr index_t B = 4, T = 5, N = 437, nb = 21, row = nb * T;
  Rng rng(11);
  std::vector<std::int32_t> tokens;
  for (index_t i = 0; i < N; ++i) tokens.push_back(static_cast<std::int32_t>(rng.below(50)));
  const TokenBatches batches(tokens, B, T, {.train = 0.7, .val = 0.2, .test = 0.1}, "rand.txt");
  ASSERT_EQ(batches.count(Split::kTrain), 14);  // ⌊14.7⌋
  ASSERT_EQ(batches.count(Split::kTest), 2);    // ⌊2.1⌋
  ASSERT_EQ(batches.count(Split::kVal), 5);
  // Walking all batches of all splits in order reads each row's stretch of the stream in order.
  std::vector<std::vector<std::int32_t>> read(B), next(B);
  index_t global = 0;
  for (Split s : {Split::kTrain, Split::kVal, Split::kTest})
    for (index_t j = 0; j < batches.count(s); ++j, ++global) {
      const TokenBatch batch = batches.get(s, j);
      for (index_t b = 0; b < B; ++b)
        for (index_t t = 0; t < T; ++t) {
          read[static_cast<size_t>(b)].push_back(batch.inputs[static_cast<size_t>(t * B + b)]);
          next[static_cast<size_t>(b)].push_back(batch.targets[static_cast<size_t>(t * B + b)]);
        }
    }
  EXPECT_EQ(global, nb);
  for (index_t b = 0; b < B; ++b) {
    const auto first = tokens.begin() + b * row;
    EXPECT_EQ(read[static_cast<size_t>(b)], std::vector<std::int32_t>(first, first + row)) << "row " << b;
    EXPECT_EQ(next[static_cast<size_t>(b)], std::vector<std::int32_t>(first + 1, first + row + 1))
        << "row " << b;
  }
  // split_tokens: the split's stretch of every row, row by row.
  const std::vector<std::int32_t> val = batches.split_tokens(Split::kVal);
  ASSERT_EQ(static_cast<index_t>(val.size()), B * 5 * T);
  for (index_t b = 0; b < B; ++b) {
    const auto first = tokens.begin() + b * row + 14 * T;
    EXPECT_EQ(std::vector<std::int32_t>(val.begin() + b * 5 * T, val.begin() + (b + 1) * 5 * T),
              std::vector<std::int32_t>(first, first + 5 * T))
        << "row " << b;
  }
}

// ---------------------------------------------------------------------------------------------
// Token ids in the narrowest type

TEST(TokenIds, TheWidthIsTheNarrowestThatHoldsTheVocabulary) {
  EXPECT_EQ(TokenIds(65).bytes_per_id(), 1);
  EXPECT_EQ(TokenIds(256).bytes_per_id(), 1);  // ids 0 … 255
  EXPECT_EQ(TokenIds(257).bytes_per_id(), 2);
  EXPECT_EQ(TokenIds(65536).bytes_per_id(), 2);
  EXPECT_EQ(TokenIds(65537).bytes_per_id(), 4);
  EXPECT_EQ(TokenIds::of(std::vector<std::int32_t>{3, 255, 0}).bytes_per_id(), 1);
  EXPECT_EQ(TokenIds::of(std::vector<std::int32_t>{3, 256}).bytes_per_id(), 2);
  EXPECT_TRUE(throws_error_with([] { TokenIds(0); }, {"vocabulary size 0"}));
  TokenIds ids(10);
  EXPECT_TRUE(throws_error_with(
      [&] {
        ids.append(std::vector<std::int32_t>{1, 10});
      },
      {"id 10 is outside a vocabulary of 10"}));
  EXPECT_TRUE(throws_error_with([&] { ids.append(std::vector<std::int32_t>{-1}); }, {"id -1"}));
  EXPECT_EQ(ids.size(), 0);
}

// Every width gives back the ids it was given, across the blocks' boundaries, whole or in ranges;
// the memory is the ids' bytes, a block at most more.
TEST(TokenIds, ReadsBackWhatWasAppendedAcrossBlocks) {
  const index_t n = TokenIds::kBlockIds * 2 + 77;
  for (const std::int64_t vocab : {std::int64_t{256}, std::int64_t{65536}, std::int64_t{1} << 24}) {
    SCOPED_TRACE(vocab);
    std::vector<std::int32_t> want(static_cast<size_t>(n));
    Rng rng(static_cast<std::uint64_t>(vocab));
    for (auto& id : want) id = static_cast<std::int32_t>(rng.below(static_cast<std::uint32_t>(vocab)));
    want[0] = static_cast<std::int32_t>(vocab - 1);  // the largest id survives the narrowing
    TokenIds ids(vocab);
    // Appended in uneven pieces, one of which straddles a block boundary.
    const index_t cuts[] = {0, 5, TokenIds::kBlockIds - 3, TokenIds::kBlockIds + 10, n};
    for (size_t c = 0; c + 1 < std::size(cuts); ++c)
      ids.append(
          std::span(want).subspan(static_cast<size_t>(cuts[c]), static_cast<size_t>(cuts[c + 1] - cuts[c])));
    ASSERT_EQ(ids.size(), n);
    EXPECT_EQ(ids.to_vector(), want);
    const index_t begin = TokenIds::kBlockIds - 4;
    EXPECT_EQ(ids.slice(begin, 9), std::vector<std::int32_t>(want.begin() + begin, want.begin() + begin + 9));
    EXPECT_EQ(ids[TokenIds::kBlockIds], want[static_cast<size_t>(TokenIds::kBlockIds)]);
    EXPECT_EQ(ids.capacity_bytes(), static_cast<size_t>(3 * TokenIds::kBlockIds * ids.bytes_per_id()));
  }
}

// A split read in place is the split copied, and the floors over it are the same numbers.
TEST(TokenBatches, SplitViewsReadWhatSplitTokensCopies) {
  std::vector<std::int32_t> tokens(1000);
  Rng rng(4);
  for (auto& id : tokens) id = static_cast<std::int32_t>(rng.below(7));
  const TokenBatches batches(tokens, 3, 8, {.train = 0.7, .val = 0.2, .test = 0.1}, "t.txt");
  for (const Split s : {Split::kTrain, Split::kVal, Split::kTest}) {
    const SplitTokens view = batches.split_view(s);
    const std::vector<std::int32_t> copy = batches.split_tokens(s);
    ASSERT_EQ(view.size(), static_cast<index_t>(copy.size()));
    for (index_t i = 0; i < view.size(); ++i) EXPECT_EQ(view[i], copy[static_cast<size_t>(i)]) << i;
  }
  const NgramFloors in_place =
      ngram_floors(batches.split_view(Split::kTrain), batches.split_view(Split::kVal), 7);
  const NgramFloors copied =
      ngram_floors(batches.split_tokens(Split::kTrain), batches.split_tokens(Split::kVal), 7);
  EXPECT_EQ(in_place.unigram, copied.unigram);
  EXPECT_EQ(in_place.bigram, copied.bigram);
}

TEST(TokenBatches, RejectsTooLittleDataAndBadFractions) {
  const SplitFractions defaults;
  // 6 tokens cannot give one 2×3 batch plus its last target.
  EXPECT_TRUE(throws_error_with([&] { TokenBatches(stream_of(6), 2, 3, defaults, "tiny.txt"); },
                                {"tiny.txt: 6 tokens are too few for one batch of 2 streams × 3 steps "
                                 "(needs 7): use a smaller --batch-size or --seq-length"}));
  EXPECT_NO_THROW(TokenBatches(stream_of(7), 2, 3, {.train = 1.0, .val = 0.0, .test = 0.0}, "tiny.txt"));
  // One batch: ⌊0.95⌋ = 0 training batches.
  EXPECT_TRUE(
      throws_error_with([&] { TokenBatches(stream_of(7), 2, 3, defaults, "tiny.txt"); },
                        {"tiny.txt: 1 batches of 2×3 leave none for training at train fraction 0.95"}));
  // val > 0 but no batch left for it (only reachable through the 1e-9 slack in the sum check).
  EXPECT_TRUE(throws_error_with(
      [&] { TokenBatches(stream_of(13), 2, 3, {.train = 0.5, .val = 1e-10, .test = 0.5}, "tiny.txt"); },
      {"tiny.txt: 2 batches of 2×3 leave none for validation at val fraction 1e-10"}));
  EXPECT_TRUE(throws_error_with([&] { TokenBatches(stream_of(50), 0, 3, defaults, "d.txt"); },
                                {"d.txt: batch size (0) and sequence length (3) must be at least 1"}));
  EXPECT_TRUE(throws_error_with([&] { TokenBatches(stream_of(50), 2, -1, defaults, "d.txt"); },
                                {"d.txt: batch size (2) and sequence length (-1) must be at least 1"}));
  EXPECT_TRUE(throws_error_with(
      [&] { TokenBatches(stream_of(50), 2, 3, {.train = -0.1, .val = 0.05, .test = 0.0}, "d.txt"); },
      {"d.txt: split fractions must lie in [0, 1]"}));
  EXPECT_TRUE(throws_error_with(
      [&] { TokenBatches(stream_of(50), 2, 3, {.train = 0.9, .val = 0.05, .test = 1.5}, "d.txt"); },
      {"d.txt: split fractions must lie in [0, 1]"}));
  EXPECT_TRUE(throws_error_with(
      [&] { TokenBatches(stream_of(50), 2, 3, {.train = 0.9, .val = std::nan(""), .test = 0.0}, "d.txt"); },
      {"d.txt: split fractions must lie in [0, 1]"}));
  EXPECT_TRUE(throws_error_with(
      [&] { TokenBatches(stream_of(50), 2, 3, {.train = 0.0, .val = 0.5, .test = 0.0}, "d.txt"); },
      {"d.txt: split fractions train 0 + val 0.5 + test 0", "must be positive for train"}));
  EXPECT_TRUE(throws_error_with(
      [&] { TokenBatches(stream_of(50), 2, 3, {.train = 0.9, .val = 0.2, .test = 0.0}, "d.txt"); },
      {"d.txt: split fractions train 0.9 + val 0.2 + test 0", "add up to at most 1"}));
}

// ---------------------------------------------------------------------------------------------
// N-gram floors

TEST(NgramFloors, TinyExampleByHand) {
  // V = 3, train = 0 1 0 1 2 (n = 5): unigram counts 2, 2, 1 → P = 3/8, 3/8, 2/8.
  // Bigram contexts (every token but the last): 0 twice, 1 twice, 2 never; pairs 01 ×2, 10, 12.
  const std::vector<std::int32_t> train = {0, 1, 0, 1, 2};
  const std::vector<std::int32_t> held_out = {0, 2, 1, 0};
  const NgramFloors f = ngram_floors(train, held_out, 3);
  const double unigram = -(std::log(3.0 / 8) + std::log(2.0 / 8) + std::log(3.0 / 8) + std::log(3.0 / 8)) / 4;
  // P(2|0) = (0+1)/(2+3), P(1|2) = (0+1)/(0+3), P(0|1) = (1+1)/(2+3).
  const double bigram = -(std::log(1.0 / 5) + std::log(1.0 / 3) + std::log(2.0 / 5)) / 3;
  EXPECT_NEAR(f.unigram, unigram, 1e-14);
  EXPECT_NEAR(f.bigram, bigram, 1e-14);
  // A token never seen in training: unigram (0+1)/(n+V), bigram from an unseen context 1/V.
  const NgramFloors g = ngram_floors({0, 0, 0}, {1, 1}, 2);
  EXPECT_NEAR(g.unigram, -std::log(1.0 / 5), 1e-14);
  EXPECT_NEAR(g.bigram, -std::log(1.0 / 2), 1e-14);
}

TEST(NgramFloors, TrainingTextScoresBetterThanItsShuffle) {
  // A text with strong bigram structure: words drawn at random from a small list.
  const std::vector<std::string> words = {"the ", "cat ", "sat ", "on ", "a ", "mat "};
  Rng rng(5);
  std::string text;
  while (text.size() < 3000) text += words[rng.below(static_cast<std::uint32_t>(words.size()))];
  const std::vector<std::string> chars = tokenize(text, TokenKind::kChar, "words");
  const Vocab vocab = Vocab::build(TokenKind::kChar, count_tokens(chars), {});
  const std::vector<std::int32_t> tokens = vocab.encode(chars, "words");
  std::vector<std::int32_t> shuffled = tokens;
  for (size_t i = shuffled.size() - 1; i > 0; --i)
    std::swap(shuffled[i], shuffled[rng.below(static_cast<std::uint32_t>(i + 1))]);
  const NgramFloors same = ngram_floors(tokens, tokens, vocab.size());
  const NgramFloors other = ngram_floors(tokens, shuffled, vocab.size());
  // The unigram model cannot tell a permutation apart (same multiset of tokens).
  EXPECT_NEAR(same.unigram, other.unigram, 1e-12);
  // The bigram model can, by a wide margin; and on its own training text it beats the unigram.
  EXPECT_LT(same.bigram + 0.5, other.bigram) << same.bigram << " vs " << other.bigram;
  EXPECT_LT(same.bigram + 0.5, same.unigram);
  // Both are at most the uniform log V (add-one smoothing on 3000 tokens stays near the counts).
  EXPECT_LT(same.unigram, std::log(vocab.size()));
}

TEST(NgramFloors, RejectsTooFewHeldOutTokensAndEmptyVocabulary) {
  EXPECT_TRUE(throws_error_with(
      [] {
        ngram_floors({0, 1}, {0}, 2);
      },
      {"2 held-out tokens", "V = 2, 1 tokens"}));
  EXPECT_TRUE(throws_error_with([] { ngram_floors({}, {}, 0); }, {"V = 0, 0 tokens"}));
}

}  // namespace
}  // namespace recur::data
