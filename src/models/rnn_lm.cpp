#include "recur/models/rnn_lm.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "recur/autograd/functions.h"
#include "recur/init.h"
#include "recur/models/config_json.h"
#include "recur/ops/elementwise.h"
#include "recur/ops/packed_gemm.h"

namespace recur::models {

namespace {

const RnnLmConfig& validated(const RnnLmConfig& c) {
  c.validate("model config");
  return c;
}

layers::RnnOptions rnn_options(const RnnLmConfig& c) {
  layers::RnnOptions o;
  o.cell = c.model;
  o.input_size = c.embedding_size;
  o.hidden_size = c.rnn_size;
  o.num_layers = c.num_layers;
  o.dropout = c.dropout;
  o.dropout_mode = c.dropout_mode;
  return o;
}

const char* mode_name(layers::DropoutMode m) {
  return m == layers::DropoutMode::kPerStep ? "per_step" : "per_sequence";
}

}  // namespace

std::string RnnLmConfig::to_json() const {
  nlohmann::ordered_json j;
  j["model"] = std::string(nn::cell_name(model));
  j["num_layers"] = num_layers;
  j["rnn_size"] = rnn_size;
  j["embedding_size"] = embedding_size;
  j["vocab_size"] = vocab_size;
  j["dropout"] = dropout;
  j["input_dropout"] = input_dropout;
  j["dropout_mode"] = mode_name(dropout_mode);
  j["tied"] = tied;
  j["items"] = lines ? "lines" : "stream";
  return j.dump();
}

RnnLmConfig RnnLmConfig::from_json(std::string_view text, std::string_view source) {
  const nlohmann::json j = config_object(text, source);
  // A string-valued key (required unless a fallback is given).
  const auto string = [&](const char* key, const char* fallback) -> std::string {
    const auto it = j.find(key);
    if (it == j.end() && fallback != nullptr) return fallback;
    RECUR_REQUIRE(it != j.end(), fmt::format("{}: recur.config has no \"{}\"", source, key));
    RECUR_REQUIRE(it->is_string(),
                  fmt::format("{}: recur.config \"{}\" must be a string, got {}", source, key, it->dump()));
    return it->get<std::string>();
  };
  RnnLmConfig c;
  try {
    c.model = nn::parse_cell_kind(string("model", nullptr));
  } catch (const Error& e) {
    throw Error(fmt::format("{}: recur.config \"model\": {}", source, e.what()));
  }
  c.num_layers = static_cast<int>(config_integer(j, "num_layers", 1, kMaxLayers, source));
  c.rnn_size = config_integer(j, "rnn_size", 1, kMaxWidth, source);
  c.embedding_size = config_integer(j, "embedding_size", 1, kMaxWidth, source);
  c.vocab_size = config_integer(j, "vocab_size", 1, kMaxVocabulary, source);
  c.dropout = config_number(j, "dropout", 0.0, kMaxDropout, source);
  c.input_dropout =
      config_number(j, "input_dropout", 0.0, kMaxDropout, source, 0.0);  // absent before it existed
  const auto tied = j.find("tied");
  RECUR_REQUIRE(tied != j.end() && tied->is_boolean(),
                fmt::format("{}: recur.config \"tied\" must be true or false", source));
  c.tied = tied->get<bool>();
  const std::string items = string("items", "stream");  // absent before per-line models: a stream
  RECUR_REQUIRE(items == "stream" || items == "lines",
                fmt::format("{}: recur.config \"items\" must be stream or lines, got {}", source, items));
  c.lines = items == "lines";
  const std::string mode = string("dropout_mode", "per_step");
  RECUR_REQUIRE(mode == "per_step" || mode == "per_sequence",
                fmt::format("{}: recur.config \"dropout_mode\" must be per_step or per_sequence, got {}",
                            source, mode));
  c.dropout_mode = mode == "per_step" ? layers::DropoutMode::kPerStep : layers::DropoutMode::kPerSequence;
  c.validate(source);
  return c;
}

void RnnLmConfig::validate(std::string_view source) const {
  RECUR_REQUIRE(
      num_layers >= 1 && num_layers <= kMaxLayers && rnn_size >= 1 && rnn_size <= kMaxWidth &&
          embedding_size >= 1 && embedding_size <= kMaxWidth && vocab_size >= 1 &&
          vocab_size <= kMaxVocabulary,
      fmt::format("{}: num_layers ({}) must be in [1, {}]; rnn_size ({}) and embedding_size ({}) in [1, "
                  "{}]; vocab_size ({}) in [1, {}]",
                  source, num_layers, kMaxLayers, rnn_size, embedding_size, kMaxWidth, vocab_size,
                  kMaxVocabulary));
  RECUR_REQUIRE(
      input_dropout >= 0.0 && input_dropout <= kMaxDropout,
      fmt::format("{}: input_dropout must be in [0, {}], got {}", source, kMaxDropout, input_dropout));
  RECUR_REQUIRE(dropout >= 0.0 && dropout <= kMaxDropout,
                fmt::format("{}: dropout must be in [0, {}], got {}", source, kMaxDropout, dropout));
  RECUR_REQUIRE(!tied || embedding_size == rnn_size,
                fmt::format("{}: tied weights need embedding_size ({}) = rnn_size ({})", source,
                            embedding_size, rnn_size));
}

template <class T>
RnnLm<T>::RnnLm(const RnnLmConfig& config, Unallocated)
    : config_(validated(config)),
      embedding_(params_, "embedding.", config.vocab_size, config.embedding_size),
      rnn_(params_, rnn_options(config), "rnn."),
      decoder_(config.tied ? layers::Linear<T>::tied(params_, "decoder.", embedding_.weight_id())
                           : layers::Linear<T>(params_, "decoder.", config.rnn_size, config.vocab_size)) {}

template <class T>
RnnLm<T>::RnnLm(const RnnLmConfig& config) : RnnLm(config, Unallocated{}) {
  params_.freeze();
}

template <class T>
std::vector<std::pair<std::string, Shape>> RnnLm<T>::parameter_shapes(const RnnLmConfig& config) {
  const RnnLm model(config, Unallocated{});
  return model.params_.shapes();
}

// PyTorch's order and defaults: embedding N(0, 1), then the Rnn, then the decoder U(±1/√H).
template <class T>
void RnnLm<T>::init(Rng& rng) {
  embedding_.init(rng);
  rnn_.init(rng);
  decoder_.init(rng);
}

template <class T>
void RnnLm<T>::init_uniform(Rng& rng, T range) {
  nn::init_uniform(params_, rng, range);
}

template <class T>
typename RnnLm<T>::Output RnnLm<T>::forward(ag::Tape<T>& tape, const std::vector<std::int32_t>& inputs,
                                            index_t T_, index_t B, const layers::RnnState<T>& initial,
                                            bool training, Rng* rng,
                                            const std::vector<index_t>& lengths) const {
  RECUR_CHECK(static_cast<index_t>(inputs.size()) == T_ * B,
              fmt::format("RNN LM: {} input ids for a ({}, {}) batch", inputs.size(), T_, B));
  const index_t E = config_.embedding_size, H = config_.rnn_size;
  ag::Var<T> x = ag::reshape(embedding_.forward(tape, inputs), Shape{T_, B, E});
  if (training && config_.input_dropout > 0.0) {
    RECUR_CHECK(rng != nullptr, "RNN LM: training with input dropout needs an Rng");
    x = ag::dropout(x, static_cast<T>(config_.input_dropout), *rng, true);
  }
  layers::RnnResult<T> r = rnn_.forward(x, lengths, initial, training, rng);
  ag::Var<T> h = ag::reshape(r.output, Shape{T_ * B, H});
  if (training && config_.dropout > 0.0) {
    RECUR_CHECK(rng != nullptr, "RNN LM: training with dropout needs an Rng");
    h = ag::dropout(h, static_cast<T>(config_.dropout), *rng, true);
  }
  Output out;
  if (tape.grad_enabled()) {
    out.logits = decoder_.forward(h);
  } else {
    // Inference: the decoder is a packed product, as in step(), whose rows have the same bits
    // whatever the number of rows: a sampler reproduces a whole-sequence evaluation bit for bit.
    Tensor<T> logits = Tensor<T>::uninitialized(Shape{T_ * B, config_.vocab_size});
    decode(h.value().data(), T_ * B, pack_decoder(), params_.value(decoder_.bias_id()).data(), logits.data());
    out.logits = tape.constant(std::move(logits));
  }
  out.state = std::move(r.final_state);
  return out;
}

template <class T>
void RnnLm<T>::step(RnnLmStream<T>& stream, const std::vector<std::int32_t>& ids, Tensor<T>& logits) const {
  const index_t B = stream.rnn.batch(), V = config_.vocab_size;
  RECUR_CHECK(static_cast<index_t>(ids.size()) == B,
              fmt::format("RNN LM step: {} ids for {} streams", ids.size(), B));
  if (logits.shape() != Shape({B, V})) logits = Tensor<T>(Shape{B, V});
  RECUR_CHECK(stream.model == this && stream.decoder && stream.rnn.input_rows() == V,
              "RNN LM step: the stream was not made by this model's make_stream");
  const Tensor<T>& h = stream.rnn.step_rows(ids);
  decode(h.data(), B, stream.decoder->weight, stream.decoder->bias.data(), logits.data());
}

template <class T>
PackedMatrix<T> RnnLm<T>::pack_decoder() const {
  const index_t H = config_.rnn_size;
  return PackedMatrix<T>(Trans::kYes, H, config_.vocab_size, params_.value(decoder_.weight_id()).data(), H);
}

template <class T>
void RnnLm<T>::decode(const T* h, index_t N, const PackedMatrix<T>& W, const T* bias, T* logits) const {
  const index_t H = config_.rnn_size, V = config_.vocab_size;
  gemm_packed(N, h, H, W, T(0), logits, V);
  ops::add_bias_forward(logits, bias, logits, N, V);
}

template <class T>
RnnLmStream<T> RnnLm<T>::make_stream(index_t batch) const {
  const Tensor<T> bias = params_.value(decoder_.bias_id());
  auto decoder = std::make_shared<typename RnnLmStream<T>::Decoder>();
  decoder->weight = pack_decoder();
  decoder->bias.assign(bias.data(), bias.data() + bias.numel());
  return {layers::RnnStream<T>(rnn_, batch, params_.value(embedding_.weight_id())), std::move(decoder), this};
}

template class RnnLm<float>;
template class RnnLm<double>;

}  // namespace recur::models
