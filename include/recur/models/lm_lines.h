// A language model over one item per line (names, word lists): each item is read from <bos> and
// predicts its tokens and then <eos>, from a fresh state, in padded batches (no state is carried
// between items). Loss and perplexity count every prediction, <eos> included.
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "recur/data/ngram.h"
#include "recur/data/sequence_batches.h"
#include "recur/data/vocab.h"
#include "recur/models/rnn_lm.h"
#include "recur/train/trainer.h"

namespace recur::models {

// The items of a text (data::tokenize_lines) as ids; words outside the vocabulary read as <unk>
// (counted in `unknown` when given).
std::vector<std::vector<std::int32_t>> lm_line_items(std::string_view text, const data::Vocab& vocab,
                                                     std::string_view source,
                                                     std::int64_t* unknown = nullptr);

// `items` split by line into (train, validation) with a seeded shuffle: round(val_frac · n) items,
// at least 1, go to validation.
std::pair<std::vector<std::vector<std::int32_t>>, std::vector<std::vector<std::int32_t>>> split_lines(
    std::vector<std::vector<std::int32_t>> items, double val_frac, std::uint64_t seed);

// Σ of the cross-entropies of every prediction of `items` (<bos> x1…xn → x1…xn <eos>) and their
// number, in batches of `batch` items (no dropout).
struct LinesLoss {
  double total = 0;
  std::int64_t predictions = 0;
};
LinesLoss lm_lines_loss(const RnnLm<float>& model, const data::Vocab& vocab,
                        const std::vector<std::vector<std::int32_t>>& items, index_t batch);

// The add-one unigram and bigram floors of per-line items: fitted on `train`'s predictions
// (<bos> x1…xn → x1…xn <eos>), scored per prediction on `held_out`'s; the outcomes are the
// vocabulary without <bos>, which is never predicted (for names: 26 letters and <eos>, as
// makemore's 27 with ".").
data::NgramFloors lm_lines_floors(const std::vector<std::vector<std::int32_t>>& train,
                                  const std::vector<std::vector<std::int32_t>>& held_out,
                                  const data::Vocab& vocab);

class LmLinesTask final : public train::TrainingTask {
 public:
  // model and vocab must outlive the task.
  LmLinesTask(RnnLm<float>& model, const data::Vocab& vocab, std::vector<std::vector<std::int32_t>> train,
              std::vector<std::vector<std::int32_t>> validation, const data::SequenceBatchOptions& options);

  nn::ParameterTable<float>& params() override { return model_.params(); }
  long batches_per_epoch() const override { return batches_.batches_per_epoch(); }
  train::TrainingBatch training_batch(ag::Tape<float>& tape, long epoch, long index, Rng& rng) override;
  bool has_validation() const override { return !validation_.empty(); }
  train::Metrics validate() override;  // {"loss": nats per prediction, <eos> included}
  double guessing_loss() const override { return std::log(double(vocab_.size())); }  // ln V
  io::Safetensors model_file() const override;

 private:
  RnnLm<float>& model_;
  const data::Vocab& vocab_;
  std::vector<std::vector<std::int32_t>> targets_;  // x1…xn <eos>, aligned with batches_' items
  data::SequenceBatches batches_;                   // <bos> x1…xn
  std::vector<std::vector<std::int32_t>> validation_;
};

}  // namespace recur::models
