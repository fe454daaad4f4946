// A recurrent language model over one stream as a train::TrainingTask: char-rnn's batches (B streams, chunks
// of seq_length) with the hidden state carried from chunk to chunk (truncated BPTT: the gradient is cut at
// the chunk boundary), reset at the start of each epoch, after a skipped step, and for validation (whose
// batches carry their own state from zeros, as char-rnn evaluates).
#pragma once

#include <cmath>

#include "recur/data/text_batches.h"
#include "recur/data/vocab.h"
#include "recur/models/rnn_lm.h"
#include "recur/train/trainer.h"

namespace recur::models {

class LmStreamTask final : public train::TrainingTask {
 public:
  // All must outlive the task. Validation reads `validation`'s batches when given (a separate
  // file, all of whose batches are in its training split), else the validation split of `batches`.
  LmStreamTask(RnnLm<float>& model, const data::Vocab& vocab, const data::TokenBatches& batches,
               const data::TokenBatches* validation = nullptr);

  nn::ParameterTable<float>& params() override { return model_.params(); }
  long batches_per_epoch() const override;
  train::TrainingBatch training_batch(ag::Tape<float>& tape, long epoch, long index, Rng& rng) override;
  void after_step(bool applied) override;
  bool has_validation() const override;
  train::Metrics validate() override;  // {"loss": mean nats per token}
  double guessing_loss() const override { return std::log(double(vocab_.size())); }  // ln V
  io::Safetensors model_file() const override;
  void save_state(io::Safetensors& file) const override;  // train.carry.h.<layer>, train.carry.c.<layer>
  void load_state(const io::Safetensors& file) override;

 private:
  RnnLm<float>& model_;
  const data::Vocab& vocab_;
  const data::TokenBatches& batches_;
  const data::TokenBatches& validation_;  // batches_ or the separate file's
  data::Split validation_split_;
  layers::RnnStateValues<float> carry_;  // empty: zeros
  layers::RnnState<float> pending_;      // the last batch's final state, until after_step
};

}  // namespace recur::models
