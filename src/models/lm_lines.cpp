#include "recur/models/lm_lines.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

#include "recur/autograd/functions.h"
#include "recur/data/tokenize.h"
#include "recur/models/rnn_lm_checkpoint.h"

namespace recur::models {

namespace {

constexpr std::int32_t kIgnore = -100;  // padded targets

// <bos> x1…xn and x1…xn <eos>.
std::vector<std::int32_t> inputs_of(const std::vector<std::int32_t>& item, const data::Vocab& vocab) {
  std::vector<std::int32_t> in{vocab.bos()};
  in.insert(in.end(), item.begin(), item.end());
  return in;
}
std::vector<std::int32_t> targets_of(const std::vector<std::int32_t>& item, const data::Vocab& vocab) {
  std::vector<std::int32_t> out = item;
  out.push_back(vocab.eos());
  return out;
}

void check_vocab(const data::Vocab& vocab) {
  RECUR_CHECK(vocab.bos() >= 0 && vocab.eos() >= 0,
              "a per-line language model needs <bos> and <eos> in its vocabulary");
}

}  // namespace

std::vector<std::vector<std::int32_t>> lm_line_items(std::string_view text, const data::Vocab& vocab,
                                                     std::string_view source, std::int64_t* unknown) {
  std::vector<std::vector<std::int32_t>> items;
  std::int64_t total_unknown = 0;
  for (const std::vector<std::string>& line : data::tokenize_lines(text, vocab.kind(), source)) {
    std::int64_t n = 0;
    items.push_back(vocab.encode(line, source, &n));
    total_unknown += n;
  }
  if (unknown) *unknown = total_unknown;
  return items;
}

std::pair<std::vector<std::vector<std::int32_t>>, std::vector<std::vector<std::int32_t>>> split_lines(
    std::vector<std::vector<std::int32_t>> items, double val_frac, std::uint64_t seed) {
  const auto n = items.size();
  RECUR_REQUIRE(n >= 2,
                fmt::format("{} item{} cannot be split into training and validation", n, n == 1 ? "" : "s"));
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  Rng rng(seed, 7);
  for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.below(static_cast<std::uint32_t>(i))]);
  const auto n_val =
      std::clamp<size_t>(static_cast<size_t>(std::llround(val_frac * static_cast<double>(n))), 1, n - 1);
  std::vector<bool> is_val(n, false);
  for (size_t i = 0; i < n_val; ++i) is_val[order[i]] = true;
  std::pair<std::vector<std::vector<std::int32_t>>, std::vector<std::vector<std::int32_t>>> out;
  for (size_t i = 0; i < n; ++i) (is_val[i] ? out.second : out.first).push_back(std::move(items[i]));
  return out;
}

data::NgramFloors lm_lines_floors(const std::vector<std::vector<std::int32_t>>& train,
                                  const std::vector<std::vector<std::int32_t>>& held_out,
                                  const data::Vocab& vocab) {
  check_vocab(vocab);
  const auto V = static_cast<size_t>(vocab.size());
  const double outcomes = static_cast<double>(V - 1);  // every token but <bos>
  std::vector<double> unigram(V, 0.0), context(V, 0.0);
  std::unordered_map<std::uint64_t, double> pair;
  double n = 0;
  const auto each_prediction = [&](const std::vector<std::int32_t>& item, auto&& f) {
    std::int32_t previous = vocab.bos();
    for (size_t i = 0; i <= item.size(); ++i) {
      const std::int32_t target = i < item.size() ? item[i] : vocab.eos();
      f(static_cast<size_t>(previous), static_cast<size_t>(target));
      previous = target;
    }
  };
  for (const auto& item : train)
    each_prediction(item, [&](size_t a, size_t b) {
      unigram[b] += 1;
      context[a] += 1;
      pair[a * V + b] += 1;
      n += 1;
    });
  data::NgramFloors f;
  double m = 0;
  for (const auto& item : held_out)
    each_prediction(item, [&](size_t a, size_t b) {
      const auto found = pair.find(a * V + b);
      f.unigram -= std::log((unigram[b] + 1) / (n + outcomes));
      f.bigram -= std::log(((found == pair.end() ? 0.0 : found->second) + 1) / (context[a] + outcomes));
      m += 1;
    });
  RECUR_CHECK(m > 0, "n-gram floors need held-out items");
  f.unigram /= m;
  f.bigram /= m;
  return f;
}

LinesLoss lm_lines_loss(const RnnLm<float>& model, const data::Vocab& vocab,
                        const std::vector<std::vector<std::int32_t>>& items, index_t batch) {
  check_vocab(vocab);
  std::vector<std::vector<std::int32_t>> inputs, targets;
  for (const auto& item : items) {
    inputs.push_back(inputs_of(item, vocab));
    targets.push_back(targets_of(item, vocab));
  }
  LinesLoss result;
  const auto n = static_cast<index_t>(items.size());
  for (index_t begin = 0; begin < n; begin += batch) {
    std::vector<index_t> which(static_cast<size_t>(std::min(batch, n - begin)));
    std::iota(which.begin(), which.end(), begin);
    const data::PaddedBatch in = data::pad_batch(inputs, which, vocab.eos());
    const data::PaddedBatch tg = data::pad_batch(targets, which, kIgnore);
    ag::Tape<float> tape;
    ag::NoGrad<float> no_grad(tape);
    const auto out = model.forward(tape, in.ids, in.T, in.B, {}, false, nullptr, in.lengths);
    ops::CrossEntropyOptions ce;
    ce.ignore_index = kIgnore;
    ce.reduction = ops::Reduction::kSum;
    result.total += ag::cross_entropy(out.logits, tg.ids, ce).item();
    for (index_t length : in.lengths) result.predictions += length;
  }
  return result;
}

LmLinesTask::LmLinesTask(RnnLm<float>& model, const data::Vocab& vocab,
                         std::vector<std::vector<std::int32_t>> train,
                         std::vector<std::vector<std::int32_t>> validation,
                         const data::SequenceBatchOptions& options)
    : model_(model),
      vocab_(vocab),
      batches_(
          [&] {
            check_vocab(vocab);
            std::vector<std::vector<std::int32_t>> inputs;
            for (const auto& item : train) {
              inputs.push_back(inputs_of(item, vocab));
              targets_.push_back(targets_of(item, vocab));
            }
            return inputs;
          }(),
          options),
      validation_(std::move(validation)) {}

train::TrainingBatch LmLinesTask::training_batch(ag::Tape<float>& tape, long epoch, long index, Rng& rng) {
  const std::vector<index_t> which = batches_.batch_items(epoch, index);
  const data::PaddedBatch in = data::pad_batch(batches_.items(), which, vocab_.eos());
  const data::PaddedBatch tg = data::pad_batch(targets_, which, kIgnore);
  const auto out = model_.forward(tape, in.ids, in.T, in.B, {}, true, &rng, in.lengths);
  ops::CrossEntropyOptions ce;
  ce.ignore_index = kIgnore;  // the mean over real predictions
  std::int64_t predictions = 0;
  for (index_t length : in.lengths) predictions += length;
  return {ag::cross_entropy(out.logits, tg.ids, ce), predictions};
}

train::Metrics LmLinesTask::validate() {
  const LinesLoss l = lm_lines_loss(model_, vocab_, validation_, batches_.batch_size());
  return {{"loss", l.total / static_cast<double>(l.predictions)}};
}

io::Safetensors LmLinesTask::model_file() const {
  return rnn_lm_file(model_, vocab_);
}

}  // namespace recur::models
