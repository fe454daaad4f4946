#include "recur/models/tasks.h"

#include <fmt/format.h>

#include "recur/models/checkpoint.h"
#include "recur/models/rnn_lm_model.h"
#include "recur/models/tagger_model.h"

namespace recur::models {

const std::vector<TaskEntry>& tasks() {
  static const std::vector<TaskEntry> all = {
      {kLmTask, "language models over characters", open_lm_model},
      {kTagTask, "taggers: a tag per word (part of speech, chunks)", open_tagger},
  };
  return all;
}

std::unique_ptr<TaskModel> open_checkpoint(const std::string& path) {
  return open_checkpoint(io::Safetensors::read_file(path));
}

std::unique_ptr<TaskModel> open_checkpoint(io::Safetensors file) {
  const std::string task = checkpoint_task(file);
  std::string known;
  for (const TaskEntry& entry : tasks()) {
    if (task == entry.name) return entry.open(std::move(file));
    known += fmt::format("{}'{}'", known.empty() ? "" : ", ", entry.name);
  }
  throw Error(
      fmt::format("{}: holds a model of task '{}', which this build of recur does not know (it knows {})",
                  file.source(), task, known));
}

}  // namespace recur::models
