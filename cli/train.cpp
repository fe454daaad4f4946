// recur train: a character-level language model on a UTF-8 text, char-rnn's way (B parallel
// streams, chunks of seq_length, the state carried from chunk to chunk), with exact resume.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "commands.h"
#include "recur/autograd/functions.h"
#include "recur/data/ngram.h"
#include "recur/data/text_batches.h"
#include "recur/data/tokenize.h"
#include "recur/models/char_lm_checkpoint.h"
#include "recur/models/char_lm_task.h"
#include "recur/threads.h"
#include "recur/train/optimizer.h"
#include "recur/train/schedule.h"
#include "recur/train/trainer.h"

namespace recur::cli {

namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

struct TrainOptions {
  std::string data = kBuiltinDataName;
  // model
  std::string model = "lstm";
  index_t rnn_size = 128;
  int num_layers = 2;
  index_t embedding_size = 64;
  bool tied = false;
  double dropout = 0.0;
  std::string dropout_mode = "per_step";
  // data
  index_t seq_length = 50;
  index_t batch_size = 50;
  double train_frac = 0.95;
  double val_frac = 0.05;
  // optimization
  std::string optimizer = "rmsprop";
  double learning_rate = 2e-3;
  double decay_rate = 0.95;  // RMSprop's alpha (char-rnn's name)
  double momentum = 0.9;     // for --optimizer momentum
  double weight_decay = 0.0;
  double grad_clip = 5.0;
  std::string clip_mode = "norm";
  std::string lr_schedule = "char-rnn";
  double learning_rate_decay = 0.97;
  int learning_rate_decay_after = 10;
  double plateau_factor = 0.5;
  int plateau_patience = 1;
  long warmup_iters = 0;
  double min_lr = 0.0;
  // run
  int max_epochs = 50;
  long max_iters = 0;
  long eval_val_every = 1000;
  std::uint64_t seed = 123;
  std::string checkpoint_dir = "cv";
  int max_nonfinite_steps = 10;
  // not saved
  std::string init_from, resume, progress = "auto";
  long log_every = 100;
  int threads = 0;
};

// Everything that defines the training run, saved in recur.train so --resume continues it.
json options_to_json(const TrainOptions& o) {
  return json{{"data", o.data},
              {"seq_length", o.seq_length},
              {"batch_size", o.batch_size},
              {"train_frac", o.train_frac},
              {"val_frac", o.val_frac},
              {"optimizer", o.optimizer},
              {"learning_rate", o.learning_rate},
              {"decay_rate", o.decay_rate},
              {"momentum", o.momentum},
              {"weight_decay", o.weight_decay},
              {"grad_clip", o.grad_clip},
              {"clip_mode", o.clip_mode},
              {"lr_schedule", o.lr_schedule},
              {"learning_rate_decay", o.learning_rate_decay},
              {"learning_rate_decay_after", o.learning_rate_decay_after},
              {"plateau_factor", o.plateau_factor},
              {"plateau_patience", o.plateau_patience},
              {"warmup_iters", o.warmup_iters},
              {"min_lr", o.min_lr},
              {"max_epochs", o.max_epochs},
              {"max_iters", o.max_iters},
              {"eval_val_every", o.eval_val_every},
              {"seed", std::to_string(o.seed)},
              {"checkpoint_dir", o.checkpoint_dir},
              {"max_nonfinite_steps", o.max_nonfinite_steps}};
}

void options_from_json(const json& j, TrainOptions& o) {
  j.at("data").get_to(o.data);
  j.at("seq_length").get_to(o.seq_length);
  j.at("batch_size").get_to(o.batch_size);
  j.at("train_frac").get_to(o.train_frac);
  j.at("val_frac").get_to(o.val_frac);
  j.at("optimizer").get_to(o.optimizer);
  j.at("learning_rate").get_to(o.learning_rate);
  j.at("decay_rate").get_to(o.decay_rate);
  j.at("momentum").get_to(o.momentum);
  j.at("weight_decay").get_to(o.weight_decay);
  j.at("grad_clip").get_to(o.grad_clip);
  j.at("clip_mode").get_to(o.clip_mode);
  j.at("lr_schedule").get_to(o.lr_schedule);
  j.at("learning_rate_decay").get_to(o.learning_rate_decay);
  j.at("learning_rate_decay_after").get_to(o.learning_rate_decay_after);
  j.at("plateau_factor").get_to(o.plateau_factor);
  j.at("plateau_patience").get_to(o.plateau_patience);
  j.at("warmup_iters").get_to(o.warmup_iters);
  j.at("min_lr").get_to(o.min_lr);
  j.at("max_epochs").get_to(o.max_epochs);
  j.at("max_iters").get_to(o.max_iters);
  j.at("eval_val_every").get_to(o.eval_val_every);
  o.seed = std::stoull(j.at("seed").get<std::string>());
  j.at("checkpoint_dir").get_to(o.checkpoint_dir);
  j.at("max_nonfinite_steps").get_to(o.max_nonfinite_steps);
}

// Flags --resume may change; every other training flag is fixed by the checkpoint.
const std::vector<std::string> kResumableFlags = {"--data",           "--max-epochs",     "--max-iters",
                                                  "--eval-val-every", "--threads",        "--progress",
                                                  "--log-every",      "--checkpoint-dir", "--resume"};

train::OptimizerOptions optimizer_options(const TrainOptions& o) {
  if (o.optimizer == "sgd" || o.optimizer == "momentum") {
    train::SgdOptions s;
    s.lr = o.learning_rate;
    s.momentum = o.optimizer == "momentum" ? o.momentum : 0.0;
    s.weight_decay = o.weight_decay;
    return s;
  }
  if (o.optimizer == "adagrad") {
    train::AdagradOptions a;
    a.lr = o.learning_rate;
    a.weight_decay = o.weight_decay;
    return a;
  }
  if (o.optimizer == "rmsprop") {
    train::RmsPropOptions r;
    r.lr = o.learning_rate;
    r.alpha = o.decay_rate;
    r.weight_decay = o.weight_decay;
    return r;
  }
  if (o.optimizer == "adam") {
    train::AdamOptions a;
    a.lr = o.learning_rate;
    a.weight_decay = o.weight_decay;
    return a;
  }
  train::AdamWOptions w;
  w.lr = o.learning_rate;
  w.weight_decay = o.weight_decay;
  return w;
}

train::ScheduleOptions schedule_options(const TrainOptions& o, long total_iterations) {
  if (o.lr_schedule == "constant") return train::ConstantOptions{};
  if (o.lr_schedule == "char-rnn") {
    train::CharRnnDecayOptions c;
    c.decay = o.learning_rate_decay;
    c.decay_after = o.learning_rate_decay_after;
    return c;
  }
  if (o.lr_schedule == "plateau") {
    train::PlateauOptions p;
    p.factor = o.plateau_factor;
    p.patience = o.plateau_patience;
    p.min_lr = o.min_lr;
    return p;
  }
  train::CosineOptions c;
  c.total_iterations = total_iterations;
  c.warmup_iterations = o.warmup_iters;
  c.eta_min = o.min_lr;
  return c;
}

// The run's model, vocabulary and (for --resume) saved file, from a checkpoint or from the flags.
struct Setup {
  std::unique_ptr<models::CharLm<float>> model;
  data::Vocab vocab;
  std::optional<io::Safetensors> resume_file;
};

// --resume: the run's settings come from the checkpoint; only kResumableFlags may be given.
Setup load_checkpoint(TrainOptions& o, const CLI::App& command) {
  Setup setup;
  if (!o.resume.empty()) {
    for (const CLI::Option* opt : command.get_options()) {
      if (opt->count() == 0 || opt->get_name().empty()) continue;
      const std::string name = opt->get_name();
      if (std::find(kResumableFlags.begin(), kResumableFlags.end(), name) == kResumableFlags.end())
        throw Error(
            fmt::format("{} cannot be given with --resume: the run's settings come from {} (only {} may "
                        "change)",
                        name, o.resume, fmt::join(kResumableFlags, ", ")));
    }
    models::LoadedCharLm loaded = models::load_char_lm(o.resume);
    const auto& meta = loaded.file.metadata();
    RECUR_CHECK(
        meta.count("recur.train"),
        fmt::format("{}: no training state (recur.train) to resume from; --init-from starts a new run "
                    "from its weights",
                    o.resume));
    const TrainOptions given = o;
    try {
      options_from_json(json::parse(meta.at("recur.train")).at("options"), o);
    } catch (const json::exception& e) {
      throw Error(fmt::format("{}: recur.train is malformed ({})", o.resume, e.what()));
    }
    const auto given_flag = [&](const char* flag) { return command.get_option(flag)->count() > 0; };
    if (given_flag("--data")) o.data = given.data;
    if (given_flag("--max-epochs")) o.max_epochs = given.max_epochs;
    if (given_flag("--max-iters")) o.max_iters = given.max_iters;
    if (given_flag("--eval-val-every")) o.eval_val_every = given.eval_val_every;
    if (given_flag("--checkpoint-dir")) o.checkpoint_dir = given.checkpoint_dir;
    setup.model = std::move(loaded.model);
    setup.vocab = loaded.vocab;
    setup.resume_file = std::move(loaded.file);
  } else if (!o.init_from.empty()) {
    models::LoadedCharLm loaded = models::load_char_lm(o.init_from);
    setup.model = std::move(loaded.model);
    setup.vocab = loaded.vocab;
  }
  return setup;
}

std::unique_ptr<models::CharLm<float>> new_model(const TrainOptions& o, const data::Vocab& vocab) {
  models::CharLmConfig c;
  c.model = nn::parse_cell_kind(o.model);
  c.num_layers = o.num_layers;
  c.rnn_size = o.rnn_size;
  c.embedding_size = o.tied ? o.rnn_size : o.embedding_size;
  c.vocab_size = vocab.size();
  c.dropout = o.dropout;
  RECUR_CHECK(o.dropout_mode == "per_step" || o.dropout_mode == "per_sequence",
              fmt::format("--dropout-mode must be per_step or per_sequence, got {}", o.dropout_mode));
  c.dropout_mode =
      o.dropout_mode == "per_step" ? layers::DropoutMode::kPerStep : layers::DropoutMode::kPerSequence;
  c.tied = o.tied;
  c.validate("model flags");
  auto model = std::make_unique<models::CharLm<float>>(c);
  Rng init_rng(o.seed);
  model->init(init_rng);
  return model;
}

void check_choices(const TrainOptions& o) {
  static const std::vector<std::string> optimizers = {"sgd",     "momentum", "adagrad",
                                                      "rmsprop", "adam",     "adamw"};
  RECUR_CHECK(std::find(optimizers.begin(), optimizers.end(), o.optimizer) != optimizers.end(),
              fmt::format("--optimizer must be one of {}, got {}", fmt::join(optimizers, ", "), o.optimizer));
  static const std::vector<std::string> schedules = {"constant", "char-rnn", "plateau", "cosine"};
  RECUR_CHECK(
      std::find(schedules.begin(), schedules.end(), o.lr_schedule) != schedules.end(),
      fmt::format("--lr-schedule must be one of {}, got {}", fmt::join(schedules, ", "), o.lr_schedule));
  RECUR_CHECK(o.clip_mode == "norm" || o.clip_mode == "value",
              fmt::format("--clip-mode must be norm or value, got {}", o.clip_mode));
  RECUR_CHECK(o.progress == "auto" || o.progress == "bar" || o.progress == "log",
              fmt::format("--progress must be auto, bar or log, got {}", o.progress));
}

void run_training(TrainOptions o, const CLI::App& command) {
  apply_threads(o.threads);
  Setup setup = load_checkpoint(o, command);
  check_choices(o);

  const std::string name = o.data == kBuiltinDataName ? "tinyshakespeare (built in)" : o.data;
  const std::vector<std::string> text = data::tokenize(load_data(o.data), data::TokenKind::kChar, name);
  RECUR_REQUIRE(!text.empty(), fmt::format("{}: the file is empty", name));
  if (!setup.model) {
    setup.vocab = data::Vocab::build(data::TokenKind::kChar, data::count_tokens(text), {});
    setup.model = new_model(o, setup.vocab);
  }
  models::CharLm<float>& model = *setup.model;
  const std::vector<std::int32_t> tokens = setup.vocab.encode(text, name);
  const data::SplitFractions fractions{o.train_frac, o.val_frac,
                                       std::max(0.0, 1.0 - o.train_frac - o.val_frac)};
  const data::TokenBatches batches(tokens, o.batch_size, o.seq_length, fractions, name);
  const long n_train = batches.count(data::Split::kTrain);
  const long total = o.max_iters > 0 ? o.max_iters : o.max_epochs * n_train;
  RECUR_CHECK(total >= 1, "nothing to train: --max-iters and --max-epochs give 0 iterations");
  data::NgramFloors floors;
  const std::vector<std::int32_t> held_out = batches.split_tokens(data::Split::kVal);
  if (held_out.size() >= 2)
    floors = data::ngram_floors(batches.split_tokens(data::Split::kTrain), held_out, setup.vocab.size());

  const auto optimizer = train::make_optimizer(model.params(), optimizer_options(o));
  const auto schedule = train::make_schedule(o.learning_rate, schedule_options(o, total));
  Rng rng(o.seed, /*stream=*/1);  // dropout
  models::CharLmTask task(model, setup.vocab, batches);

  train::TrainerOptions t;
  t.total_iterations = total;
  t.eval_every = o.eval_val_every;
  t.grad_clip = o.grad_clip;
  t.clip_mode = o.clip_mode == "norm" ? train::ClipMode::kNorm : train::ClipMode::kValue;
  t.max_nonfinite_steps = o.max_nonfinite_steps;
  t.checkpoint_dir = o.checkpoint_dir;
  t.progress.mode = o.progress == "bar"   ? train::ProgressOptions::Mode::kTerminal
                    : o.progress == "log" ? train::ProgressOptions::Mode::kLog
                                          : train::ProgressOptions::Mode::kAuto;
  t.progress.log_every = o.log_every;
  const models::CharLmConfig& c = model.config();
  t.plot_title = fmt::format("{} {}×{} on {}", nn::cell_name(c.model), c.num_layers, c.rnn_size, o.data);
  if (held_out.size() >= 2) t.reference_lines = {{floors.unigram, "unigram"}, {floors.bigram, "bigram"}};
  t.run_settings = options_to_json(o);
  train::Trainer trainer(task, *optimizer, *schedule, rng, std::move(t));
  if (setup.resume_file) trainer.restore(*setup.resume_file);

  trainer.message(fmt::format("data {}: vocabulary {}, batches train {} / val {} / test {} of {}×{}", o.data,
                              setup.vocab.size(), n_train, batches.count(data::Split::kVal),
                              batches.count(data::Split::kTest), o.batch_size, o.seq_length));
  trainer.message(fmt::format("model {} × {} layers × {} (embedding {}{}), {} parameters; {} threads",
                              nn::cell_name(c.model), c.num_layers, c.rnn_size, c.embedding_size,
                              c.tied ? ", tied" : "", model.params().numel(), num_threads()));
  trainer.message(fmt::format("optimizer {} ({}), clip {} {}; floors: unigram {:.3f}, bigram {:.3f} nats",
                              optimizer->describe(), schedule->describe(), o.clip_mode, o.grad_clip,
                              floors.unigram, floors.bigram));
  trainer.run();

  const fs::path dir(o.checkpoint_dir);
  if (trainer.interrupted())
    fmt::print(stderr, "interrupted at iteration {}; continue with: recur train --resume {}\n",
               trainer.iteration(), (dir / "last.safetensors").string());
  fmt::print(stderr, "best val loss {:.4f} at iteration {}; sample with: recur sample {}\n",
             trainer.best_value(), trainer.best_iteration(), (dir / "best.safetensors").string());
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto options = std::make_shared<TrainOptions>();
  TrainOptions& o = *options;
  CLI::App* cmd = app.add_subcommand("train", "train a character-level language model on a UTF-8 text file");
  cmd->add_option("--data", o.data, "UTF-8 text file, or 'tinyshakespeare' for the built-in text")
      ->capture_default_str();
  cmd->add_option("--model", o.model, "rnn_tanh, rnn_relu, lstm, gru, gru_reset_before or jordan")
      ->capture_default_str();
  cmd->add_option("--rnn-size", o.rnn_size, "hidden units per layer")
      ->check(CLI::Range(1, 1 << 16))
      ->capture_default_str();
  cmd->add_option("--num-layers", o.num_layers, "stacked layers")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--embedding-size", o.embedding_size, "character embedding size")
      ->check(CLI::Range(1, 1 << 16))
      ->capture_default_str();
  cmd->add_flag("--tied", o.tied, "tie the decoder to the embedding (embedding size = rnn size)");
  cmd->add_option("--dropout", o.dropout, "dropout between layers and before the decoder")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  cmd->add_option("--dropout-mode", o.dropout_mode, "per_step or per_sequence (variational)")
      ->capture_default_str();
  cmd->add_option("--seq-length", o.seq_length, "steps per chunk (truncated BPTT)")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--batch-size", o.batch_size, "parallel streams")
      ->check(CLI::Range(1, 1 << 16))
      ->capture_default_str();
  cmd->add_option("--train-frac", o.train_frac, "fraction of batches for training")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--val-frac", o.val_frac, "fraction for validation (the rest is test)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--optimizer", o.optimizer, "sgd, momentum, adagrad, rmsprop, adam or adamw")
      ->capture_default_str();
  cmd->add_option("--learning-rate", o.learning_rate, "initial learning rate")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--decay-rate", o.decay_rate, "RMSprop's smoothing constant (alpha)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--momentum", o.momentum, "momentum for --optimizer momentum")->capture_default_str();
  cmd->add_option("--weight-decay", o.weight_decay, "L2 (decoupled for adamw)")->capture_default_str();
  cmd->add_option("--grad-clip", o.grad_clip, "gradient clipping threshold")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--clip-mode", o.clip_mode, "norm (global L2 norm) or value (each element)")
      ->capture_default_str();
  cmd->add_option("--lr-schedule", o.lr_schedule, "constant, char-rnn, plateau or cosine")
      ->capture_default_str();
  cmd->add_option("--learning-rate-decay", o.learning_rate_decay,
                  "char-rnn: factor per epoch after the start epoch")
      ->capture_default_str();
  cmd->add_option("--learning-rate-decay-after", o.learning_rate_decay_after,
                  "char-rnn: first epoch that decays")
      ->capture_default_str();
  cmd->add_option("--plateau-factor", o.plateau_factor, "plateau: factor on each plateau")
      ->capture_default_str();
  cmd->add_option("--plateau-patience", o.plateau_patience, "plateau: evaluations without improvement")
      ->capture_default_str();
  cmd->add_option("--warmup-iters", o.warmup_iters, "cosine: linear warmup iterations")
      ->capture_default_str();
  cmd->add_option("--min-lr", o.min_lr, "cosine / plateau: lowest learning rate")->capture_default_str();
  cmd->add_option("--max-epochs", o.max_epochs, "passes over the training split")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--max-iters", o.max_iters, "optimizer steps; overrides --max-epochs when > 0")
      ->check(CLI::Range(0L, 1L << 40))
      ->capture_default_str();
  cmd->add_option("--eval-val-every", o.eval_val_every, "iterations between validations and checkpoints")
      ->check(CLI::Range(1L, 1L << 40))
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "random seed (initialization, dropout)")->capture_default_str();
  cmd->add_option("--checkpoint-dir", o.checkpoint_dir,
                  "best.safetensors, last.safetensors, metrics.jsonl, loss.svg")
      ->capture_default_str();
  cmd->add_option("--max-nonfinite-steps", o.max_nonfinite_steps,
                  "stop after this many non-finite steps in a row")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--init-from", o.init_from,
                  "start from a checkpoint's weights (model and vocabulary from it)");
  cmd->add_option("--resume", o.resume, "continue a run from its last.safetensors, exactly");
  cmd->add_option("--progress", o.progress, "auto, bar or log")->capture_default_str();
  cmd->add_option("--log-every", o.log_every, "iterations between log lines (log mode)")
      ->check(CLI::Range(1L, 1L << 40))
      ->capture_default_str();
  add_threads_option(*cmd, o.threads);
  cmd->get_option("--init-from")->excludes(cmd->get_option("--resume"));
  cmd->callback([options, cmd] { run_training(*options, *cmd); });
}

}  // namespace recur::cli
