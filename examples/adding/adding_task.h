// The adding problem (Hochreiter & Schmidhuber 1997) as a train::TrainingTask: a sequence of T pairs
// (value ~ U[0,1], marker ∈ {0,1}) with exactly two markers, one in each half; the target is the sum
// of the two marked values. Predicting the constant 1 gives MSE 1/6 ≈ 0.167, so a model is learning
// once its MSE falls clearly below that; the task needs memory across up to T steps.
//
// Model: a stack of fused recurrent layers (any of recur's cells) and a linear read-out of the top
// layer's last hidden state. Data: a fixed training set of batches_per_epoch batches, batch i drawn
// from Rng(seed, 1000 + i) (so every epoch and a resumed run see the same batches), and a held-out
// set of 512 sequences from Rng(seed, 2).
#pragma once

#include <string>

#include "recur/layers/linear.h"
#include "recur/layers/rnn.h"
#include "recur/train/trainer.h"

namespace recur::examples {

struct AddingConfig {
  index_t seq_len = 50;
  index_t hidden = 32;
  int num_layers = 1;
  std::string cell = "lstm";
  index_t batch = 32;
  long batches_per_epoch = 500;
  std::uint64_t seed = 1;
};

struct AddingBatch {
  Tensor<float> inputs;   // (T, B, 2) time-major
  Tensor<float> targets;  // (B, 1)
};
AddingBatch make_adding_batch(index_t T, index_t B, Rng& rng);

class AddingTask final : public train::TrainingTask {
 public:
  explicit AddingTask(const AddingConfig& config);

  nn::ParameterTable<float>& params() override { return params_; }
  long batches_per_epoch() const override { return config_.batches_per_epoch; }
  train::TrainingBatch training_batch(ag::Tape<float>& tape, long epoch, long index, Rng& rng) override;
  bool has_validation() const override { return true; }
  train::Metrics validate() override;  // {"loss": the held-out MSE}
  io::Safetensors model_file() const override;

  // The held-out MSE of the model as it is now.
  double held_out_mse() const;

 private:
  ag::Var<float> predict(ag::Tape<float>& tape, const AddingBatch& batch) const;  // (B, 1)

  AddingConfig config_;
  nn::ParameterTable<float> params_;
  layers::Rnn<float> rnn_;
  layers::Linear<float> head_;
  AddingBatch held_out_;
};

}  // namespace recur::examples
