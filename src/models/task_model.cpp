#include "recur/models/task_model.h"

#include <fmt/format.h>

namespace recur::models {

Evaluation TaskModel::evaluate(std::string_view, std::string_view, const EvaluateOptions&) const {
  unsupported("eval");
}

void TaskModel::generate(const GenerateOptions&, const std::function<void(std::string_view)>&) const {
  unsupported("sample");
}

void TaskModel::predict(std::istream&, std::string_view, const PredictOptions&,
                        const std::function<void(std::string_view)>&) const {
  unsupported("predict");
}

void TaskModel::unsupported(std::string_view command) const {
  throw Error(
      fmt::format("{} holds a '{}' model; recur {} does not apply to it", file_.source(), task(), command));
}

}  // namespace recur::models
