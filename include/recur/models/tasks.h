// The tasks this build knows, and the one way a command opens a checkpoint.
//
// A task registers itself in tasks() (src/models/tasks.cpp) with its recur.task name and the
// function that opens its checkpoints; nothing else in the commands names it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "recur/io/safetensors.h"
#include "recur/models/task_model.h"

namespace recur::models {

struct TaskEntry {
  const char* name;     // recur.task: "lm"
  const char* summary;  // one line for help texts
  std::unique_ptr<TaskModel> (*open)(io::Safetensors file);
};

const std::vector<TaskEntry>& tasks();

// Reads the file's recur.task (models/checkpoint.h: a file without one is a character LM) and
// opens it with that task's entry. A task this build does not know is an error naming the file,
// the task and the tasks it knows.
std::unique_ptr<TaskModel> open_checkpoint(const std::string& path);
std::unique_ptr<TaskModel> open_checkpoint(io::Safetensors file);

}  // namespace recur::models
