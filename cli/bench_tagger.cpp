#include "bench_tagger.h"

#include <fmt/format.h>

#include <sstream>

#include "bench_timing.h"
#include "commands.h"
#include "recur/data/conll.h"
#include "recur/models/tagger_data.h"
#include "recur/ops/gemm.h"
#include "recur/ops/packed_gemm.h"
#include "recur/threads.h"
#include "recur/train/optimizer.h"

namespace recur::cli {

namespace {

constexpr size_t kSentences = 2048;

}  // namespace

nlohmann::ordered_json bench_tagger(const std::string& mode, const std::string& cell, index_t hidden,
                                    index_t batch_size, int threads, int reps, double min_time) {
  RECUR_REQUIRE(mode == "tag-train" || mode == "tag-infer",
                fmt::format("bench: --mode {} is not a tagger mode", mode));
  set_num_threads(threads);
  std::istringstream in(load_data("ud_english_ewt"));
  data::TaggedSentenceReader reader(in, data::ColumnFormat::kConllu, 4, "ud_english_ewt");
  std::vector<data::TaggedSentence> sentences;
  while (sentences.size() < kSentences) {
    auto s = reader.next();
    if (!s) break;
    sentences.push_back(std::move(*s));
  }
  const models::TaggerVocabularies v = models::tagger_vocabularies(sentences, 1);
  const models::EncodedSentences encoded = models::encode_sentences(sentences, v);
  models::TaggerConfig c;
  c.cell = nn::parse_cell_kind(cell);
  c.rnn_size = hidden;
  c.word_vocab_size = v.words.size();
  c.char_vocab_size = v.chars.size();
  c.num_tags = v.tags.size();
  models::Tagger<float> model(c);
  Rng rng(1);
  model.init(rng);
  // Consecutive sentences, as the file has them.
  struct Batch {
    models::TaggerBatch batch;
    std::vector<std::int32_t> tags;
  };
  std::vector<Batch> batches;
  for (index_t first = 0; first < encoded.size(); first += batch_size) {
    std::vector<index_t> which;
    for (index_t i = first; i < std::min(encoded.size(), first + batch_size); ++i) which.push_back(i);
    Batch b;
    b.batch = models::tagger_batch(encoded, which, &b.tags);
    batches.push_back(std::move(b));
  }
  auto adam = train::make_optimizer(model.params(), train::AdamOptions{});
  size_t next = 0;
  const auto rates = measure_varying(reps, min_time, [&] {
    const Batch& b = batches[next++ % batches.size()];
    if (mode == "tag-train") {
      model.params().zero_grad();
      ag::Tape<float> tape;
      const ag::Var<float> loss = model.loss(tape, b.batch, b.tags, true, &rng);
      tape.backward(loss);
      train::clip_grad_norm(model.params(), 5.0f);
      adam->step();
    } else {
      const std::vector<std::int32_t> best = model.decode(b.batch);
      RECUR_CHECK(!best.empty(), "bench: no tags");
    }
    return static_cast<double>(b.batch.num_words());
  });
  const Stats s = stats_of(rates);
  const double words_per_sentence = double(encoded.total_words) / double(encoded.size());
  return {{"engine", "recur"},
          {"mode", mode},
          {"model", cell},
          {"hidden", hidden},
          {"layers", 1},
          {"batch", batch_size},
          {"threads", threads},
          {"sentences", encoded.size()},
          {"tokens_per_s", s.median},
          {"tokens_per_s_min", s.min},
          {"tokens_per_s_max", s.max},
          {"sentences_per_s", s.median / words_per_sentence},
          {"reps", reps},
          {"packed_kernel", packed_gemm_isa()},
          {"blas_backend", blas_backend()}};
}

}  // namespace recur::cli
