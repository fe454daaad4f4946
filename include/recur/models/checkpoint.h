// What every recur checkpoint holds, whatever its task (docs/checkpoint-format.md): the metadata
// keys, and which task a file is for.
//
//   recur.task    the task: "lm" (the tasks a build knows are listed in models/tasks.h)
//   recur.config  the task's model config (JSON)
//   recur.vocab   the vocabulary, where the task has one (JSON)
//   recur.train   last.safetensors only: what --resume needs, beside tensors under "train."
//   recur.best    best.safetensors only: when it was saved and its validation loss
#pragma once

#include <string>

#include "recur/data/vocab.h"
#include "recur/io/safetensors.h"

namespace recur::models {

inline constexpr const char* kTaskKey = "recur.task";
inline constexpr const char* kConfigKey = "recur.config";
inline constexpr const char* kVocabKey = "recur.vocab";
inline constexpr const char* kTrainKey = "recur.train";
inline constexpr const char* kBestKey = "recur.best";
inline constexpr const char* kTrainingPrefix = "train.";

// The language models' task name.
inline constexpr const char* kLmTask = "lm";

// The file's recur.task. A file without one but with recur.config and recur.vocab was written
// before tasks existed and is a character LM: "lm". A file with none of these is an error naming it.
std::string checkpoint_task(const io::Safetensors& file);

// What every language model's checkpoint holds, whatever its architecture (recurrent or window):
// recur.task "lm", recur.config and recur.vocab. put_lm_metadata checks that `vocab` has the
// config's `vocab_size` tokens. lm_config_json checks the task and that both keys are there, and
// returns the config's text; lm_vocabulary_of reads the vocabulary, which must have `vocab_size`
// tokens. Errors name the file.
void put_lm_metadata(io::Safetensors& file, std::string config_json, index_t vocab_size,
                     const data::Vocab& vocab);
const std::string& lm_config_json(const io::Safetensors& file);
data::Vocab lm_vocabulary_of(const io::Safetensors& file, index_t vocab_size);

}  // namespace recur::models
