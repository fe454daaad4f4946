// TaskModel: a trained model of some task, opened from its checkpoint, behind what the commands
// that take a checkpoint need (recur sample, eval, inspect). open_checkpoint (models/tasks.h)
// reads the file's recur.task and hands back the task's TaskModel; the commands call it and
// never name a task.
//
// A task implements what applies to it and leaves the rest: the defaults refuse, naming the file,
// the task and the command ("runs/best.safetensors holds a 'classify' model; recur sample does not
// apply to it").
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "recur/io/safetensors.h"
#include "recur/models/sampling.h"
#include "recur/nn/parameters.h"

namespace recur::models {

struct EvaluateOptions {
  index_t chunk = 1000;  // steps per forward pass; a state carried across passes does not change the result
  std::string
      report_dir;  // where a task writes its reports of the evaluation (a tagger's tags.tsv, confusion.svg)
};

struct Evaluation {
  std::string json;     // one JSON object of the task's metrics (recur eval --json)
  std::string summary;  // one line for people
};

struct GenerateOptions {
  std::string prime_text;  // conditions the model and is emitted first (each item's start, for items)
  long length = 2000;      // tokens to generate after it (at most, per item, for items)
  long count = 0;          // models of one item per line: items to generate (0: 10); others: 0 or 1
  SamplingOptions sampling;
  std::uint64_t seed = 123;
};

struct PredictOptions {
  bool plain_text = false;  // one sentence a line, words split at whitespace (else the task's file format)
  // Items computed together, at most: those already read into the input's buffer (a file's next
  // sentences), never waiting for more (a terminal gets each line's answer at once).
  index_t batch_size = 64;
};

class TaskModel {
 public:
  explicit TaskModel(io::Safetensors file) : file_(std::move(file)) {}
  virtual ~TaskModel() = default;
  TaskModel(const TaskModel&) = delete;
  TaskModel& operator=(const TaskModel&) = delete;

  virtual std::string_view task() const = 0;
  // Everything the checkpoint held, the training state included.
  const io::Safetensors& file() const { return file_; }
  virtual const nn::ParameterTable<float>& params() const = 0;
  virtual std::string config_json() const = 0;
  // Lines for recur inspect after the tensors, as (label, text): the vocabulary, for example.
  virtual std::vector<std::pair<std::string, std::string>> describe() const { return {}; }

  // The model's metrics on `text`, the content of the file `source` names (for errors).
  virtual Evaluation evaluate(std::string_view text, std::string_view source,
                              const EvaluateOptions& options) const;
  // Draws output one token at a time and hands each one's text to `emit` as it is drawn; the prime
  // text comes first, and the output ends with a line break.
  virtual void generate(const GenerateOptions& options,
                        const std::function<void(std::string_view)>& emit) const;
  // The task's output for each item read from `in` (the file `source` names), handed to `emit` as
  // soon as it is made: a tagger's tagged sentences.
  virtual void predict(std::istream& in, std::string_view source, const PredictOptions& options,
                       const std::function<void(std::string_view)>& emit) const;

 protected:
  // The error for a command this task does not support.
  [[noreturn]] void unsupported(std::string_view command) const;

 private:
  io::Safetensors file_;
};

}  // namespace recur::models
