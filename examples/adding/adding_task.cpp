#include "adding_task.h"

#include <nlohmann/json.hpp>

#include "recur/autograd/functions.h"
#include "recur/io/parameters_io.h"

namespace recur::examples {

AddingBatch make_adding_batch(index_t T, index_t B, Rng& rng) {
  AddingBatch batch;
  batch.inputs = Tensor<float>(Shape{T, B, 2});
  batch.targets = Tensor<float>(Shape{B, 1});
  const auto half = static_cast<std::uint32_t>(T / 2);
  for (index_t b = 0; b < B; ++b) {
    const index_t first = rng.below(half), second = half + rng.below(static_cast<std::uint32_t>(T) - half);
    for (index_t t = 0; t < T; ++t) {
      const float value = rng.uniform_float();
      const bool marked = t == first || t == second;
      batch.inputs[(t * B + b) * 2] = value;
      batch.inputs[(t * B + b) * 2 + 1] = marked ? 1.0f : 0.0f;
      if (marked) batch.targets[b] += value;
    }
  }
  return batch;
}

namespace {

layers::RnnOptions rnn_options(const AddingConfig& c) {
  layers::RnnOptions o;
  o.cell = nn::parse_cell_kind(c.cell);
  o.input_size = 2;
  o.hidden_size = c.hidden;
  o.num_layers = c.num_layers;
  return o;
}

}  // namespace

AddingTask::AddingTask(const AddingConfig& config)
    : config_(config), rnn_(params_, rnn_options(config), "rnn."), head_(params_, "head.", config.hidden, 1) {
  params_.freeze();
  Rng init(config.seed);
  rnn_.init(init);  // PyTorch's defaults: U(±1/√H)
  head_.init(init);
  Rng held_out(config.seed, 2);
  held_out_ = make_adding_batch(config.seq_len, 512, held_out);
}

ag::Var<float> AddingTask::predict(ag::Tape<float>& tape, const AddingBatch& batch) const {
  const layers::RnnResult<float> r = rnn_.forward(tape.constant(batch.inputs));
  return head_.forward(r.final_state.h.back());
}

train::TrainingBatch AddingTask::training_batch(ag::Tape<float>& tape, long /*epoch*/, long index, Rng&) {
  Rng rng(config_.seed, 1000 + static_cast<std::uint64_t>(index));
  const AddingBatch batch = make_adding_batch(config_.seq_len, config_.batch, rng);
  return {ag::mse(predict(tape, batch), tape.constant(batch.targets)), config_.batch * config_.seq_len};
}

double AddingTask::held_out_mse() const {
  ag::Tape<float> tape;
  ag::NoGrad<float> no_grad(tape);
  return ag::mse(predict(tape, held_out_), tape.constant(held_out_.targets)).item();
}

train::Metrics AddingTask::validate() {
  return {{"loss", held_out_mse()}};
}

io::Safetensors AddingTask::model_file() const {
  io::Safetensors file;
  io::store_parameters(file, params_);
  file.metadata()["recur.task"] = "adding";
  file.metadata()["recur.config"] = nlohmann::json{
      {"cell", config_.cell},
      {"hidden", config_.hidden},
      {"num_layers", config_.num_layers},
      {"seq_len", config_.seq_len}}.dump();
  return file;
}

}  // namespace recur::examples
