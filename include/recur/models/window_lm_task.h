// The window model (models/window_lm.h) as a train::TrainingTask: every (context, next token)
// example of the training text, shuffled per epoch (seeded by the run's seed and the epoch, so a
// resumed run draws the same batches), in batches of B examples. Nothing is carried between
// batches: the model has no state.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "recur/data/vocab.h"
#include "recur/models/window_lm.h"
#include "recur/train/trainer.h"

namespace recur::models {

// Σ of the cross-entropies over every example of `examples` (no dropout) and their number, in
// batches of `batch` rows.
struct WindowLoss {
  double total = 0;
  std::int64_t predictions = 0;
};
WindowLoss window_loss(const WindowLm<float>& model, const WindowExamples& examples, index_t batch = 1024);

class WindowLmTask final : public train::TrainingTask {
 public:
  // model and vocab must outlive the task.
  WindowLmTask(WindowLm<float>& model, const data::Vocab& vocab, WindowExamples train,
               WindowExamples validation, index_t batch_size, std::uint64_t seed);

  nn::ParameterTable<float>& params() override { return model_.params(); }
  long batches_per_epoch() const override;
  train::TrainingBatch training_batch(ag::Tape<float>& tape, long epoch, long index, Rng& rng) override;
  bool has_validation() const override { return validation_.size() > 0; }
  train::Metrics validate() override;  // {"loss": nats per prediction}
  double guessing_loss() const override { return std::log(double(vocab_.size())); }  // ln V
  io::Safetensors model_file() const override;

 private:
  WindowLm<float>& model_;
  const data::Vocab& vocab_;
  WindowExamples train_, validation_;
  index_t batch_size_;
  std::uint64_t seed_;
  long order_epoch_ = -1;  // the epoch order_ shuffles
  std::vector<std::int64_t> order_;
  std::vector<std::int32_t> contexts_, next_;  // the batch being built
};

}  // namespace recur::models
