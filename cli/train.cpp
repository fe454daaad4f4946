// recur train: a character-level language model on a UTF-8 text, char-rnn's way (B parallel
// streams, chunks of seq_length, the state carried from chunk to chunk), with exact resume.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "recur/autograd/functions.h"
#include "recur/data/ngram.h"
#include "recur/data/text_batches.h"
#include "recur/data/utf8.h"
#include "recur/models/char_lm_checkpoint.h"
#include "recur/threads.h"
#include "recur/train/loss_plot.h"
#include "recur/train/metrics_log.h"
#include "recur/train/optimizer.h"
#include "recur/train/progress.h"
#include "recur/train/schedule.h"

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

// Scales every gradient element into [-limit, limit]; returns the L2 norm before clipping.
float clip_grad_value(nn::ParameterTable<float>& params, float limit) {
  Tensor<float> g = params.flat_grads();
  double sum = 0;
  for (index_t i = 0; i < g.numel(); ++i) {
    sum += double(g[i]) * double(g[i]);
    g[i] = std::clamp(g[i], -limit, limit);
  }
  return static_cast<float>(std::sqrt(sum));
}

std::atomic<bool> g_interrupted{false};
extern "C" void on_interrupt(int) {
  g_interrupted = true;
}

class Trainer {
 public:
  Trainer(TrainOptions options, const CLI::App& command) : o_(std::move(options)) {
    apply_threads(o_.threads);
    load_model(command);
    load_data();
    setup_optimization();
    if (!o_.resume.empty()) restore_training_state();
  }

  void run();

 private:
  void load_model(const CLI::App& command);
  void load_data();
  void setup_optimization();
  void restore_training_state();
  double evaluate_validation();
  void save(const fs::path& path, bool with_training_state);
  void evaluate_and_save(bool final_evaluation);

  TrainOptions o_;
  models::LoadedCharLm resumed_;  // the --resume file (training state)
  std::unique_ptr<models::CharLm<float>> model_;
  data::CharVocab vocab_;
  std::unique_ptr<data::TokenBatches> batches_;
  data::NgramFloors floors_;
  std::unique_ptr<train::Optimizer<float>> optimizer_;
  std::unique_ptr<train::LrSchedule> schedule_;
  Rng dropout_rng_{0};
  long total_iterations_ = 0, iteration_ = 0, best_iteration_ = 0;
  double best_val_ = std::numeric_limits<double>::infinity(),
         last_val_ = std::numeric_limits<double>::quiet_NaN();
  int nonfinite_in_row_ = 0;
  layers::RnnStateValues<float> carry_;  // empty: zeros
  std::unique_ptr<train::ProgressReporter> progress_;
  std::unique_ptr<train::MetricsLog> metrics_;
  std::unique_ptr<train::LossPlot> plot_;
};

void Trainer::load_model(const CLI::App& command) {
  if (!o_.resume.empty()) {
    for (const CLI::Option* opt : command.get_options()) {
      if (opt->count() == 0 || opt->get_name().empty()) continue;
      const std::string name = opt->get_name();
      if (std::find(kResumableFlags.begin(), kResumableFlags.end(), name) == kResumableFlags.end())
        throw Error(
            fmt::format("{} cannot be given with --resume: the run's settings come from {} (only {} may "
                        "change)",
                        name, o_.resume, fmt::join(kResumableFlags, ", ")));
    }
    resumed_ = models::load_char_lm(o_.resume);
    const auto& meta = resumed_.file.metadata();
    RECUR_CHECK(
        meta.count("recur.train"),
        fmt::format("{}: no training state (recur.train) to resume from; --init-from starts a new run "
                    "from its weights",
                    o_.resume));
    TrainOptions given = o_;
    try {
      options_from_json(json::parse(meta.at("recur.train")).at("options"), o_);
    } catch (const json::exception& e) {
      throw Error(fmt::format("{}: recur.train is malformed ({})", o_.resume, e.what()));
    }
    for (const char* flag :
         {"--data", "--max-epochs", "--max-iters", "--eval-val-every", "--checkpoint-dir"}) {
      if (command.get_option(flag)->count() == 0) continue;
      const std::string f = flag;
      if (f == "--data") o_.data = given.data;
      if (f == "--max-epochs") o_.max_epochs = given.max_epochs;
      if (f == "--max-iters") o_.max_iters = given.max_iters;
      if (f == "--eval-val-every") o_.eval_val_every = given.eval_val_every;
      if (f == "--checkpoint-dir") o_.checkpoint_dir = given.checkpoint_dir;
    }
    model_ = std::move(resumed_.model);
    vocab_ = resumed_.vocab;
    return;
  }
  if (!o_.init_from.empty()) {
    models::LoadedCharLm loaded = models::load_char_lm(o_.init_from);
    model_ = std::move(loaded.model);
    vocab_ = loaded.vocab;
  }
}

void Trainer::load_data() {
  const std::string name = o_.data == kBuiltinDataName ? "tinyshakespeare (built in)" : o_.data;
  const std::u32string text = data::decode_utf8(cli::load_data(o_.data), name);
  RECUR_CHECK(!text.empty(), fmt::format("{}: the file is empty", name));
  if (!model_) {
    vocab_ = data::CharVocab::from_text(text);
    models::CharLmConfig c;
    c.model = nn::parse_cell_kind(o_.model);
    c.num_layers = o_.num_layers;
    c.rnn_size = o_.rnn_size;
    c.embedding_size = o_.tied ? o_.rnn_size : o_.embedding_size;
    c.vocab_size = vocab_.size();
    c.dropout = o_.dropout;
    RECUR_CHECK(o_.dropout_mode == "per_step" || o_.dropout_mode == "per_sequence",
                fmt::format("--dropout-mode must be per_step or per_sequence, got {}", o_.dropout_mode));
    c.dropout_mode =
        o_.dropout_mode == "per_step" ? layers::DropoutMode::kPerStep : layers::DropoutMode::kPerSequence;
    c.tied = o_.tied;
    c.validate("model flags");
    model_ = std::make_unique<models::CharLm<float>>(c);
    Rng init_rng(o_.seed);
    model_->init(init_rng);
  }
  const std::vector<std::int32_t> tokens = vocab_.encode(text, name);
  const data::SplitFractions fractions{o_.train_frac, o_.val_frac,
                                       std::max(0.0, 1.0 - o_.train_frac - o_.val_frac)};
  batches_ = std::make_unique<data::TokenBatches>(tokens, o_.batch_size, o_.seq_length, fractions, name);
  const std::vector<std::int32_t> held_out = batches_->split_tokens(data::Split::kVal);
  if (held_out.size() >= 2)
    floors_ = data::ngram_floors(batches_->split_tokens(data::Split::kTrain), held_out, vocab_.size());
  const long n_train = batches_->count(data::Split::kTrain);
  total_iterations_ = o_.max_iters > 0 ? o_.max_iters : o_.max_epochs * n_train;
  RECUR_CHECK(total_iterations_ >= 1, "nothing to train: --max-iters and --max-epochs give 0 iterations");
}

void Trainer::setup_optimization() {
  static const std::vector<std::string> optimizers = {"sgd",     "momentum", "adagrad",
                                                      "rmsprop", "adam",     "adamw"};
  RECUR_CHECK(
      std::find(optimizers.begin(), optimizers.end(), o_.optimizer) != optimizers.end(),
      fmt::format("--optimizer must be one of {}, got {}", fmt::join(optimizers, ", "), o_.optimizer));
  static const std::vector<std::string> schedules = {"constant", "char-rnn", "plateau", "cosine"};
  RECUR_CHECK(
      std::find(schedules.begin(), schedules.end(), o_.lr_schedule) != schedules.end(),
      fmt::format("--lr-schedule must be one of {}, got {}", fmt::join(schedules, ", "), o_.lr_schedule));
  RECUR_CHECK(o_.clip_mode == "norm" || o_.clip_mode == "value",
              fmt::format("--clip-mode must be norm or value, got {}", o_.clip_mode));
  optimizer_ = train::make_optimizer(model_->params(), optimizer_options(o_));
  schedule_ = train::make_schedule(o_.learning_rate, schedule_options(o_, total_iterations_));
  dropout_rng_ = Rng(o_.seed, /*stream=*/1);
}

// What --resume restores beside the weights: counters, RNG, schedule, optimizer state and the
// hidden state carried into the next batch.
void Trainer::restore_training_state() {
  const io::Safetensors& file = resumed_.file;
  const json state = json::parse(file.metadata().at("recur.train"));
  try {
    iteration_ = state.at("iteration").get<long>();
    best_val_ = state.at("best_val_loss").is_null() ? std::numeric_limits<double>::infinity()
                                                    : state.at("best_val_loss").get<double>();
    best_iteration_ = state.at("best_iteration").get<long>();
    nonfinite_in_row_ = state.at("nonfinite_in_row").get<int>();
    const json& r = state.at("rng");
    Rng::State rs;
    rs.state = std::stoull(r.at("state").get<std::string>());
    rs.increment = std::stoull(r.at("increment").get<std::string>());
    rs.has_spare = r.at("has_spare").get<bool>();
    rs.spare = r.at("spare").get<double>();
    dropout_rng_.set_state(rs);
    train::ScheduleState ss;
    for (const auto& [k, v] : state.at("schedule").items()) ss.emplace_back(k, v.get<double>());
    schedule_->load_state(ss);
    RECUR_CHECK(state.at("optimizer").get<std::string>() == optimizer_->name(),
                fmt::format("{}: saved optimizer {} differs from {}", file.source(),
                            state.at("optimizer").get<std::string>(), optimizer_->name()));
    train::OptimizerState<float> os;
    for (const std::string& name : file.names())
      if (name.rfind("train.optimizer.", 0) == 0) os.emplace_back(name.substr(16), file.get<float>(name));
    optimizer_->load_state(os, state.at("optimizer_steps").get<long>());
    const index_t entries = state.at("carried_states").get<index_t>();
    for (index_t e = 0; e < entries; ++e) {
      carry_.h.push_back(file.get<float>(fmt::format("train.carry.h.{}", e)));
      if (file.contains(fmt::format("train.carry.c.{}", e)))
        carry_.c.push_back(file.get<float>(fmt::format("train.carry.c.{}", e)));
    }
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: recur.train is malformed ({})", file.source(), e.what()));
  }
  RECUR_CHECK(iteration_ <= total_iterations_,
              fmt::format("{} is at iteration {}, past the target of {} (raise --max-iters or --max-epochs)",
                          file.source(), iteration_, total_iterations_));
}

void Trainer::save(const fs::path& path, bool with_training_state) {
  io::Safetensors file = models::char_lm_file(*model_, vocab_);
  json info{{"iteration", iteration_},
            {"epoch", double(iteration_) / double(batches_->count(data::Split::kTrain))},
            {"tokens", iteration_ * batches_->tokens_per_batch()},
            {"best_val_loss", std::isfinite(best_val_) ? json(best_val_) : json(nullptr)},
            {"best_iteration", best_iteration_}};
  if (with_training_state) {
    const Rng::State rs = dropout_rng_.state();
    info["nonfinite_in_row"] = nonfinite_in_row_;
    info["rng"] = json{{"state", std::to_string(rs.state)},
                       {"increment", std::to_string(rs.increment)},
                       {"has_spare", rs.has_spare},
                       {"spare", rs.spare}};
    json schedule = json::object();
    for (const auto& [k, v] : schedule_->state()) schedule[k] = v;
    info["schedule"] = schedule;
    info["optimizer"] = optimizer_->name();
    info["optimizer_steps"] = optimizer_->steps();
    info["carried_states"] = carry_.h.size();
    info["options"] = options_to_json(o_);
    for (const auto& [name, tensor] : optimizer_->state()) file.add("train.optimizer." + name, tensor);
    for (size_t e = 0; e < carry_.h.size(); ++e) {
      file.add(fmt::format("train.carry.h.{}", e), carry_.h[e]);
      if (e < carry_.c.size()) file.add(fmt::format("train.carry.c.{}", e), carry_.c[e]);
    }
    file.metadata()["recur.train"] = info.dump();
  } else {
    file.metadata()["recur.best"] = info.dump();
  }
  file.write_file(path.string());
}

// Mean loss over the validation batches, the state carried from zeros across them (char-rnn).
double Trainer::evaluate_validation() {
  const index_t n = batches_->count(data::Split::kVal);
  double total = 0;
  layers::RnnStateValues<float> state;
  for (index_t i = 0; i < n; ++i) {
    const data::TokenBatch batch = batches_->get(data::Split::kVal, i);
    ag::Tape<float> tape;
    ag::NoGrad<float> no_grad(tape);
    const auto out =
        model_->forward(tape, batch.inputs, batch.T, batch.B, layers::constants(tape, state), false, nullptr);
    total += ag::cross_entropy(out.logits, batch.targets).item();
    state = layers::values_of(out.state);
  }
  return total / static_cast<double>(n);
}

void Trainer::evaluate_and_save(bool final_evaluation) {
  const fs::path dir(o_.checkpoint_dir);
  const bool has_val = batches_->count(data::Split::kVal) > 0;
  const std::int64_t tokens = iteration_ * batches_->tokens_per_batch();
  std::string note;
  if (has_val) {
    last_val_ = evaluate_validation();
    // Only scheduled evaluations drive the schedule, so a run stopped early and resumed sees the
    // same schedule events as one trained straight through.
    if (!final_evaluation || iteration_ % o_.eval_val_every == 0) schedule_->on_validation(last_val_);
    progress_->set_val_loss(last_val_);
    plot_->add_val(static_cast<double>(tokens), last_val_);
    metrics_->write(
        json{{"event", "val"}, {"iteration", iteration_}, {"tokens", tokens}, {"val_loss", last_val_}});
    if (last_val_ < best_val_) {
      best_val_ = last_val_;
      best_iteration_ = iteration_;
      save(dir / "best.safetensors", false);
      note = " (best, saved best.safetensors)";
    }
  }
  // Never overwrite the last good checkpoint with a diverged model.
  const Tensor<float> values = model_->params().flat_values();
  bool finite = !has_val || std::isfinite(last_val_);
  for (index_t i = 0; finite && i < values.numel(); ++i) finite = std::isfinite(values[i]);
  if (finite)
    save(dir / "last.safetensors", true);
  else
    note += "; the model is not finite: last.safetensors not overwritten";
  plot_->write_svg(dir / "loss.svg");
  progress_->message(
      fmt::format("iteration {}/{}: val loss {:.4f}{}", iteration_, total_iterations_, last_val_, note));
}

void Trainer::run() {
  const fs::path dir(o_.checkpoint_dir);
  fs::create_directories(dir);
  const long n_train = batches_->count(data::Split::kTrain);
  const index_t B = o_.batch_size, T = o_.seq_length;
  metrics_ = std::make_unique<train::MetricsLog>(train::MetricsLog::in_run_dir(dir));
  plot_ = std::make_unique<train::LossPlot>(
      fmt::format("{} {}×{} on {}", nn::cell_name(model_->config().model), model_->config().num_layers,
                  model_->config().rnn_size, o_.data));
  plot_->add_reference_line(floors_.unigram, "unigram");
  plot_->add_reference_line(floors_.bigram, "bigram");
  train::ProgressOptions po;
  po.mode = o_.progress == "bar"   ? train::ProgressOptions::Mode::kTerminal
            : o_.progress == "log" ? train::ProgressOptions::Mode::kLog
                                   : train::ProgressOptions::Mode::kAuto;
  po.total_iterations = total_iterations_;
  po.total_epochs = double(total_iterations_) / double(n_train);
  po.log_every = o_.log_every;
  progress_ = std::make_unique<train::ProgressReporter>(po);

  const models::CharLmConfig& c = model_->config();
  progress_->message(fmt::format("data {}: vocabulary {}, batches train {} / val {} / test {} of {}×{}",
                                 o_.data, vocab_.size(), n_train, batches_->count(data::Split::kVal),
                                 batches_->count(data::Split::kTest), B, T));
  progress_->message(fmt::format("model {} × {} layers × {} (embedding {}{}), {} parameters; {} threads",
                                 nn::cell_name(c.model), c.num_layers, c.rnn_size, c.embedding_size,
                                 c.tied ? ", tied" : "", model_->params().numel(), num_threads()));
  progress_->message(fmt::format(
      "optimizer {} lr {} ({}), clip {} {}; floors: unigram {:.3f}, bigram {:.3f} nats", optimizer_->name(),
      o_.learning_rate, schedule_->describe(), o_.clip_mode, o_.grad_clip, floors_.unigram, floors_.bigram));
  if (iteration_ > 0) progress_->message(fmt::format("resuming at iteration {}", iteration_));

  g_interrupted = false;
  const auto previous_handler = std::signal(SIGINT, on_interrupt);
  nn::ParameterTable<float>& params = model_->params();
  while (iteration_ < total_iterations_ && !g_interrupted) {
    const index_t j = iteration_ % n_train;
    if (j == 0) carry_ = {};  // each epoch starts its streams from zero states
    const data::TokenBatch batch = batches_->get(data::Split::kTrain, j);
    params.zero_grad();
    ag::Tape<float> tape;
    const auto out =
        model_->forward(tape, batch.inputs, T, B, layers::constants(tape, carry_), true, &dropout_rng_);
    const ag::Var<float> loss = ag::cross_entropy(out.logits, batch.targets);
    tape.backward(loss);
    const auto clip = static_cast<float>(o_.grad_clip);
    const float grad_norm =
        o_.clip_mode == "norm" ? train::clip_grad_norm(params, clip) : clip_grad_value(params, clip);
    const double loss_value = loss.item();
    ++iteration_;
    if (!std::isfinite(loss_value) || !std::isfinite(grad_norm)) {
      ++nonfinite_in_row_;
      carry_ = {};
      progress_->message(
          fmt::format("warning: iteration {}: loss {} / gradient norm {} is not finite; step skipped "
                      "({} in a row)",
                      iteration_, loss_value, grad_norm, nonfinite_in_row_));
      if (nonfinite_in_row_ >= o_.max_nonfinite_steps) {
        std::signal(SIGINT, previous_handler);
        throw Error(
            fmt::format("stopping: {} non-finite steps in a row (lower --learning-rate or --grad-clip?); "
                        "the last good checkpoint {} is intact",
                        nonfinite_in_row_, (dir / "last.safetensors").string()));
      }
    } else {
      nonfinite_in_row_ = 0;
      optimizer_->set_learning_rate(static_cast<float>(schedule_->learning_rate()));
      optimizer_->step();
      schedule_->on_step();
      carry_ = layers::values_of(out.state);
    }
    const std::int64_t tokens = iteration_ * batches_->tokens_per_batch();
    progress_->update({iteration_, double(iteration_) / double(n_train), tokens, loss_value});
    metrics_->write(json{{"event", "train"},
                         {"iteration", iteration_},
                         {"epoch", double(iteration_) / double(n_train)},
                         {"tokens", tokens},
                         {"loss", loss_value},
                         {"grad_norm", grad_norm},
                         {"lr", optimizer_->learning_rate()}});
    if (std::isfinite(loss_value)) plot_->add_train(static_cast<double>(tokens), loss_value);
    if (iteration_ % n_train == 0) schedule_->on_epoch_end();
    const bool last = iteration_ == total_iterations_ || g_interrupted;
    if (iteration_ % o_.eval_val_every == 0 || last) evaluate_and_save(iteration_ % o_.eval_val_every != 0);
  }
  std::signal(SIGINT, previous_handler);
  progress_->finish();
  if (g_interrupted)
    fmt::print(stderr, "interrupted at iteration {}; continue with: recur train --resume {}\n", iteration_,
               (dir / "last.safetensors").string());
  fmt::print(stderr, "best val loss {:.4f} at iteration {} ({}); sample with: recur sample {}\n", best_val_,
             best_iteration_, (dir / "best.safetensors").string(), (dir / "best.safetensors").string());
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
  cmd->callback([options, cmd] {
    Trainer trainer(*options, *cmd);
    trainer.run();
  });
}

}  // namespace recur::cli
