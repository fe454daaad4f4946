#include "recur/models/rnn_lm_checkpoint.h"

#include <fmt/format.h>

#include "recur/io/parameters_io.h"

namespace recur::models {

io::Safetensors rnn_lm_file(const RnnLm<float>& model, const data::Vocab& vocab) {
  RECUR_CHECK(vocab.size() == model.config().vocab_size,
              fmt::format("checkpoint: vocabulary of {} for a model with vocab_size {}", vocab.size(),
                          model.config().vocab_size));
  io::Safetensors file;
  io::store_parameters(file, model.params());
  if (model.config().tied) file.add("decoder.weight", model.params().value(model.embedding_id()).clone());
  file.metadata()[kTaskKey] = kLmTask;
  file.metadata()[kConfigKey] = model.config().to_json();
  file.metadata()[kVocabKey] = vocab.to_json();
  return file;
}

LoadedRnnLm load_rnn_lm(const std::string& path) {
  return load_rnn_lm(io::Safetensors::read_file(path));
}

LoadedRnnLm load_rnn_lm(io::Safetensors file) {
  const std::string& source = file.source();
  const auto& meta = file.metadata();
  const std::string task = checkpoint_task(file);
  RECUR_REQUIRE(task == kLmTask,
                fmt::format("{}: holds a '{}' model, not a language model ('{}')", source, task, kLmTask));
  for (const char* key : {kConfigKey, kVocabKey})
    RECUR_CHECK(meta.count(key),
                fmt::format("{}: no {} in the metadata (not a recur char-LM checkpoint?)", source, key));
  LoadedRnnLm loaded;
  const RnnLmConfig config = RnnLmConfig::from_json(meta.at(kConfigKey), source);
  loaded.vocab = data::Vocab::from_json(meta.at(kVocabKey), source);
  RECUR_REQUIRE(loaded.vocab.size() == config.vocab_size,
                fmt::format("{}: recur.vocab has {} tokens but recur.config says vocab_size {}", source,
                            loaded.vocab.size(), config.vocab_size));
  const std::vector<std::string> aliases =
      config.tied ? std::vector<std::string>{"decoder.weight"} : std::vector<std::string>{};
  // The header against the config before the model is allocated (the config is input, not truth).
  io::check_parameter_shapes(file, RnnLm<float>::parameter_shapes(config), {kTrainingPrefix}, aliases);
  loaded.model = std::make_unique<RnnLm<float>>(config);
  io::load_parameters(file, loaded.model->params(), {kTrainingPrefix}, aliases);
  loaded.file = std::move(file);
  return loaded;
}

}  // namespace recur::models
