// recur inspect: what a checkpoint holds — config, tensors, vocabulary, training state.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "recur/data/utf8.h"
#include "recur/models/char_lm_checkpoint.h"

namespace recur::cli {

namespace {

void run_inspect(const std::string& path) {
  const models::LoadedCharLm loaded = models::load_char_lm(path);
  const models::CharLmConfig& c = loaded.model->config();
  fmt::print("{}\n", path);
  fmt::print("config     {}\n", c.to_json());
  fmt::print("parameters {} in {} tensors\n", loaded.model->params().numel(), loaded.model->params().size());
  for (const std::string& name : loaded.file.names()) {
    const io::SafetensorsEntry& e = loaded.file.entry(name);
    fmt::print("  {:<32} {:<4} {}\n", name, io::dtype_name(e.dtype), Shape(e.shape).str());
  }
  std::string chars;
  for (char32_t ch : loaded.vocab.chars())
    chars += ch == U'\n' ? "\\n" : ch == U' ' ? "␠" : data::encode_utf8(std::u32string(1, ch));
  fmt::print("vocabulary {} characters: {}\n", loaded.vocab.size(), chars);
  for (const char* key : {"recur.train", "recur.best"}) {
    if (!loaded.file.metadata().count(key)) continue;
    const nlohmann::json info = nlohmann::json::parse(loaded.file.metadata().at(key));
    fmt::print("{:<10} iteration {}, epoch {:.2f}, {} tokens, best val loss {} (iteration {})\n",
               std::string(key) == "recur.train" ? "training" : "best", info.value("iteration", 0L),
               info.value("epoch", 0.0), info.value("tokens", 0L),
               info.contains("best_val_loss") && !info["best_val_loss"].is_null()
                   ? fmt::format("{:.4f}", info["best_val_loss"].get<double>())
                   : std::string("—"),
               info.value("best_iteration", 0L));
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
