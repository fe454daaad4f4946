// How a language model reads and writes text, for characters and for words, as one stream (below)
// or one item per line (models/lm_lines.h):
//
//   characters  every Unicode code point is a token, line breaks included; no specials
//   words       whitespace-separated tokens with <eos> after every line (PTB's convention); the
//               specials <unk> and <eos> (a corpus's own "<unk>" is the special), --min-freq and
//               --max-vocab cut the rest to <unk>
//
// and generation writes characters as they are, words separated by spaces and <eos> as a line break.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "recur/data/token_ids.h"
#include "recur/data/vocab.h"
#include "recur/models/task_model.h"

namespace recur::models {

// A text as one stream of tokens. `source` names it in errors.
std::vector<std::string> lm_stream_tokens(std::string_view text, data::TokenKind kind,
                                          std::string_view source);

// The same as vocab.encode(lm_stream_tokens(text, …)) and lm_vocabulary(lm_stream_tokens(text, …)),
// done piece by piece (pieces of about `piece_bytes`, cut after a line break for words and between
// characters for characters), so that the tokens as strings (32 bytes each) exist for one piece at
// a time: a stream costs its ids in the narrowest type (data::TokenIds: 1 byte a character), not 32
// bytes a character. Errors are those of the whole text.
data::TokenIds lm_stream_ids(std::string_view text, const data::Vocab& vocab, std::string_view source,
                             std::int64_t* unknown = nullptr, size_t piece_bytes = size_t{1} << 20);
data::Vocab lm_stream_vocabulary(std::string_view text, data::TokenKind kind, std::string_view source,
                                 std::int64_t min_freq = 1, std::int64_t max_vocab = 0,
                                 size_t piece_bytes = size_t{1} << 20);

// The vocabulary of training tokens: for a stream, words add <unk> and <eos>; for one item per
// line (`lines`), <bos> and <eos> mark each item's ends (and words add <unk>).
data::Vocab lm_vocabulary(const std::vector<std::string>& tokens, data::TokenKind kind,
                          std::int64_t min_freq = 1, std::int64_t max_vocab = 0, bool lines = false);

// The text a generated token adds after `previous` (-1 at the start of a line of output): a
// character itself; a word with a space before it unless it starts a line; "\n" for <eos>.
std::string lm_token_text(const data::Vocab& vocab, std::int32_t id, std::int32_t previous);

// What both language models' generate() share. lm_prime_ids checks the options (the sampling,
// and --count only for a per-line model, `source` naming the checkpoint) and returns the prime's
// ids: a word prime without the <eos> a line would end with, so that generation continues it.
std::vector<std::int32_t> lm_prime_ids(const data::Vocab& vocab, const GenerateOptions& options, bool lines,
                                       std::string_view source);
// lm_draw draws up to `length` tokens after `previous` (-1 at a line start): each from next(),
// emitted as text (lm_token_text), then fed back with feed(). An item (`stop_at_end`) ends at
// <eos> (or <bos>, never a target in training), which is not emitted. Then emits "\n".
void lm_draw(const data::Vocab& vocab, long length, std::int32_t previous, bool stop_at_end,
             const std::function<std::int32_t()>& next, const std::function<void(std::int32_t)>& feed,
             const std::function<void(std::string_view)>& emit);

// recur eval's result from the summed cross-entropy of `predictions` predictions: JSON {"loss"
// (nats per prediction), "perplexity", "tokens", and "bpc" for characters or "unknown" (tokens read
// as <unk>) for words}, and a line for people that warns when over 10% of the words were unknown.
Evaluation lm_evaluation(std::string_view source, double total, std::int64_t predictions,
                         std::int64_t unknown, data::TokenKind kind);

// recur inspect's line for a language model's vocabulary: its size and kind, every character
// (line break and space made visible) or the first 40 words.
std::string lm_vocabulary_summary(const data::Vocab& vocab);

}  // namespace recur::models
