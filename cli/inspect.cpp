// recur inspect: what a checkpoint holds — task, config, tensors, vocabulary, training state.
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "recur/io/parameters_io.h"
#include "recur/models/checkpoint.h"
#include "recur/models/tasks.h"

namespace recur::cli {

namespace {

void run_inspect(const std::string& path) {
  const std::unique_ptr<models::TaskModel> model = models::open_checkpoint(path);
  const io::Safetensors& file = model->file();
  fmt::print("{}\n", path);
  fmt::print("task       {}\n", model->task());
  fmt::print("config     {}\n", model->config_json());
  fmt::print("parameters {} in {} tensors\n", model->params().numel(), model->params().size());
  for (const std::string& name : file.names()) {
    const io::SafetensorsEntry& e = file.entry(name);
    fmt::print("  {:<32} {:<4} {}\n", name, io::dtype_name(e.dtype), Shape(e.shape).str());
  }
  for (const auto& [label, text] : model->describe()) fmt::print("{:<10} {}\n", label, text);
  // A diverged model is still inspected: the line says where it is not finite.
  try {
    io::require_finite(model->params(), path);
    fmt::print("{:<10} every value finite\n", "values");
  } catch (const Error& e) {
    fmt::print("{:<10} {}\n", "values", e.what());
  }
  for (const char* key : {models::kTrainKey, models::kBestKey}) {
    if (!file.metadata().count(key)) continue;
    const std::string label = std::string_view(key) == models::kTrainKey ? "training" : "best";
    // Shown as far as it can be read: a damaged record is named, not a bare JSON exception.
    const nlohmann::json info = nlohmann::json::parse(file.metadata().at(key), nullptr, false);
    if (!info.is_object()) {
      fmt::print("{:<10} unreadable: {} is not a JSON object\n", label, key);
      continue;
    }
    try {
      // "best_metric" / "best_value" since validations return several metrics; "best_val_loss" before.
      const nlohmann::json best =
          info.contains("best_value") ? info["best_value"] : info.value("best_val_loss", nlohmann::json());
      fmt::print("{:<10} iteration {}, epoch {:.2f}, {} tokens, best val {} {} (iteration {})\n", label,
                 info.value("iteration", 0L), info.value("epoch", 0.0), info.value("tokens", 0L),
                 info.value("best_metric", std::string("loss")),
                 best.is_number() ? fmt::format("{:.4f}", best.get<double>()) : std::string("—"),
                 info.value("best_iteration", 0L));
    } catch (const nlohmann::json::exception&) {
      fmt::print("{:<10} unreadable: {} has values of the wrong type\n", label, key);
    }
  }
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  CLI::App* cmd =
      app.add_subcommand("inspect", "show a checkpoint's config, tensors, vocabulary and training state");
  cmd->add_option("checkpoint", *path, "a .safetensors checkpoint")->required()->check(CLI::ExistingFile);
  auto threads = std::make_shared<int>(0);
  add_threads_option(*cmd, *threads);  // accepted for uniformity: inspecting computes nothing
  cmd->callback([path, threads] {
    apply_threads(*threads);
    run_inspect(*path);
  });
}

}  // namespace recur::cli
