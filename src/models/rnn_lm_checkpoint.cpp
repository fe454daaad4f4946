#include "recur/models/rnn_lm_checkpoint.h"

#include <fmt/format.h>

#include "recur/io/parameters_io.h"

namespace recur::models {

io::Safetensors rnn_lm_file(const RnnLm<float>& model, const data::Vocab& vocab) {
  io::Safetensors file;
  put_lm_metadata(file, model.config().to_json(), model.config().vocab_size, vocab);
  io::store_parameters(file, model.params());
  if (model.config().tied) file.add("decoder.weight", model.params().value(model.embedding_id()).clone());
  return file;
}

LoadedRnnLm load_rnn_lm(const std::string& path) {
  return load_rnn_lm(io::Safetensors::read_file(path));
}

LoadedRnnLm load_rnn_lm(io::Safetensors file) {
  LoadedRnnLm loaded;
  const RnnLmConfig config = RnnLmConfig::from_json(lm_config_json(file), file.source());
  loaded.vocab = lm_vocabulary_of(file, config.vocab_size);
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
