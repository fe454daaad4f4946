#include "recur/models/lm_stream_task.h"

#include <fmt/format.h>

#include "recur/autograd/functions.h"
#include "recur/io/parameters_io.h"
#include "recur/models/rnn_lm_checkpoint.h"

namespace recur::models {

LmStreamTask::LmStreamTask(RnnLm<float>& model, const data::Vocab& vocab, const data::TokenBatches& batches,
                           const data::TokenBatches* validation)
    : model_(model),
      vocab_(vocab),
      batches_(batches),
      validation_(validation ? *validation : batches),
      validation_split_(validation ? data::Split::kTrain : data::Split::kVal) {}

long LmStreamTask::batches_per_epoch() const {
  return batches_.count(data::Split::kTrain);
}

train::TrainingBatch LmStreamTask::training_batch(ag::Tape<float>& tape, long /*epoch*/, long index,
                                                  Rng& rng) {
  if (index == 0) carry_ = {};  // each epoch starts its streams from zero states
  const data::TokenBatch batch = batches_.get(data::Split::kTrain, index);
  auto out =
      model_.forward(tape, batch.inputs, batch.T, batch.B, layers::constants(tape, carry_), true, &rng);
  pending_ = std::move(out.state);
  return {ag::cross_entropy(out.logits, batch.targets), batch.T * batch.B};
}

void LmStreamTask::after_step(bool applied) {
  carry_ = applied ? layers::values_of(pending_) : layers::RnnStateValues<float>{};
  pending_ = {};
}

bool LmStreamTask::has_validation() const {
  return validation_.count(validation_split_) > 0;
}

train::Metrics LmStreamTask::validate() {
  const index_t n = validation_.count(validation_split_);
  double total = 0;
  layers::RnnStateValues<float> state;
  for (index_t i = 0; i < n; ++i) {
    const data::TokenBatch batch = validation_.get(validation_split_, i);
    ag::Tape<float> tape;
    ag::NoGrad<float> no_grad(tape);
    const auto out =
        model_.forward(tape, batch.inputs, batch.T, batch.B, layers::constants(tape, state), false, nullptr);
    total += ag::cross_entropy(out.logits, batch.targets).item();
    state = layers::values_of(out.state);
  }
  return {{"loss", total / static_cast<double>(n)}};
}

io::Safetensors LmStreamTask::model_file() const {
  return rnn_lm_file(model_, vocab_);
}

void LmStreamTask::save_state(io::Safetensors& file) const {
  for (size_t e = 0; e < carry_.h.size(); ++e) {
    file.add(fmt::format("train.carry.h.{}", e), carry_.h[e]);
    if (e < carry_.c.size()) file.add(fmt::format("train.carry.c.{}", e), carry_.c[e]);
  }
}

void LmStreamTask::load_state(const io::Safetensors& file) {
  // The carried state is input too: one (B, H) h per layer, and a c beside each for the LSTM, all
  // finite, or an error naming the file and the tensor.
  carry_ = {};
  const Shape want{batches_.batch_size(), model_.config().rnn_size};
  const bool has_c = nn::has_cell_state(model_.config().model);
  const auto take = [&](const std::string& name, std::vector<Tensor<float>>& into) {
    into.push_back(file.get<float>(name));
    RECUR_REQUIRE(into.back().shape() == want,
                  fmt::format("{}: carried state {} is {}, the run needs {}", file.source(), name,
                              into.back().shape().str(), want.str()));
    io::require_finite(into.back(), file.source(), name);
  };
  for (int e = 0; file.contains(fmt::format("train.carry.h.{}", e)); ++e) {
    take(fmt::format("train.carry.h.{}", e), carry_.h);
    const std::string c = fmt::format("train.carry.c.{}", e);
    RECUR_REQUIRE(file.contains(c) == has_c, fmt::format("{}: {} {} the {} cell of this run", file.source(),
                                                         c, has_c ? "is missing for" : "does not belong to",
                                                         nn::cell_name(model_.config().model)));
    if (has_c) take(c, carry_.c);
  }
  RECUR_REQUIRE(carry_.h.empty() || static_cast<int>(carry_.h.size()) == model_.config().num_layers,
                fmt::format("{}: {} carried states for {} layers", file.source(), carry_.h.size(),
                            model_.config().num_layers));
}

}  // namespace recur::models
