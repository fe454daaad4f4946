// The one way in for the commands that take a checkpoint: open_checkpoint reads recur.task and hands
// back the task's TaskModel; unknown tasks and unsupported commands are errors that say which.
// And the character LM behind that interface: its evaluation and generation.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "recur/autograd/functions.h"
#include "recur/data/tokenize.h"
#include "recur/models/rnn_lm_model.h"
#include "recur/models/tasks.h"
#include "test_util.h"

namespace recur::models {
namespace {

using testing::throws_error_with;

io::Safetensors reparse(const io::Safetensors& file, const std::string& source) {
  return io::Safetensors::parse(file.serialize(), source);
}

// A small LSTM LM over the characters of kText, its file parsed back as runs/lm.safetensors.
constexpr std::string_view kText = "to be, or not to be: that is the question.\n";

io::Safetensors lm_file(std::uint64_t seed = 5) {
  const data::Vocab vocab = data::Vocab::build(
      data::TokenKind::kChar, data::count_tokens(data::tokenize(kText, data::TokenKind::kChar, "t")), {});
  RnnLmConfig c;
  c.num_layers = 2;
  c.rnn_size = 6;
  c.embedding_size = 4;
  c.vocab_size = vocab.size();
  RnnLm<float> model(c);
  Rng rng(seed);
  model.init(rng);
  return reparse(rnn_lm_file(model, vocab), "runs/lm.safetensors");
}

TEST(OpenCheckpoint, DispatchesOnTheTask) {
  const io::Safetensors file = lm_file();
  for (bool legacy : {false, true}) {
    SCOPED_TRACE(legacy ? "without recur.task" : "with recur.task");
    io::Safetensors f = file;
    if (legacy) f.metadata().erase(kTaskKey);
    const std::unique_ptr<TaskModel> model = open_checkpoint(std::move(f));
    EXPECT_EQ(model->task(), "lm");
    ASSERT_NE(dynamic_cast<const RnnLmModel*>(model.get()), nullptr);
    EXPECT_EQ(model->config_json(), file.metadata().at(kConfigKey));
    EXPECT_EQ(model->params().size(), 11);  // embedding, 2 x 4 rnn, decoder weight and bias
    EXPECT_EQ(model->file().source(), "runs/lm.safetensors");
    ASSERT_EQ(model->describe().size(), 1u);
    EXPECT_EQ(model->describe()[0].first, "vocabulary");
    EXPECT_NE(model->describe()[0].second.find("17 characters"), std::string::npos)
        << model->describe()[0].second;
  }
  // Every registered task has a name, a summary and an opener; names are unique.
  for (size_t i = 0; i < tasks().size(); ++i) {
    EXPECT_NE(std::string(tasks()[i].name), "");
    EXPECT_NE(std::string(tasks()[i].summary), "");
    EXPECT_NE(tasks()[i].open, nullptr);
    for (size_t j = 0; j < i; ++j) EXPECT_NE(std::string(tasks()[i].name), tasks()[j].name);
  }
}

TEST(OpenCheckpoint, AnUnknownTaskNamesTheFileAndTheTask) {
  io::Safetensors f = lm_file();
  f.metadata()[kTaskKey] = "forecast";
  EXPECT_TRUE(throws_error_with([&] { open_checkpoint(reparse(f, "runs/other.safetensors")); },
                                {"runs/other.safetensors: holds a model of task 'forecast', which this build "
                                 "of recur does not know (it knows 'lm', 'tag')"}));
  EXPECT_TRUE(throws_error_with([&] { open_checkpoint(std::string("/nonexistent/x.safetensors")); },
                                {"/nonexistent/x.safetensors"}));
}

// A task without generation or evaluation: the interface's defaults refuse, naming the command.
class Classifier final : public TaskModel {
 public:
  explicit Classifier(io::Safetensors file) : TaskModel(std::move(file)) { params_.freeze(); }
  std::string_view task() const override { return "classify"; }
  const nn::ParameterTable<float>& params() const override { return params_; }
  std::string config_json() const override { return "{}"; }

 private:
  nn::ParameterTable<float> params_;
};

TEST(TaskModel, ACommandATaskDoesNotSupportSaysSo) {
  io::Safetensors file;
  file.metadata()[kTaskKey] = "classify";
  const Classifier model(reparse(file, "sst/best.safetensors"));
  EXPECT_TRUE(throws_error_with(
      [&] { model.generate({}, [](std::string_view) {}); },
      {"sst/best.safetensors holds a 'classify' model; recur sample does not apply to it"}));
  EXPECT_TRUE(
      throws_error_with([&] { model.evaluate("text", "f.txt", {}); },
                        {"sst/best.safetensors holds a 'classify' model; recur eval does not apply to it"}));
}

TEST(RnnLmModel, EvaluateIsTheMeanLossOfOneForwardPassWhateverTheChunk) {
  const std::unique_ptr<TaskModel> opened = open_checkpoint(lm_file());
  const auto& lm = dynamic_cast<const RnnLmModel&>(*opened);
  // The reference: one forward pass over the whole text, the mean of the 42 next-character losses.
  const std::vector<std::int32_t> ids =
      lm.vocab().encode(data::tokenize(kText, data::TokenKind::kChar, "t"), "t");
  const auto T = static_cast<index_t>(ids.size()) - 1;
  ag::Tape<float> tape;
  const auto out = lm.model().forward(tape, std::vector<std::int32_t>(ids.begin(), ids.end() - 1), T, 1, {},
                                      false, nullptr);
  const double want =
      ag::cross_entropy(out.logits, std::vector<std::int32_t>(ids.begin() + 1, ids.end())).item();
  for (index_t chunk : {1000, 7, 1}) {
    SCOPED_TRACE(chunk);
    EvaluateOptions options;
    options.chunk = chunk;
    const Evaluation e = opened->evaluate(kText, "hamlet.txt", options);
    const auto j = nlohmann::json::parse(e.json);
    EXPECT_EQ(j.at("tokens").get<index_t>(), T);
    // Float logits, double sums; chunking only changes where the state crosses a pass.
    EXPECT_NEAR(j.at("loss").get<double>(), want, 1e-6);
    EXPECT_NEAR(j.at("bpc").get<double>(), j.at("loss").get<double>() / std::log(2.0), 1e-12);
    EXPECT_NEAR(j.at("perplexity").get<double>(), std::exp(j.at("loss").get<double>()), 1e-9);
    EXPECT_EQ(e.summary.rfind("hamlet.txt: 42 predictions, loss ", 0), 0u) << e.summary;
  }
  EXPECT_TRUE(throws_error_with([&] { opened->evaluate("t", "one.txt", {}); },
                                {"one.txt: needs at least 2 tokens to score, has 1"}));
  EXPECT_TRUE(throws_error_with([&] { opened->evaluate("tx", "x.txt", {}); },
                                {"x.txt"}));  // 'x' is not in the vocabulary
}

TEST(RnnLmModel, GenerateEmitsThePrimeThenOneCharacterPerStep) {
  const std::unique_ptr<TaskModel> model = open_checkpoint(lm_file());
  GenerateOptions o;
  o.prime_text = "to be";
  o.length = 30;
  o.seed = 9;
  std::vector<std::string> pieces;
  model->generate(o, [&](std::string_view p) { pieces.emplace_back(p); });
  ASSERT_EQ(pieces.size(), 32u);  // the prime, 30 characters, and the closing line break
  EXPECT_EQ(pieces[0], "to be");
  EXPECT_EQ(pieces.back(), "\n");
  std::string text;
  for (const std::string& p : pieces) text += p;
  std::string again;
  model->generate(o, [&](std::string_view p) { again += p; });
  EXPECT_EQ(again, text);  // the seed fixes the draws
  o.seed = 10;
  std::string other;
  model->generate(o, [&](std::string_view p) { other += p; });
  EXPECT_NE(other, text);
  o.prime_text = "zebra";  // 'z' is not in the vocabulary
  EXPECT_TRUE(throws_error_with([&] { model->generate(o, [](std::string_view) {}); }, {"--prime-text"}));
}

}  // namespace
}  // namespace recur::models
