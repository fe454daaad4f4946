#include "recur/models/checkpoint.h"

#include <fmt/format.h>

namespace recur::models {

std::string checkpoint_task(const io::Safetensors& file) {
  const auto& meta = file.metadata();
  if (const auto task = meta.find(kTaskKey); task != meta.end()) {
    RECUR_REQUIRE(!task->second.empty(), fmt::format("{}: recur.task is empty", file.source()));
    return task->second;
  }
  RECUR_REQUIRE(meta.count(kConfigKey) && meta.count(kVocabKey),
                fmt::format("{}: not a recur checkpoint (its metadata has no recur.task, and no recur.config "
                            "and recur.vocab as the files written before recur.task had)",
                            file.source()));
  return kLmTask;
}

void put_lm_metadata(io::Safetensors& file, std::string config_json, index_t vocab_size,
                     const data::Vocab& vocab) {
  RECUR_CHECK(
      vocab.size() == vocab_size,
      fmt::format("checkpoint: vocabulary of {} for a model with vocab_size {}", vocab.size(), vocab_size));
  file.metadata()[kTaskKey] = kLmTask;
  file.metadata()[kConfigKey] = std::move(config_json);
  file.metadata()[kVocabKey] = vocab.to_json();
}

const std::string& lm_config_json(const io::Safetensors& file) {
  const std::string& source = file.source();
  const std::string task = checkpoint_task(file);
  RECUR_REQUIRE(task == kLmTask,
                fmt::format("{}: holds a '{}' model, not a language model ('{}')", source, task, kLmTask));
  for (const char* key : {kConfigKey, kVocabKey})
    RECUR_REQUIRE(
        file.metadata().count(key),
        fmt::format("{}: no {} in the metadata (not a recur language-model checkpoint?)", source, key));
  return file.metadata().at(kConfigKey);
}

data::Vocab lm_vocabulary_of(const io::Safetensors& file, index_t vocab_size) {
  data::Vocab vocab = data::Vocab::from_json(file.metadata().at(kVocabKey), file.source());
  RECUR_REQUIRE(vocab.size() == vocab_size,
                fmt::format("{}: recur.vocab has {} tokens but recur.config says vocab_size {}",
                            file.source(), vocab.size(), vocab_size));
  return vocab;
}

}  // namespace recur::models
