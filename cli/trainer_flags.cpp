#include "trainer_flags.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "recur/io/atomic_file.h"
#include "recur/models/checkpoint.h"
#include "recur/models/tasks.h"
#include "recur/train/metrics_log.h"
#include "settings.h"

namespace recur::cli {

namespace {

using json = nlohmann::ordered_json;

// Flags --resume lets change; every other flag keeps the run's value.
const std::vector<std::string> kResumable = {"data",      "val-data",       "test-data",      "max-epochs",
                                             "max-iters", "eval-val-every", "checkpoint-dir", "threads",
                                             "progress",  "log-every",      "resume",         "overwrite"};

const std::vector<std::string> kOptimizers = {"sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw"};
const std::vector<std::string> kSchedules = {"constant", "char-rnn", "plateau", "cosine"};

bool is_one_of(const std::string& value, const std::vector<std::string>& choices) {
  return std::find(choices.begin(), choices.end(), value) != choices.end();
}

// recur.train["options"] as settings: an object of key → value. Files written before settings
// were text used snake_case keys and JSON numbers.
Settings saved_settings(const io::Safetensors& file) {
  const auto& meta = file.metadata();
  RECUR_REQUIRE(
      meta.count(models::kTrainKey),
      fmt::format("{}: no training state (recur.train) to resume from; --init-from starts a new run "
                  "from its weights",
                  file.source()));
  Settings out;
  try {
    const json options = json::parse(meta.at(models::kTrainKey)).at("options");
    for (const auto& [key, value] : options.items()) {
      std::string k = key;
      std::replace(k.begin(), k.end(), '_', '-');
      out.push_back({k, value.is_string() ? value.get<std::string>() : value.dump(), 0});
    }
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: recur.train is malformed ({})", file.source(), json_error_text(e.what())));
  }
  return out;
}

}  // namespace

void add_trainer_flags(CLI::App& cmd, TrainerFlags& o) {
  const char* optimization = "Optimization (shared by every task)";
  const char* run = "Run (shared by every task)";
  cmd.add_option("--batch-size", o.batch_size, "sequences per batch (parallel streams for a stream)")
      ->check(CLI::Range(1, 1 << 16))
      ->capture_default_str()
      ->group(run);
  cmd.add_option("--optimizer", o.optimizer, "sgd, momentum, adagrad, rmsprop, adam or adamw")
      ->capture_default_str()
      ->group(optimization);
  cmd.add_option("--learning-rate", o.learning_rate, "initial learning rate")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(optimization);
  cmd.add_option("--decay-rate", o.decay_rate, "RMSprop's smoothing constant (alpha)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str()
      ->group(optimization);
  cmd.add_option("--momentum", o.momentum, "momentum for --optimizer momentum")
      ->capture_default_str()
      ->group(optimization);
  cmd.add_option("--weight-decay", o.weight_decay, "L2 (decoupled for adamw)")
      ->capture_default_str()
      ->group(optimization);
  cmd.add_option("--grad-clip", o.grad_clip, "gradient clipping threshold")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(optimization);
  cmd.add_option("--clip-mode", o.clip_mode, "norm (global L2 norm) or value (each element)")
      ->capture_default_str()
      ->group(optimization);
  cmd.add_option("--ema", o.ema,
                 "validate and save an exponential moving average of the weights with this decay (0.999: "
                 "about the last 1,000 steps); 0: the weights as trained")
      ->check(CLI::Range(0.0, 0.999999))
      ->capture_default_str()
      ->group(optimization);
  cmd.add_option("--lr-schedule", o.lr_schedule, "constant, char-rnn, plateau or cosine")
      ->capture_default_str()
      ->group(optimization);
  cmd.add_option("--learning-rate-decay", o.learning_rate_decay,
                 "char-rnn: factor per epoch after the start epoch")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str()
      ->group(optimization);
  cmd.add_option("--learning-rate-decay-after", o.learning_rate_decay_after,
                 "char-rnn: first epoch that decays")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str()
      ->group(optimization);
  cmd.add_option("--plateau-factor", o.plateau_factor, "plateau: factor on each plateau")
      ->capture_default_str()
      ->group(optimization);
  cmd.add_option("--plateau-patience", o.plateau_patience, "plateau: evaluations without improvement")
      ->capture_default_str()
      ->group(optimization);
  cmd.add_option("--warmup-iters", o.warmup_iters, "cosine: linear warmup iterations")
      ->capture_default_str()
      ->group(optimization);
  cmd.add_option("--min-lr", o.min_lr, "cosine / plateau: lowest learning rate")
      ->capture_default_str()
      ->group(optimization);
  cmd.add_option("--max-epochs", o.max_epochs, "passes over the training data")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str()
      ->group(run);
  cmd.add_option("--max-iters", o.max_iters, "optimizer steps; overrides --max-epochs when > 0")
      ->check(CLI::Range(0L, 1L << 40))
      ->capture_default_str()
      ->group(run);
  cmd.add_option("--eval-val-every", o.eval_val_every,
                 "iterations between validations and checkpoints (0: once per epoch)")
      ->check(CLI::Range(0L, 1L << 40))
      ->capture_default_str()
      ->group(run);
  cmd.add_option("--seed", o.seed, "random seed (initialization, dropout, shuffling)")
      ->capture_default_str()
      ->group(run);
  cmd.add_option("--checkpoint-dir", o.checkpoint_dir,
                 "best.safetensors, last.safetensors, metrics.jsonl, loss.svg, config.toml")
      ->capture_default_str()
      ->group(run);
  cmd.add_option("--max-nonfinite-steps", o.max_nonfinite_steps,
                 "stop after this many non-finite steps in a row")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str()
      ->group(run);
  cmd.add_option("--init-from", o.init_from,
                 "start a new run from a checkpoint's weights (its model and vocabulary)")
      ->group(run);
  cmd.add_option("--resume", o.resume,
                 "continue a run from its last.safetensors, exactly (flags may repeat the run's values; only "
                 "data, length, evaluation, directory and display flags may change)")
      ->group(run);
  cmd.add_flag(
         "--overwrite", o.overwrite,
         "replace the run --checkpoint-dir holds (its checkpoints, metrics and plot) instead of refusing")
      ->group(run);
  cmd.add_option("--config", o.config,
                 "read flags from a file such as a run's config.toml (the command line wins)")
      ->group(run);
  cmd.add_option("--progress", o.progress, "auto, bar or log")->capture_default_str()->group(run);
  cmd.add_option("--log-every", o.log_every,
                 "iterations between progress lines (log mode) and between train records in metrics.jsonl")
      ->check(CLI::Range(1L, 1L << 40))
      ->capture_default_str()
      ->group(run);
  cmd.add_option("--threads", o.threads, "compute threads (0: RECUR_NUM_THREADS or all cores)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str()
      ->group(run);
  cmd.get_option("--init-from")->excludes(cmd.get_option("--resume"));
}

void add_data_flags(CLI::App& cmd, std::string& data, const std::string& data_help, TrainerFlags& o,
                    const std::string& group) {
  cmd.add_option("--data", data, data_help)->capture_default_str()->group(group);
  cmd.add_option("--val-data", o.val_data, "validation data (default: a split of --data)")->group(group);
  cmd.add_option("--test-data", o.test_data, "test data, scored with the best model when training ends")
      ->group(group);
}

void evaluate_test_data(const TrainerFlags& o) {
  if (o.test_data.empty()) return;
  const std::filesystem::path dir(o.checkpoint_dir);
  const std::filesystem::path best = dir / "best.safetensors";
  const std::filesystem::path path = std::filesystem::exists(best) ? best : dir / "last.safetensors";
  const std::unique_ptr<models::TaskModel> model = models::open_checkpoint(path.string());
  const std::string name = data_name(o.test_data);
  models::EvaluateOptions options;
  const models::Evaluation e = model->evaluate(load_data(o.test_data), name, options);
  fmt::print(stderr, "test ({}): {}\n", path.filename().string(), e.summary);
  json record{{"event", "test"}, {"checkpoint", path.filename().string()}, {"data", o.test_data}};
  const json metrics = json::parse(e.json);
  for (const auto& [key, value] : metrics.items()) record["test_" + key] = value;
  train::MetricsLog::in_run_dir(dir).write(record);
}

void add_model_flags(CLI::App& cmd, std::string& model, index_t& rnn_size, int& num_layers,
                     index_t& embedding_size, double& dropout, const std::string& group,
                     const std::vector<std::string>& other_models) {
  std::vector<std::string> models = {"rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_before", "jordan"};
  models.insert(models.end(), other_models.begin(), other_models.end());
  std::string names;
  for (size_t i = 0; i < models.size(); ++i)
    names += (i == 0 ? "" : i + 1 == models.size() ? " or " : ", ") + models[i];
  cmd.add_option("--model", model, names)->check(CLI::IsMember(models))->capture_default_str()->group(group);
  cmd.add_option("--rnn-size", rnn_size, "hidden units per layer")
      ->check(CLI::Range(1, 1 << 16))
      ->capture_default_str()
      ->group(group);
  cmd.add_option("--num-layers", num_layers, "stacked layers")
      ->check(CLI::Range(1, 64))
      ->capture_default_str()
      ->group(group);
  cmd.add_option("--embedding-size", embedding_size, "token embedding size")
      ->check(CLI::Range(1, 1 << 16))
      ->capture_default_str()
      ->group(group);
  cmd.add_option("--dropout", dropout, "dropout between layers and before the output layer")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str()
      ->group(group);
}

std::optional<io::Safetensors> resolve_settings(CLI::App& cmd, TrainerFlags& o, const std::string& task) {
  const std::set<std::string> given = given_options(cmd);
  if (!o.config.empty()) {
    RECUR_REQUIRE(
        o.resume.empty(),
        "--config and --resume cannot be combined: a resumed run takes its settings from the checkpoint");
    apply_settings(cmd, read_config_file(o.config, task), given, o.config);
  }
  if (o.resume.empty()) return std::nullopt;
  io::Safetensors file = io::Safetensors::read_file(o.resume);
  const std::string saved_task = models::checkpoint_task(file);
  RECUR_REQUIRE(saved_task == task, fmt::format("{} is a '{}' run; resume it with recur train {} --resume {}",
                                                o.resume, saved_task, saved_task, o.resume));
  const Settings saved = saved_settings(file);
  const Settings now = current_settings(cmd, {});
  for (const std::string& flag : given) {
    const std::string key = flag.substr(2);
    if (is_one_of(key, kResumable)) continue;
    const Setting* before = find_setting(saved, key);
    const Setting* value = find_setting(now, key);
    RECUR_REQUIRE(
        before != nullptr,
        fmt::format("{} cannot be given with --resume: the run's settings come from {} (only --{} may "
                    "change)",
                    flag, o.resume, fmt::join(kResumable, ", --")));
    RECUR_REQUIRE(
        value && same_value(value->value, before->value),
        fmt::format("{} {} differs from the run's {} in {}: a resumed run keeps its settings (only --{} "
                    "may change; start a new run with --init-from to change others)",
                    flag, value ? value->value : "", before->value, o.resume, fmt::join(kResumable, ", --")));
  }
  Settings applied;
  for (const Setting& s : saved)
    if (s.key != "init-from" && s.key != "config" && s.key != "resume") applied.push_back(s);
  // ignore_unknown: a setting an older recur saved that no flag takes any more.
  apply_settings(cmd, applied, given, fmt::format("the run saved in {}", o.resume), true);
  return file;
}

void check_trainer_flags(const TrainerFlags& o) {
  RECUR_REQUIRE(is_one_of(o.optimizer, kOptimizers), fmt::format("--optimizer must be one of {}, got {}",
                                                                 fmt::join(kOptimizers, ", "), o.optimizer));
  RECUR_REQUIRE(
      is_one_of(o.lr_schedule, kSchedules),
      fmt::format("--lr-schedule must be one of {}, got {}", fmt::join(kSchedules, ", "), o.lr_schedule));
  RECUR_REQUIRE(o.clip_mode == "norm" || o.clip_mode == "value",
                fmt::format("--clip-mode must be norm or value, got {}", o.clip_mode));
  RECUR_REQUIRE(o.progress == "auto" || o.progress == "bar" || o.progress == "log",
                fmt::format("--progress must be auto, bar or log, got {}", o.progress));
}

Settings run_settings(const CLI::App& cmd) {
  return current_settings(cmd, {"--resume", "--config", "--overwrite"});
}

std::unique_ptr<train::Optimizer<float>> make_optimizer(const TrainerFlags& o,
                                                        nn::ParameterTable<float>& params) {
  train::OptimizerOptions options;
  if (o.optimizer == "sgd" || o.optimizer == "momentum") {
    train::SgdOptions s;
    s.lr = o.learning_rate;
    s.momentum = o.optimizer == "momentum" ? o.momentum : 0.0;
    s.weight_decay = o.weight_decay;
    options = s;
  } else if (o.optimizer == "adagrad") {
    train::AdagradOptions a;
    a.lr = o.learning_rate;
    a.weight_decay = o.weight_decay;
    options = a;
  } else if (o.optimizer == "rmsprop") {
    train::RmsPropOptions r;
    r.lr = o.learning_rate;
    r.alpha = o.decay_rate;
    r.weight_decay = o.weight_decay;
    options = r;
  } else if (o.optimizer == "adam") {
    train::AdamOptions a;
    a.lr = o.learning_rate;
    a.weight_decay = o.weight_decay;
    options = a;
  } else {
    train::AdamWOptions w;
    w.lr = o.learning_rate;
    w.weight_decay = o.weight_decay;
    options = w;
  }
  return train::make_optimizer(params, options);
}

std::unique_ptr<train::LrSchedule> make_schedule(const TrainerFlags& o, long total) {
  train::ScheduleOptions options;
  if (o.lr_schedule == "constant") {
    options = train::ConstantOptions{};
  } else if (o.lr_schedule == "char-rnn") {
    train::CharRnnDecayOptions c;
    c.decay = o.learning_rate_decay;
    c.decay_after = o.learning_rate_decay_after;
    options = c;
  } else if (o.lr_schedule == "plateau") {
    train::PlateauOptions p;
    p.factor = o.plateau_factor;
    p.patience = o.plateau_patience;
    p.min_lr = o.min_lr;
    options = p;
  } else {
    train::CosineOptions c;
    c.total_iterations = total;
    c.warmup_iterations = o.warmup_iters;
    c.eta_min = o.min_lr;
    options = c;
  }
  return train::make_schedule(o.learning_rate, options);
}

long total_iterations(const TrainerFlags& o, long batches_per_epoch) {
  const long total = o.max_iters > 0 ? o.max_iters : o.max_epochs * batches_per_epoch;
  RECUR_REQUIRE(total >= 1, "nothing to train: --max-iters and --max-epochs give 0 iterations");
  return total;
}

train::TrainerOptions trainer_options(const TrainerFlags& o, long total, long batches_per_epoch,
                                      const Settings& settings) {
  train::TrainerOptions t;
  t.total_iterations = total;
  t.eval_every = o.eval_val_every > 0 ? o.eval_val_every : batches_per_epoch;
  t.grad_clip = o.grad_clip;
  t.ema_decay = o.ema;
  t.clip_mode = o.clip_mode == "norm" ? train::ClipMode::kNorm : train::ClipMode::kValue;
  t.max_nonfinite_steps = o.max_nonfinite_steps;
  t.checkpoint_dir = o.checkpoint_dir;
  t.progress.mode = o.progress == "bar"   ? train::ProgressOptions::Mode::kTerminal
                    : o.progress == "log" ? train::ProgressOptions::Mode::kLog
                                          : train::ProgressOptions::Mode::kAuto;
  t.progress.log_every = o.log_every;
  json options = json::object();
  for (const Setting& s : settings)
    if (s.key != "init-from") options[s.key] = s.value;
  t.run_settings = options;
  return t;
}

void write_run_config(const TrainerFlags& o, const Settings& settings, const std::string& task) {
  std::filesystem::create_directories(o.checkpoint_dir);
  const std::string text = settings_to_toml(settings, task);
  io::write_file_atomic((std::filesystem::path(o.checkpoint_dir) / "config.toml").string(),
                        std::as_bytes(std::span(text.data(), text.size())));
}

void print_run_summary(const train::Trainer& trainer, const TrainerFlags& o, const std::string& task,
                       const std::string& metric, const std::string& next_command) {
  const std::filesystem::path dir(o.checkpoint_dir);
  if (trainer.interrupted())
    fmt::print(stderr, "interrupted at iteration {}; continue with: recur train {} --resume {}\n",
               trainer.iteration(), task, (dir / "last.safetensors").string());
  if (std::isfinite(trainer.best_value()))
    fmt::print(stderr, "best val {} {:.4f} at iteration {}; {} {}\n", metric, trainer.best_value(),
               trainer.best_iteration(), next_command, (dir / "best.safetensors").string());
  else
    fmt::print(stderr, "no validation data; the model is in {}; {} {}\n", (dir / "last.safetensors").string(),
               next_command, (dir / "last.safetensors").string());
  // A run stopped by a signal exits 128 + the signal (130 for Ctrl-C, 143 for SIGTERM), so that a
  // script tells it from a finished one.
  if (trainer.interrupted()) throw ExitCode{128 + trainer.interrupt_signal()};
}

}  // namespace recur::cli
