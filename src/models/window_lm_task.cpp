#include "recur/models/window_lm_task.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "recur/autograd/functions.h"
#include "recur/models/window_lm_model.h"

namespace recur::models {

WindowLoss window_loss(const WindowLm<float>& model, const WindowExamples& examples, index_t batch) {
  WindowLoss loss;
  std::vector<std::int32_t> contexts, next;
  const index_t N = model.config().window;
  for (std::int64_t begin = 0; begin < examples.size(); begin += batch) {
    const std::int64_t end = std::min(examples.size(), begin + batch);
    examples.gather({}, begin, end, N, contexts, next);
    ag::Tape<float> tape;
    ag::NoGrad<float> no_grad(tape);
    ops::CrossEntropyOptions ce;
    ce.reduction = ops::Reduction::kNone;
    const ag::Var<float> losses = ag::cross_entropy(model.forward(tape, contexts, false, nullptr), next, ce);
    for (index_t i = 0; i < losses.value().numel(); ++i) loss.total += static_cast<double>(losses.value()[i]);
    loss.predictions += end - begin;
  }
  return loss;
}

WindowLmTask::WindowLmTask(WindowLm<float>& model, const data::Vocab& vocab, WindowExamples train,
                           WindowExamples validation, index_t batch_size, std::uint64_t seed)
    : model_(model),
      vocab_(vocab),
      train_(std::move(train)),
      validation_(std::move(validation)),
      batch_size_(batch_size),
      seed_(seed) {
  RECUR_REQUIRE(train_.size() > 0, "window LM: the training data has no token to predict");
  RECUR_CHECK(batch_size_ >= 1, "window LM: batch size must be at least 1");
  RECUR_REQUIRE(train_.size() < (std::int64_t{1} << 32),
                fmt::format("window LM: {} training examples; at most 2^32 - 1 are shuffled", train_.size()));
}

long WindowLmTask::batches_per_epoch() const {
  return static_cast<long>((train_.size() + batch_size_ - 1) / batch_size_);
}

train::TrainingBatch WindowLmTask::training_batch(ag::Tape<float>& tape, long epoch, long index, Rng& rng) {
  if (order_epoch_ != epoch) {
    // Fisher–Yates with recur's Rng, seeded by (seed, epoch): the same order after a resume.
    order_.resize(static_cast<size_t>(train_.size()));
    std::iota(order_.begin(), order_.end(), std::int64_t{0});
    Rng shuffle_rng(seed_, static_cast<std::uint64_t>(epoch));
    for (size_t i = order_.size(); i > 1; --i) {
      std::swap(order_[i - 1], order_[shuffle_rng.below(static_cast<std::uint32_t>(i))]);
    }
    order_epoch_ = epoch;
  }
  const std::int64_t begin = static_cast<std::int64_t>(index) * batch_size_;
  const std::int64_t end = std::min(train_.size(), begin + batch_size_);
  train_.gather(order_, begin, end, model_.config().window, contexts_, next_);
  const ag::Var<float> logits = model_.forward(tape, contexts_, true, &rng);
  return {ag::cross_entropy(logits, next_), static_cast<std::int64_t>(end - begin)};
}

train::Metrics WindowLmTask::validate() {
  const WindowLoss l = window_loss(model_, validation_);
  return {{"loss", l.total / static_cast<double>(l.predictions)}};
}

io::Safetensors WindowLmTask::model_file() const {
  return window_lm_file(model_, vocab_);
}

}  // namespace recur::models
