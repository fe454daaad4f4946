// recur sample: generate text from a checkpoint, one character at a time (RnnStream: the prime
// text is read once, never recomputed), streamed to stdout as it is drawn.
#include <fmt/format.h>

#include <cstdio>

#include "commands.h"
#include "recur/data/utf8.h"
#include "recur/models/char_lm_checkpoint.h"
#include "recur/models/sampling.h"

namespace recur::cli {

namespace {

struct SampleOptions {
  std::string checkpoint;
  std::string prime_text;
  long length = 2000;
  models::SamplingOptions sampling;
  std::uint64_t seed = 123;
  int threads = 0;
};

void run_sample(const SampleOptions& o) {
  apply_threads(o.threads);
  models::validate(o.sampling);
  const models::LoadedCharLm loaded = models::load_char_lm(o.checkpoint);
  const models::CharLm<float>& model = *loaded.model;
  const data::CharVocab& vocab = loaded.vocab;
  Rng rng(o.seed);
  models::CharLmStream<float> stream = model.make_stream(1);
  Tensor<float> logits(Shape{1, vocab.size()});

  std::vector<std::int32_t> prime =
      vocab.encode(data::decode_utf8(o.prime_text, "--prime-text"), "--prime-text");
  if (prime.empty()) {
    // No prime: start after a line break when the vocabulary has one, else from a random character.
    const std::int32_t newline = vocab.find(U'\n');
    prime.push_back(newline >= 0
                        ? newline
                        : static_cast<std::int32_t>(rng.below(static_cast<std::uint32_t>(vocab.size()))));
  } else {
    std::fwrite(o.prime_text.data(), 1, o.prime_text.size(), stdout);
  }
  for (std::int32_t id : prime) model.step(stream, {id}, logits);
  for (long i = 0; i < o.length; ++i) {
    const std::int32_t next = models::sample_token(logits.data(), vocab.size(), o.sampling, rng);
    const std::string c = vocab.decode(next);
    std::fwrite(c.data(), 1, c.size(), stdout);
    if (c == "\n") std::fflush(stdout);
    model.step(stream, {next}, logits);
  }
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

}  // namespace

void add_sample_command(CLI::App& app) {
  auto options = std::make_shared<SampleOptions>();
  SampleOptions& o = *options;
  CLI::App* cmd = app.add_subcommand("sample", "generate text from a checkpoint");
  cmd->add_option("checkpoint", o.checkpoint, "a .safetensors checkpoint")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--prime-text", o.prime_text, "text to condition on (printed first)");
  cmd->add_option("--length", o.length, "characters to generate")
      ->check(CLI::Range(0L, 1L << 40))
      ->capture_default_str();
  cmd->add_option("--temperature", o.sampling.temperature, "divides the logits; lower is more conservative")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--top-k", o.sampling.top_k, "sample among the k most likely (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--top-p", o.sampling.top_p, "sample from the smallest set with this much probability")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_flag("--argmax", o.sampling.argmax, "always take the most likely character");
  cmd->add_option("--seed", o.seed, "random seed")->capture_default_str();
  add_threads_option(*cmd, o.threads);
  cmd->callback([options] { run_sample(*options); });
}

}  // namespace recur::cli
