// models::RnnLm: its config's JSON (recur.config), its PyTorch state_dict parameter names,
// step-by-step generation equal to whole-sequence inference bit for bit, and the checkpoint round
// trip with every load error naming the file or tensor at fault.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "recur/autograd/functions.h"
#include "recur/data/tokenize.h"
#include "recur/models/rnn_lm.h"
#include "recur/models/rnn_lm_checkpoint.h"
#include "test_util.h"

namespace recur::models {
namespace {

using nn::CellKind;
using testing::throws_error_with;

// Passes iff a and b have the same shape and the same bytes; else names the first differing element.
template <class T>
::testing::AssertionResult bit_identical(const Tensor<T>& a, const Tensor<T>& b) {
  if (a.shape() != b.shape())
    return ::testing::AssertionFailure() << "shapes differ: " << a.shape().str() << " vs " << b.shape().str();
  for (index_t i = 0; i < a.numel(); ++i)
    if (std::memcmp(a.data() + i, b.data() + i, sizeof(T)) != 0)
      return ::testing::AssertionFailure()
             << "element " << i << " differs: " << std::hexfloat << a[i] << " vs " << b[i];
  return ::testing::AssertionSuccess();
}

RnnLmConfig small_config(CellKind cell, bool tied, index_t V = 7) {
  RnnLmConfig c;
  c.model = cell;
  c.num_layers = 2;
  c.rnn_size = 5;
  c.embedding_size = tied ? 5 : 4;
  c.vocab_size = V;
  c.tied = tied;
  return c;
}

// ---------------------------------------------------------------------------------------------
// RnnLmConfig

TEST(RnnLmConfig, JsonRoundTrip) {
  RnnLmConfig c;
  c.model = CellKind::kGru;
  c.num_layers = 3;
  c.rnn_size = 17;
  c.embedding_size = 9;
  c.vocab_size = 65;
  c.dropout = 0.25;
  c.dropout_mode = layers::DropoutMode::kPerSequence;
  c.tied = false;
  const std::string json = c.to_json();
  EXPECT_EQ(
      json,
      R"({"model":"gru","num_layers":3,"rnn_size":17,"embedding_size":9,"vocab_size":65,)"
      R"("dropout":0.25,"input_dropout":0.0,"dropout_mode":"per_sequence","tied":false,"items":"stream"})");
  const RnnLmConfig back = RnnLmConfig::from_json(json, "m.safetensors");
  EXPECT_EQ(back.model, CellKind::kGru);
  EXPECT_EQ(back.num_layers, 3);
  EXPECT_EQ(back.rnn_size, 17);
  EXPECT_EQ(back.embedding_size, 9);
  EXPECT_EQ(back.vocab_size, 65);
  EXPECT_EQ(back.dropout, 0.25);
  EXPECT_EQ(back.dropout_mode, layers::DropoutMode::kPerSequence);
  EXPECT_FALSE(back.tied);
  EXPECT_FALSE(back.lines);
  EXPECT_EQ(back.to_json(), json);
  // One item per line; a config without "items" (before per-line models) is a stream.
  c.lines = true;
  EXPECT_TRUE(RnnLmConfig::from_json(c.to_json(), "m").lines);
  EXPECT_FALSE(RnnLmConfig::from_json(R"({"model":"gru","num_layers":3,"rnn_size":17,"embedding_size":9,)"
                                      R"("vocab_size":65,"dropout":0.25,"tied":false})",
                                      "m")
                   .lines);

  // Every cell, both modes, tied.
  for (CellKind cell : {CellKind::kRnnTanh, CellKind::kRnnRelu, CellKind::kLstm, CellKind::kGru,
                        CellKind::kGruResetBefore, CellKind::kJordan}) {
    RnnLmConfig t = small_config(cell, true, 11);
    t.dropout = 0.1;
    const RnnLmConfig u = RnnLmConfig::from_json(t.to_json(), "m");
    EXPECT_EQ(u.model, cell);
    EXPECT_TRUE(u.tied);
    EXPECT_EQ(u.embedding_size, 5);
    EXPECT_EQ(u.vocab_size, 11);
    EXPECT_EQ(u.dropout, 0.1);
    EXPECT_EQ(u.dropout_mode, layers::DropoutMode::kPerStep);
  }
  // dropout_mode is optional (per_step), unknown keys are ignored.
  const RnnLmConfig d = RnnLmConfig::from_json(
      R"({"model":"lstm","num_layers":1,"rnn_size":8,"embedding_size":3,"vocab_size":4,"dropout":0,)"
      R"("tied":false,"comment":"x"})",
      "m");
  EXPECT_EQ(d.model, CellKind::kLstm);
  EXPECT_EQ(d.num_layers, 1);
  EXPECT_EQ(d.rnn_size, 8);
  EXPECT_EQ(d.dropout_mode, layers::DropoutMode::kPerStep);
}

TEST(RnnLmConfig, FromJsonErrorsNameTheSource) {
  const std::string good =
      R"({"model":"lstm","num_layers":2,"rnn_size":5,"embedding_size":4,"vocab_size":7,"dropout":0,"tied":false})";
  ASSERT_NO_THROW(RnnLmConfig::from_json(good, "f.safetensors"));
  const auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {with(R"("rnn_size":5,)", ""), "recur.config has no \"rnn_size\""},
      {with(R"("model":"lstm",)", ""), "recur.config has no \"model\""},
      {with(R"(,"tied":false)", ""), "recur.config \"tied\" must be true or false"},
      {with(R"("num_layers":2)", R"("num_layers":"two")"),
       "\"num_layers\" must be an integer in [1, 64], got \"two\""},
      {with(R"("tied":false)", R"("tied":"no")"), "\"tied\" must be true or false"},
      {with(R"("lstm")", R"("transformer")"), "unknown cell 'transformer'"},
      {with(R"("tied":false)", R"("tied":true)"), "tied weights need embedding_size (4) = rnn_size (5)"},
      {with(R"("vocab_size":7)", R"("vocab_size":0)"),
       "\"vocab_size\" must be an integer in [1, 16777216], got 0"},
      {with(R"("dropout":0)", R"("dropout":1)"), "\"dropout\" must be a number in [0, 0.99], got 1"},
      {with(R"("dropout":0)", R"("dropout":0,"dropout_mode":"sometimes")"),
       "\"dropout_mode\" must be per_step or per_sequence, got sometimes"},
      // Hostile sizes: refused by range and exact type before anything is built or allocated.
      {with(R"("num_layers":2)", R"("num_layers":1000000000)"),
       "\"num_layers\" must be an integer in [1, 64]"},
      {with(R"("num_layers":2)", R"("num_layers":4294967298)"), "got 4294967298"},
      {with(R"("num_layers":2)", R"("num_layers":2.7)"), "got 2.7"},
      {with(R"("num_layers":2)", R"("num_layers":-2)"), "got -2"},
      {with(R"("rnn_size":5)", R"("rnn_size":8000000)"), "\"rnn_size\" must be an integer in [1, 65536]"},
      {with(R"("rnn_size":5)", R"("rnn_size":4611686018427387904)"), "\"rnn_size\""},
      {with(R"("rnn_size":5)", R"("rnn_size":18446744073709551615)"), "\"rnn_size\""},
      {with(R"("embedding_size":4)", R"("embedding_size":1e9)"), "\"embedding_size\""},
      {with(R"("dropout":0)", R"("dropout":null)"), "\"dropout\" must be a number"},
      {"[1, 2]", "f.safetensors: recur.config must be a JSON object"},
      {"{\"model\":", "f.safetensors: recur.config is not valid JSON"},
  };
  for (const auto& [json, part] : cases) {
    SCOPED_TRACE(json);
    EXPECT_TRUE(
        throws_error_with([&] { RnnLmConfig::from_json(json, "f.safetensors"); }, {"f.safetensors", part}));
  }
}

// ---------------------------------------------------------------------------------------------
// Parameters

std::vector<std::pair<std::string, Shape>> names_and_shapes(const nn::ParameterTable<float>& p) {
  std::vector<std::pair<std::string, Shape>> out;
  for (const auto& e : p.entries()) out.emplace_back(e.name, e.shape);
  return out;
}

TEST(RnnLm, ParametersAreThePyTorchStateDict) {
  // nn.Embedding(7, 4), nn.LSTM(4, 5, num_layers=2), nn.Linear(5, 7), in state_dict order.
  const RnnLm<float> lstm(small_config(CellKind::kLstm, false));
  const std::vector<std::pair<std::string, Shape>> expected_lstm = {
      {"embedding.weight", {7, 4}},  {"rnn.weight_ih_l0", {20, 4}}, {"rnn.weight_hh_l0", {20, 5}},
      {"rnn.bias_ih_l0", {20}},      {"rnn.bias_hh_l0", {20}},      {"rnn.weight_ih_l1", {20, 5}},
      {"rnn.weight_hh_l1", {20, 5}}, {"rnn.bias_ih_l1", {20}},      {"rnn.bias_hh_l1", {20}},
      {"decoder.weight", {7, 5}},    {"decoder.bias", {7}},
  };
  EXPECT_EQ(names_and_shapes(lstm.params()), expected_lstm);
  index_t elements = 0;
  for (const auto& e : lstm.params().entries()) elements += e.shape.numel();
  EXPECT_EQ(elements, 28 + 80 + 100 + 40 + 100 + 100 + 40 + 35 + 7);
  EXPECT_EQ(lstm.embedding_id(), 0);
  EXPECT_EQ(lstm.decoder_weight_id(), 9);
  EXPECT_EQ(lstm.decoder_bias_id(), 10);

  const RnnLm<float> gru(small_config(CellKind::kGru, false));
  const std::vector<std::pair<std::string, Shape>> expected_gru = {
      {"embedding.weight", {7, 4}},  {"rnn.weight_ih_l0", {15, 4}}, {"rnn.weight_hh_l0", {15, 5}},
      {"rnn.bias_ih_l0", {15}},      {"rnn.bias_hh_l0", {15}},      {"rnn.weight_ih_l1", {15, 5}},
      {"rnn.weight_hh_l1", {15, 5}}, {"rnn.bias_ih_l1", {15}},      {"rnn.bias_hh_l1", {15}},
      {"decoder.weight", {7, 5}},    {"decoder.bias", {7}},
  };
  EXPECT_EQ(names_and_shapes(gru.params()), expected_gru);

  // Tied: the decoder uses embedding.weight (7, 5); no separate decoder.weight parameter.
  const RnnLm<float> tied(small_config(CellKind::kLstm, true));
  const std::vector<std::pair<std::string, Shape>> expected_tied = {
      {"embedding.weight", {7, 5}},  {"rnn.weight_ih_l0", {20, 5}}, {"rnn.weight_hh_l0", {20, 5}},
      {"rnn.bias_ih_l0", {20}},      {"rnn.bias_hh_l0", {20}},      {"rnn.weight_ih_l1", {20, 5}},
      {"rnn.weight_hh_l1", {20, 5}}, {"rnn.bias_ih_l1", {20}},      {"rnn.bias_hh_l1", {20}},
      {"decoder.bias", {7}},
  };
  EXPECT_EQ(names_and_shapes(tied.params()), expected_tied);
  EXPECT_EQ(tied.params().find("decoder.weight"), -1);
  EXPECT_EQ(tied.decoder_weight_id(), tied.embedding_id());
  EXPECT_EQ(tied.decoder_bias_id(), 9);
}

TEST(RnnLm, InitFollowsPyTorchDefaultsAndIsSeeded) {
  RnnLm<float> a(small_config(CellKind::kLstm, false)), b(small_config(CellKind::kLstm, false));
  Rng ra(3), rb(3);
  a.init(ra);
  b.init(rb);
  EXPECT_TRUE(bit_identical(a.params().flat_values(), b.params().flat_values()));
  const float k = 1.0f / std::sqrt(5.0f);
  for (int id = 1; id < a.params().size(); ++id) {  // everything but the N(0, 1) embedding
    const Tensor<float> v = a.params().value(id);
    float largest = 0;
    for (index_t i = 0; i < v.numel(); ++i) largest = std::max(largest, std::abs(v[i]));
    EXPECT_LE(largest, k) << a.params().entry(id).name;
    EXPECT_GT(largest, 0.5f * k) << a.params().entry(id).name;
  }
}

// ---------------------------------------------------------------------------------------------
// Generation: step == forward

// Feeds the same T·B ids to forward (under NoGrad) and, step by step, to a stream; compares the
// logits bit for bit when `exact_logits`, else to 1e-6 relative (plus 1e-7 absolute), and the
// final hidden states bit for bit either way.
void check_step_against_forward(CellKind cell, bool tied, index_t B, bool exact_logits) {
  SCOPED_TRACE(::testing::Message() << nn::cell_name(cell) << (tied ? " tied" : "") << ", batch " << B);
  RnnLmConfig config = small_config(cell, tied);
  config.dropout = 0.4;  // inference: no dropout either way
  RnnLm<float> model(config);
  Rng rng(21);
  model.init(rng);
  constexpr index_t T = 6;
  std::vector<std::int32_t> ids;
  for (index_t i = 0; i < T * B; ++i) ids.push_back(static_cast<std::int32_t>(rng.below(7)));

  ag::Tape<float> tape;
  ag::NoGrad<float> no_grad(tape);
  const RnnLm<float>::Output whole = model.forward(tape, ids, T, B, {}, false, nullptr);
  const Tensor<float> expected = whole.logits.value();
  ASSERT_EQ(expected.shape(), Shape({T * B, 7}));

  models::RnnLmStream<float> stream = model.make_stream(B);
  Tensor<float> logits(Shape{B, 7});
  for (index_t t = 0; t < T; ++t) {
    const std::vector<std::int32_t> step_ids(ids.begin() + t * B, ids.begin() + (t + 1) * B);
    model.step(stream, step_ids, logits);
    if (exact_logits) {
      EXPECT_TRUE(bit_identical(logits, expected.narrow(t * B, B))) << "step " << t;
    } else {
      EXPECT_TRUE(testing::all_close(logits, expected.narrow(t * B, B), 1e-7, 1e-6)) << "step " << t;
    }
  }
  for (int l = 0; l < 2; ++l) {
    EXPECT_TRUE(bit_identical(stream.rnn.h(l), whole.state.h[static_cast<size_t>(l)].value()))
        << "h, layer " << l;
    if (nn::has_cell_state(cell)) {
      EXPECT_TRUE(bit_identical(stream.rnn.c(l), whole.state.c[static_cast<size_t>(l)].value()))
          << "c, layer " << l;
    }
  }
}

TEST(RnnLm, StepMatchesForwardBitForBit) {
  for (CellKind cell : {CellKind::kLstm, CellKind::kGru, CellKind::kRnnTanh})
    for (bool tied : {false, true}) check_step_against_forward(cell, tied, 3, true);
}

// Batch 1 too: forward() under NoGrad and step() both run packed products, whose rows have the
// same bits whatever the number of rows.
TEST(RnnLm, StepMatchesForwardBitForBitAtBatch1) {
  for (CellKind cell : {CellKind::kLstm, CellKind::kGru, CellKind::kRnnTanh})
    for (bool tied : {false, true}) check_step_against_forward(cell, tied, 1, true);
}

TEST(RnnLm, StepAndForwardRejectMisshapenInputs) {
  RnnLm<float> model(small_config(CellKind::kLstm, false));
  Rng rng(1);
  model.init(rng);
  models::RnnLmStream<float> stream = model.make_stream(2);
  Tensor<float> logits(Shape{2, 7});
  EXPECT_TRUE(
      throws_error_with([&] { model.step(stream, {1}, logits); }, {"RNN LM step: 1 ids for 2 streams"}));
  // The output sizes itself: an empty or misshapen tensor becomes (B, V) and holds the logits a
  // right-sized one gets; a right-sized one is reused (same storage).
  models::RnnLmStream<float> twin_stream = model.make_stream(2);
  Tensor<float> unsized, misshapen(Shape{2, 6});
  model.step(stream, {1, 2}, unsized);
  model.step(twin_stream, {1, 2}, misshapen);
  ASSERT_EQ(unsized.shape(), Shape({2, 7}));
  EXPECT_TRUE(bit_identical(unsized, misshapen));
  const float* storage = unsized.data();
  model.step(stream, {3, 4}, unsized);
  EXPECT_EQ(unsized.data(), storage);
  ag::Tape<float> tape;
  EXPECT_TRUE(throws_error_with(
      [&] {
        model.forward(tape, {1, 2, 3}, 2, 2, {}, false, nullptr);
      },
      {"RNN LM: 3 input ids for a (2, 2) batch"}));
  // A stream belongs to the model that made it, even when the shapes agree.
  RnnLm<float> twin(small_config(CellKind::kLstm, false));
  twin.init(rng);
  EXPECT_TRUE(throws_error_with(
      [&] {
        twin.step(stream, {1, 2}, logits);
      },
      {"not made by this model's make_stream"}));
}

// A stream is a snapshot: changing the parameters afterwards (all of them, biases included) does
// not change what it computes; a new stream sees the new parameters.
TEST(RnnLm, StreamComputesWithTheParametersItWasMadeWith) {
  RnnLm<float> model(small_config(CellKind::kLstm, false));
  Rng rng(3);
  model.init(rng);
  const std::vector<std::vector<std::int32_t>> ids = {{1, 4}, {6, 0}, {2, 2}};
  const auto run = [&](models::RnnLmStream<float> stream) {
    std::vector<float> out;
    Tensor<float> logits(Shape{2, 7});
    for (const auto& step_ids : ids) {
      model.step(stream, step_ids, logits);
      out.insert(out.end(), logits.data(), logits.data() + logits.numel());
    }
    return out;
  };
  models::RnnLmStream<float> before = model.make_stream(2);
  const std::vector<float> expected = run(before);
  Tensor<float> flat = model.params().flat_values();
  for (index_t i = 0; i < flat.numel(); ++i) flat[i] += 0.25f;  // every weight and bias
  EXPECT_EQ(run(before), expected) << "an old stream saw the changed parameters";
  EXPECT_NE(run(model.make_stream(2)), expected) << "a new stream did not see them";
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

data::Vocab chars_of(std::string_view text) {
  return data::Vocab::build(data::TokenKind::kChar,
                            data::count_tokens(data::tokenize(text, data::TokenKind::kChar, "text")), {});
}

struct Trained {
  data::Vocab vocab;
  std::unique_ptr<RnnLm<float>> model;
};

Trained make_model(CellKind cell, bool tied) {
  Trained t;
  t.vocab = chars_of("h\u00E9llo w\u20ACrld!");  // ! space d h l o r w é € → 10
  t.model = std::make_unique<RnnLm<float>>(small_config(cell, tied, t.vocab.size()));
  Rng rng(tied ? 31 : 30);
  t.model->init(rng);
  return t;
}

io::Safetensors reparse(const io::Safetensors& file, const std::string& source = "model.safetensors") {
  const std::vector<std::byte> bytes = file.serialize();
  return io::Safetensors::parse(bytes, source);
}

// A copy of `file` with its tensors filtered or replaced, parsed back under the name "model.safetensors".
io::Safetensors edited(const io::Safetensors& file, const std::string& drop,
                       const std::vector<std::pair<std::string, Tensor<float>>>& add = {}) {
  io::Safetensors out;
  for (const auto& [name, entry] : file.entries())
    if (name != drop) out.add(name, entry);
  for (const auto& [name, t] : add) out.add(name, t);
  out.metadata() = file.metadata();
  return reparse(out);
}

TEST(RnnLmCheckpoint, RoundTripIsBitExact) {
  for (CellKind cell : {CellKind::kLstm, CellKind::kGru})
    for (bool tied : {false, true}) {
      SCOPED_TRACE(::testing::Message() << nn::cell_name(cell) << (tied ? " tied" : ""));
      const Trained t = make_model(cell, tied);
      ASSERT_EQ(t.vocab.size(), 10);
      const io::Safetensors file = rnn_lm_file(*t.model, t.vocab);
      // Tensors: the state_dict, decoder.weight included even when tied (as a copy).
      std::vector<std::string> names;
      for (const auto& e : t.model->params().entries()) names.push_back(e.name);
      if (tied) names.push_back("decoder.weight");
      std::sort(names.begin(), names.end());
      EXPECT_EQ(file.names(), names);
      EXPECT_EQ(file.metadata().at(kTaskKey), "lm");
      EXPECT_EQ(file.metadata().at(kConfigKey), t.model->config().to_json());
      EXPECT_EQ(file.metadata().at(kVocabKey), t.vocab.to_json());
      if (tied) {
        EXPECT_TRUE(bit_identical(file.get<float>("decoder.weight"),
                                  t.model->params().value(t.model->embedding_id())));
      }

      const LoadedRnnLm loaded = load_rnn_lm(reparse(file));
      EXPECT_EQ(loaded.vocab, t.vocab);
      EXPECT_EQ(loaded.model->config().to_json(), t.model->config().to_json());
      EXPECT_EQ(names_and_shapes(loaded.model->params()), names_and_shapes(t.model->params()));
      EXPECT_TRUE(bit_identical(loaded.model->params().flat_values(), t.model->params().flat_values()));
      EXPECT_EQ(loaded.file.source(), "model.safetensors");
      EXPECT_EQ(loaded.file, file);
    }
}

TEST(RnnLmCheckpoint, LoadsFromAFile) {
  const Trained t = make_model(CellKind::kLstm, false);
  const std::string path = ::testing::TempDir() + "recur_char_lm_checkpoint_test.safetensors";
  rnn_lm_file(*t.model, t.vocab).write_file(path);
  const LoadedRnnLm loaded = load_rnn_lm(path);
  EXPECT_EQ(loaded.vocab, t.vocab);
  EXPECT_TRUE(bit_identical(loaded.model->params().flat_values(), t.model->params().flat_values()));
  std::remove(path.c_str());
}

TEST(RnnLmCheckpoint, TrainingStateIsIgnored) {
  const Trained t = make_model(CellKind::kGru, true);
  io::Safetensors file = rnn_lm_file(*t.model, t.vocab);
  file.add("train.adam.m", Tensor<float>(Shape{3, 2}));
  file.add("train.step", Tensor<double>(Shape{1}));
  file.metadata()["recur.train"] = R"({"step": 12})";
  const LoadedRnnLm loaded = load_rnn_lm(reparse(file));
  EXPECT_TRUE(bit_identical(loaded.model->params().flat_values(), t.model->params().flat_values()));
  EXPECT_TRUE(loaded.file.contains("train.adam.m"));
  EXPECT_EQ(loaded.file.metadata().at("recur.train"), R"({"step": 12})");
}

// recur.task names the model's task; files written before it existed (no recur.task, but
// recur.config and recur.vocab) are character LMs.
TEST(RnnLmCheckpoint, TheTaskIsNamedAndFilesWithoutOneAreCharacterLms) {
  const Trained t = make_model(CellKind::kLstm, false);
  const io::Safetensors file = rnn_lm_file(*t.model, t.vocab);
  EXPECT_EQ(checkpoint_task(file), "lm");
  io::Safetensors legacy = file;
  legacy.metadata().erase(kTaskKey);
  EXPECT_EQ(checkpoint_task(legacy), "lm");
  const LoadedRnnLm loaded = load_rnn_lm(reparse(legacy));
  EXPECT_TRUE(bit_identical(loaded.model->params().flat_values(), t.model->params().flat_values()));

  io::Safetensors tagger = file;
  tagger.metadata()[kTaskKey] = "tag";
  EXPECT_EQ(checkpoint_task(tagger), "tag");
  EXPECT_TRUE(throws_error_with([&] { load_rnn_lm(reparse(tagger)); },
                                {"model.safetensors: holds a 'tag' model, not a language model"}));
  io::Safetensors empty = file;
  empty.metadata()[kTaskKey] = "";
  EXPECT_TRUE(throws_error_with([&] { checkpoint_task(reparse(empty)); },
                                {"model.safetensors: recur.task is empty"}));
  io::Safetensors foreign;
  foreign.add("weight", Tensor<float>(Shape{2}));
  EXPECT_TRUE(throws_error_with([&] { checkpoint_task(reparse(foreign, "other.safetensors")); },
                                {"other.safetensors: not a recur checkpoint"}));
}

TEST(RnnLmCheckpoint, LoadErrorsNameTheFileAndTensor) {
  const Trained t = make_model(CellKind::kLstm, false);
  const io::Safetensors file = rnn_lm_file(*t.model, t.vocab);

  for (const char* key : {kConfigKey, kVocabKey}) {
    io::Safetensors f = file;
    f.metadata().erase(key);
    EXPECT_TRUE(throws_error_with([&] { load_rnn_lm(reparse(f)); },
                                  {"model.safetensors: no ", key, " in the metadata"}));
  }
  {
    io::Safetensors f = file;
    f.metadata()[kVocabKey] = chars_of("abc").to_json();
    EXPECT_TRUE(throws_error_with([&] { load_rnn_lm(reparse(f)); },
                                  {"model.safetensors: recur.vocab has 3 tokens but recur.config says "
                                   "vocab_size 10"}));
  }
  {
    io::Safetensors f = file;
    f.metadata()[kVocabKey] = R"(["b", "a"])";
    EXPECT_TRUE(throws_error_with([&] { load_rnn_lm(reparse(f)); },
                                  {"model.safetensors: recur.vocab token 1 = 'a' is not after 'b'"}));
  }
  {
    io::Safetensors f = file;
    f.metadata()[kConfigKey] = R"({"model":"lstm"})";
    EXPECT_TRUE(throws_error_with([&] { load_rnn_lm(reparse(f)); },
                                  {"model.safetensors", "recur.config has no \"num_layers\""}));
  }
  EXPECT_TRUE(throws_error_with([&] { load_rnn_lm(edited(file, "rnn.bias_hh_l1")); },
                                {"model.safetensors: missing tensor rnn.bias_hh_l1"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        load_rnn_lm(edited(file, "decoder.bias", {{"decoder.bias", Tensor<float>(Shape{8})}}));
      },
      {"model.safetensors: decoder.bias is (8,) in the file, the model needs (10,)"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        load_rnn_lm(edited(file, "embedding.weight", {{"embedding.weight", Tensor<float>(Shape{4, 10})}}));
      },
      {"model.safetensors: embedding.weight is (4, 10) in the file, the model needs (10, 4)"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        load_rnn_lm(edited(file, "", {{"extra.weight", Tensor<float>(Shape{2})}}));
      },
      {"model.safetensors: unexpected tensor extra.weight (not part of this model)"}));
  // "train" without the dot is not training state.
  EXPECT_TRUE(throws_error_with(
      [&] {
        load_rnn_lm(edited(file, "", {{"trainer", Tensor<float>(Shape{1})}}));
      },
      {"model.safetensors: unexpected tensor trainer"}));
  // An untied model has no alias: a decoder.weight of the right shape is required.
  EXPECT_TRUE(throws_error_with([&] { load_rnn_lm(edited(file, "decoder.weight")); },
                                {"model.safetensors: missing tensor decoder.weight"}));
  // The source name comes from the file read.
  EXPECT_TRUE(throws_error_with(
      [&] {
        io::Safetensors f = file;
        f.metadata().erase(kConfigKey);
        load_rnn_lm(reparse(f, "runs/best.safetensors"));
      },
      {"runs/best.safetensors: no recur.config"}));
}

// A config that passes its ranges yet implies a model far larger than the file: the header is
// compared with the shapes the config implies before anything is allocated (64 layers of 65,536
// LSTM units would be 8.8 TB), and the error shows a few names, not thousands.
TEST(RnnLmCheckpoint, AConfigLargerThanItsFileIsRefusedBeforeAllocating) {
  const Trained t = make_model(CellKind::kLstm, false);
  io::Safetensors f = rnn_lm_file(*t.model, t.vocab);
  RnnLmConfig huge = t.model->config();
  huge.num_layers = 64;
  huge.rnn_size = 65536;
  f.metadata()[kConfigKey] = huge.to_json();
  EXPECT_TRUE(throws_error_with([&] { load_rnn_lm(reparse(f)); },
                                {"model.safetensors: missing tensors rnn.weight_ih_l2, rnn.weight_hh_l2, "
                                 "rnn.bias_ih_l2, rnn.bias_hh_l2, rnn.weight_ih_l3, … (248 in all)"}));
  huge.num_layers = 2;
  f.metadata()[kConfigKey] = huge.to_json();
  EXPECT_TRUE(
      throws_error_with([&] { load_rnn_lm(reparse(f)); },
                        {"model.safetensors: rnn.weight_ih_l0 is (20, 4) in the file, the model needs "
                         "(262144, 4)",
                         "… (9 in all)"}));
}

}  // namespace
}  // namespace recur::models
