// The fixed-window language model (models/window_lm.h, window_lm_task.h, window_lm_model.h): its
// examples, its forward pass against loops written from the definition, its config and checkpoint,
// and the task's batches.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "recur/autograd/functions.h"
#include "recur/models/lm_text.h"
#include "recur/models/tasks.h"
#include "recur/models/window_lm_model.h"
#include "recur/models/window_lm_task.h"
#include "test_util.h"

namespace recur::models {
namespace {

using testing::throws_error_with;

data::Vocab words() {  // <unk> <eos> a b c
  return lm_vocabulary({"a", "b", "c", "a"}, data::TokenKind::kWord);
}
data::Vocab item_letters() {  // <bos> <eos> a b
  return lm_vocabulary({"a", "b"}, data::TokenKind::kChar, 1, 0, /*lines=*/true);
}

// The (context, next) pairs of `e`, in order.
std::vector<std::pair<std::vector<std::int32_t>, std::int32_t>> pairs(const WindowExamples& e, index_t N) {
  std::vector<std::int32_t> contexts, next;
  e.gather({}, 0, e.size(), N, contexts, next);
  std::vector<std::pair<std::vector<std::int32_t>, std::int32_t>> out;
  for (size_t k = 0; k < next.size(); ++k)
    out.push_back({std::vector<std::int32_t>(contexts.begin() + static_cast<std::ptrdiff_t>(k) * N,
                                             contexts.begin() + static_cast<std::ptrdiff_t>(k + 1) * N),
                   next[k]});
  return out;
}

TEST(WindowExamples, AStreamPredictsTokens2ToNFromPaddedWindows) {
  const data::Vocab v = words();
  const std::int32_t eos = v.eos(), a = v.find("a"), b = v.find("b"), c = v.find("c");
  const auto got = pairs(WindowExamples::stream({a, b, c, a}, 2, v), 2);
  using P = std::pair<std::vector<std::int32_t>, std::int32_t>;
  EXPECT_EQ(got, (std::vector<P>{{{eos, a}, b}, {{a, b}, c}, {{b, c}, a}}));
  // A character vocabulary without <eos> pads with its line break.
  const data::Vocab chars = lm_vocabulary({"x", "\n"}, data::TokenKind::kChar);
  EXPECT_EQ(window_stream_padding(chars), chars.find("\n"));
}

TEST(WindowExamples, EachItemPredictsItsTokensAndEosFromBos) {
  const data::Vocab v = item_letters();
  const std::int32_t bos = v.bos(), eos = v.eos(), a = v.find("a"), b = v.find("b");
  const auto got = pairs(WindowExamples::lines({{a}, {b, a}}, 2, v), 2);
  using P = std::pair<std::vector<std::int32_t>, std::int32_t>;
  EXPECT_EQ(
      got, (std::vector<P>{{{bos, bos}, a}, {{bos, a}, eos}, {{bos, bos}, b}, {{bos, b}, a}, {{b, a}, eos}}));
}

WindowLmConfig small_config() {
  WindowLmConfig c;
  c.window = 3;
  c.embedding_size = 4;
  c.hidden_size = 5;
  c.vocab_size = 7;
  return c;
}

// logits[r] = W_dec · tanh(W_h · [e(x_r1); …; e(x_rN)] + b_h) + b_dec, with plain loops.
std::vector<double> reference_logits(const WindowLm<double>& model,
                                     const std::vector<std::int32_t>& contexts) {
  const WindowLmConfig& c = model.config();
  const auto& p = model.params();
  const Tensor<double> emb = p.value(p.find("embedding.weight")), Wh = p.value(p.find("hidden.weight")),
                       bh = p.value(p.find("hidden.bias")), Wd = p.value(p.find("decoder.weight")),
                       bd = p.value(p.find("decoder.bias"));
  const index_t N = c.window, E = c.embedding_size, H = c.hidden_size, V = c.vocab_size;
  std::vector<double> out;
  for (size_t r = 0; r * static_cast<size_t>(N) < contexts.size(); ++r) {
    std::vector<double> x;
    for (index_t j = 0; j < N; ++j)
      for (index_t e = 0; e < E; ++e)
        x.push_back(emb[contexts[r * static_cast<size_t>(N) + static_cast<size_t>(j)] * E + e]);
    std::vector<double> h(static_cast<size_t>(H));
    for (index_t i = 0; i < H; ++i) {
      double s = bh[i];
      for (index_t k = 0; k < N * E; ++k) s += Wh[i * N * E + k] * x[static_cast<size_t>(k)];
      h[static_cast<size_t>(i)] = std::tanh(s);
    }
    for (index_t o = 0; o < V; ++o) {
      double s = bd[o];
      for (index_t i = 0; i < H; ++i) s += Wd[o * H + i] * h[static_cast<size_t>(i)];
      out.push_back(s);
    }
  }
  return out;
}

TEST(WindowLm, ForwardIsTheDefinition) {
  WindowLm<double> model(small_config());
  Rng rng(3);
  model.init(rng);
  const std::vector<std::int32_t> contexts = {0, 1, 2, 6, 6, 3, 5, 4, 0};
  ag::Tape<double> tape;
  const ag::Var<double> logits = model.forward(tape, contexts, false, nullptr);
  ASSERT_EQ(logits.value().shape(), Shape({3, 7}));
  const std::vector<double> want = reference_logits(model, contexts);
  constexpr double kSumOrder = 1e-12;
  for (index_t i = 0; i < 21; ++i)
    EXPECT_NEAR(logits.value()[i], want[static_cast<size_t>(i)], kSumOrder) << i;
  EXPECT_TRUE(throws_error_with(
      [&] {
        model.forward(tape, {0, 1}, false, nullptr);
      },
      {"2 context ids are not rows of 3"}));
  EXPECT_TRUE(throws_error_with([&] { model.forward(tape, {0, 1, 7}, false, nullptr); }, {"7"}));
}

TEST(WindowLm, ConfigRoundTripsAndBadOnesAreNamed) {
  WindowLmConfig c = small_config();
  c.dropout = 0.25;
  c.lines = true;
  const WindowLmConfig back = WindowLmConfig::from_json(c.to_json(), "f");
  EXPECT_EQ(back.to_json(), c.to_json());
  EXPECT_TRUE(is_window_lm_config(c.to_json()));
  EXPECT_FALSE(is_window_lm_config(R"({"model":"lstm"})"));
  EXPECT_FALSE(is_window_lm_config("not json"));
  c.window = 0;
  EXPECT_TRUE(throws_error_with([&] { WindowLmConfig::from_json(c.to_json(), "ckpt.safetensors"); },
                                {"ckpt.safetensors", "\"window\" must be an integer in [1, 1024], got 0"}));
  EXPECT_TRUE(throws_error_with([&] { WindowLmConfig::from_json(R"({"model":"window"})", "f.safetensors"); },
                                {"f.safetensors", "no \"window\""}));
}

TEST(WindowLm, CheckpointRoundTripAndTheLmTaskOpensIt) {
  const data::Vocab v = words();
  WindowLmConfig c = small_config();
  c.vocab_size = v.size();
  WindowLm<float> model(c);
  Rng rng(4);
  model.init(rng);
  io::Safetensors file = window_lm_file(model, v);
  const std::string path = ::testing::TempDir() + "/window_lm_roundtrip.safetensors";
  file.write_file(path);
  const std::unique_ptr<TaskModel> opened = open_checkpoint(path);
  EXPECT_EQ(opened->task(), "lm");
  EXPECT_EQ(opened->config_json(), c.to_json());
  const auto& p = opened->params();
  for (int id = 0; id < model.params().size(); ++id) {
    const Tensor<float> a = model.params().value(id), b = p.value(id);
    ASSERT_EQ(a.shape(), b.shape());
    EXPECT_TRUE(std::equal(a.data(), a.data() + a.numel(), b.data()));
  }
  // eval's loss is the mean over the examples window_loss scores.
  const std::string text = "a b c a b\nc c a\n";
  const auto e = nlohmann::json::parse(opened->evaluate(text, "t.txt", {}).json);
  const WindowLoss l = window_loss(
      model, WindowExamples::stream(v.encode(lm_stream_tokens(text, v.kind(), "t"), "t"), 3, v), 2);
  EXPECT_EQ(e.at("tokens"), l.predictions);
  EXPECT_NEAR(e.at("loss").get<double>(), l.total / static_cast<double>(l.predictions), 1e-6);
  // Tensors of the wrong shape for the config are named.
  WindowLmConfig wider = c;
  wider.hidden_size = 6;
  io::Safetensors bad = window_lm_file(WindowLm<float>(wider), v);
  bad.metadata()["recur.config"] = c.to_json();
  EXPECT_TRUE(throws_error_with([&] { load_window_lm(std::move(bad)); }, {"hidden.bias"}));
  std::remove(path.c_str());
}

TEST(WindowLmTask, AnEpochVisitsEveryExampleOnceInASeededOrder) {
  const data::Vocab v = words();
  WindowLmConfig c = small_config();
  c.vocab_size = v.size();
  WindowLm<float> model(c);
  Rng rng(5);
  model.init(rng);
  std::vector<std::int32_t> tokens;
  for (int i = 0; i < 23; ++i) tokens.push_back(static_cast<std::int32_t>(rng.below(5)));
  const WindowExamples examples = WindowExamples::stream(tokens, 3, v);  // 22 examples
  // Tasks built alike draw the same batches (a resumed run's); another seed draws others.
  WindowLmTask a(model, v, examples, examples, 5, 9), b(model, v, examples, examples, 5, 9),
      other_seed(model, v, examples, examples, 5, 10);
  EXPECT_EQ(a.batches_per_epoch(), 5);  // 22 = 4 × 5 + 2
  std::int64_t rows = 0;
  std::vector<double> a_losses, b_losses, other_losses;
  for (long i = 0; i < 5; ++i) {
    ag::Tape<float> tape;
    Rng r(1);
    const train::TrainingBatch x = a.training_batch(tape, 1, i, r), y = b.training_batch(tape, 1, i, r),
                               z = other_seed.training_batch(tape, 1, i, r);
    rows += x.tokens;
    a_losses.push_back(x.loss.item());
    b_losses.push_back(y.loss.item());
    other_losses.push_back(z.loss.item());
  }
  EXPECT_EQ(rows, 22);
  EXPECT_EQ(a_losses, b_losses);  // a resumed run draws the same batches
  EXPECT_NE(a_losses, other_losses);
  // The validation loss is the mean over all examples.
  const WindowLoss l = window_loss(model, examples);
  EXPECT_NEAR(a.validate().at("loss"), l.total / 22.0, 1e-12);
}

}  // namespace
}  // namespace recur::models
