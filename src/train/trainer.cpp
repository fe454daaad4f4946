#include "recur/train/trainer.h"

#include <fmt/format.h>

#include <signal.h>
#include <atomic>
#include <charconv>
#include <cmath>
#include <csignal>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <vector>

#include "recur/io/parameters_io.h"
#include "recur/threads.h"
#include "recur/train/loss_plot.h"
#include "recur/train/metrics_log.h"

namespace recur::train {

namespace {

using json = nlohmann::ordered_json;

// The signal that asks the run to stop (0: none). SIGINT is Ctrl-C; SIGTERM and SIGHUP are how
// Docker, systemd, Slurm and a closed terminal stop a job: all three finish the iteration, save
// and end the run.
std::atomic<int> g_interrupted{0};
extern "C" void on_interrupt(int signal) {
  g_interrupted = signal;
}
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

// Installs on_interrupt for the stop signals while a run trains, and restores the previous
// handlers however run() exits.
//
// The handler runs on a stack of its own (sigaltstack, SA_ONSTACK): a signal frame pushed onto the
// interrupted stack corrupted oneDNN's JIT GEMM kernels, which keep data below the stack pointer
// (1 Ctrl-C in 5 ended in "corrupted size vs. prev_size" inside dnnl_sgemm). A kill or a terminal's
// Ctrl-C goes to the main thread, which trains. SA_RESTART: a signal does not fail a write with EINTR.
class InterruptGuard {
 public:
  InterruptGuard() : stack_(kStackBytes) {
    g_interrupted = 0;
    stack_t alternate{};
    alternate.ss_sp = stack_.data();
    alternate.ss_size = stack_.size();
    has_stack_ = sigaltstack(&alternate, &previous_stack_) == 0;
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART | (has_stack_ ? SA_ONSTACK : 0);
    for (size_t i = 0; i < std::size(kStopSignals); ++i) sigaction(kStopSignals[i], &action, &previous_[i]);
  }
  ~InterruptGuard() {
    for (size_t i = 0; i < std::size(kStopSignals); ++i) sigaction(kStopSignals[i], &previous_[i], nullptr);
    if (has_stack_) sigaltstack(&previous_stack_, nullptr);
  }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  static constexpr size_t kStackBytes = 64 * 1024;  // > SIGSTKSZ; the handler stores one int
  std::vector<char> stack_;
  bool has_stack_ = false;
  stack_t previous_stack_{};
  struct sigaction previous_[std::size(kStopSignals)]{};
};

// The number under `key` in a metrics record, if it has one.
std::optional<double> number(const nlohmann::json& record, const char* key) {
  const auto it = record.find(key);
  if (it == record.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

// Puts the curve a resumed run has behind it on `plot`: the train and val records of the run's
// metrics log (truncated to the checkpoint's iteration first).
void replay_curve(const std::vector<nlohmann::json>& records, LossPlot& plot) {
  for (const nlohmann::json& record : records) {
    const auto event = record.find("event");
    if (event == record.end() || (*event != "train" && *event != "val")) continue;
    const std::optional<double> tokens = number(record, "tokens");
    const std::optional<double> loss = number(record, *event == "train" ? "loss" : "val_loss");
    if (!tokens || !loss || !std::isfinite(*loss)) continue;
    if (*event == "val")
      plot.add_val(*tokens, *loss);
    else
      plot.add_train(*tokens, *loss);
  }
}

std::string new_run_id() {
  std::random_device device;
  const std::uint64_t id = (std::uint64_t(device()) << 32) ^ device();
  return fmt::format("{:016x}", id);
}

// last.safetensors of a run that averages its weights: the raw weights, flat in the parameter
// table's order, beside the average (the model's tensors).
constexpr const char* kRawWeights = "train.ema.raw";

bool is_run_id(const std::string& id) {
  return id.size() == 16 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

bool all_finite(const Tensor<float>& t) {
  for (index_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(t[i])) return false;
  return true;
}

}  // namespace

std::optional<std::string> run_id_of(const io::Safetensors& file) {
  for (const char* key : {"recur.train", "recur.best"}) {
    const auto it = file.metadata().find(key);
    if (it == file.metadata().end()) continue;
    const json info = json::parse(it->second, nullptr, /*allow_exceptions=*/false);
    if (!info.is_object() || !info.contains("run") || !info["run"].is_string()) return std::nullopt;
    const std::string id = info["run"].get<std::string>();
    return is_run_id(id) ? std::optional<std::string>(id) : std::nullopt;
  }
  return std::nullopt;
}

float clip_grad_value(nn::ParameterTable<float>& params, float limit) {
  const double norm = grad_norm(params);
  float* g = params.flat_grads().data();
  parallel_for(params.flat_grads().numel(), index_t(1) << 15, [&](index_t begin, index_t end) {
    for (index_t i = begin; i < end; ++i) g[i] = std::clamp(g[i], -limit, limit);
  });
  return static_cast<float>(norm);
}

Trainer::Trainer(TrainingTask& task, Optimizer<float>& optimizer, LrSchedule& schedule, Rng& rng,
                 TrainerOptions options)
    : task_(task),
      optimizer_(optimizer),
      schedule_(schedule),
      rng_(rng),
      options_(std::move(options)),
      best_metric_(task.best_metric()),
      schedule_metric_(best_metric_.name),
      best_value_(best_metric_.higher_is_better ? -std::numeric_limits<double>::infinity()
                                                : std::numeric_limits<double>::infinity()),
      run_id_(new_run_id()) {
  RECUR_CHECK(
      options_.total_iterations >= 1 && options_.eval_every >= 1 && options_.max_nonfinite_steps >= 1,
      fmt::format("trainer: total_iterations ({}), eval_every ({}) and max_nonfinite_steps ({}) must be "
                  "at least 1",
                  options_.total_iterations, options_.eval_every, options_.max_nonfinite_steps));
  RECUR_CHECK(task_.batches_per_epoch() >= 1, "trainer: the task has no training batches");
  RECUR_CHECK(options_.ema_decay >= 0.0 && options_.ema_decay < 1.0,
              fmt::format("trainer: ema_decay must be in [0, 1), got {}", options_.ema_decay));
  options_.progress.total_iterations = options_.total_iterations;
  options_.progress.total_epochs = double(options_.total_iterations) / double(task_.batches_per_epoch());
  progress_ = std::make_unique<ProgressReporter>(options_.progress);
}

Trainer::~Trainer() = default;

bool Trainer::improves(double value) const {
  return best_metric_.higher_is_better ? value > best_value_ : value < best_value_;
}

void Trainer::message(const std::string& text) {
  progress_->message(text);
}

void Trainer::restore(const io::Safetensors& file) {
  const auto& meta = file.metadata();
  const std::string& source = file.source();
  RECUR_REQUIRE(meta.count("recur.train"),
                fmt::format("{}: no training state (recur.train) to resume from", source));
  // recur.train is input too: every value is checked, and every error names the file.
  const auto bad = [&](const std::string& what) {
    return Error(fmt::format("{}: recur.train {}", source, what));
  };
  try {
    const json state = json::parse(meta.at("recur.train"));
    const auto count = [&](const char* key) {
      const json& v = state.at(key);
      if (!v.is_number_integer() || v.get<std::int64_t>() < 0)
        throw bad(fmt::format("\"{}\" must be a non-negative integer, got {}", key, v.dump()));
      return v.get<std::int64_t>();
    };
    if (state.contains("run")) {  // files before run ids keep the id this run drew
      const json& id = state.at("run");
      if (!id.is_string() || !is_run_id(id.get<std::string>()))
        throw bad(fmt::format("\"run\" must be 16 hexadecimal digits, got {}", id.dump()));
      run_id_ = id.get<std::string>();
    }
    iteration_ = static_cast<long>(count("iteration"));
    tokens_ = count("tokens");
    // "best_value" since validations return several metrics; "best_val_loss" before.
    const json& best = state.contains("best_value") ? state.at("best_value") : state.at("best_val_loss");
    if (!best.is_null()) best_value_ = best.get<double>();
    const std::string metric = state.value("best_metric", std::string("loss"));
    RECUR_REQUIRE(metric == best_metric_.name,
                  fmt::format("{}: the run selected its best model by {}, this task selects by {}", source,
                              metric, best_metric_.name));
    best_iteration_ = static_cast<long>(count("best_iteration"));
    schedule_metric_ = state.value("schedule_metric", std::string("loss"));
    if (schedule_metric_ != "loss" && schedule_metric_ != best_metric_.name)
      throw bad(
          fmt::format("\"schedule_metric\" must be loss or {}, got {}", best_metric_.name, schedule_metric_));
    nonfinite_in_row_ = static_cast<int>(std::min<std::int64_t>(count("nonfinite_in_row"), 1 << 30));
    const json& r = state.at("rng");
    // The generator's 64-bit words are stored as decimal strings (JSON numbers lose bits).
    const auto word = [&](const char* key) {
      const std::string text = r.at(key).get<std::string>();
      std::uint64_t value = 0;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (error != std::errc() || end != text.data() + text.size() || text.empty())
        throw bad(
            fmt::format("rng \"{}\" must be a 64-bit unsigned integer in decimal, got \"{}\"", key, text));
      return value;
    };
    Rng::State rs;
    rs.state = word("state");
    rs.increment = word("increment");
    rs.has_spare = r.at("has_spare").get<bool>();
    rs.spare = r.at("spare").get<double>();
    rng_.set_state(rs);
    ScheduleState ss;
    for (const auto& [k, v] : state.at("schedule").items()) ss.emplace_back(k, v.get<double>());
    const std::string saved_optimizer = state.at("optimizer").get<std::string>();
    RECUR_REQUIRE(
        saved_optimizer == optimizer_.name(),
        fmt::format("{}: the run's optimizer is {}, not {}", source, saved_optimizer, optimizer_.name()));
    OptimizerState<float> os;
    const std::string prefix = "train.optimizer.";
    for (const std::string& name : file.names()) {
      if (name.rfind(prefix, 0) != 0) continue;
      os.emplace_back(name.substr(prefix.size()), file.get<float>(name));
      io::require_finite(os.back().second, source, name);  // NaN moments would poison every step
    }
    try {
      schedule_.load_state(ss);
      optimizer_.load_state(os, count("optimizer_steps"));
    } catch (const Error& e) {
      throw bad(e.what());
    }
  } catch (const json::exception& e) {
    throw bad(fmt::format("is malformed ({})", json_error_text(e.what())));
  }
  io::require_finite(task_.params(), source);
  // With weight averaging the file's model is the average; the raw weights train on.
  if (file.contains(kRawWeights)) {
    RECUR_REQUIRE(options_.ema_decay > 0.0,
                  fmt::format("{}: the run averages its weights (it holds {}): resume it with its --ema",
                              source, kRawWeights));
    const Tensor<float> raw = file.get<float>(kRawWeights);
    Tensor<float> weights = task_.params().flat_values();
    RECUR_REQUIRE(raw.numel() == weights.numel() && raw.rank() == 1,
                  fmt::format("{}: {} has shape {}, the model has {} weights", source, kRawWeights,
                              raw.shape().str(), weights.numel()));
    io::require_finite(raw, source, kRawWeights);
    average_ = weights.clone();
    std::copy(raw.data(), raw.data() + raw.numel(), weights.data());
  }
  task_.load_state(file);
  last_good_ = source;
  RECUR_REQUIRE(
      iteration_ <= options_.total_iterations,
      fmt::format("{} is at iteration {}, past the target of {} (raise --max-iters or --max-epochs)",
                  file.source(), iteration_, options_.total_iterations));
}

void Trainer::save(const std::filesystem::path& path, bool with_training_state) const {
  io::Safetensors file = task_.model_file();
  json info{{"run", run_id_},
            {"iteration", iteration_},
            {"epoch", double(iteration_) / double(task_.batches_per_epoch())},
            {"tokens", tokens_},
            {"best_metric", best_metric_.name},
            {"best_value", std::isfinite(best_value_) ? json(best_value_) : json(nullptr)},
            {"best_iteration", best_iteration_}};
  if (with_training_state) {
    const Rng::State rs = rng_.state();
    info["nonfinite_in_row"] = nonfinite_in_row_;
    info["rng"] = json{{"state", std::to_string(rs.state)},
                       {"increment", std::to_string(rs.increment)},
                       {"has_spare", rs.has_spare},
                       {"spare", rs.spare}};
    json schedule = json::object();
    for (const auto& [k, v] : schedule_.state()) schedule[k] = v;
    info["schedule"] = schedule;
    info["schedule_metric"] = schedule_metric_;
    info["optimizer"] = optimizer_.name();
    info["optimizer_steps"] = optimizer_.steps();
    info["options"] = options_.run_settings;
    for (const auto& [name, tensor] : optimizer_.state()) file.add("train.optimizer." + name, tensor);
    if (weights_are_average_) {
      info["ema_decay"] = options_.ema_decay;
      file.add(kRawWeights,
               average_.view(Shape{average_.numel()}));  // swapped: average_ holds the raw weights
    }
    task_.save_state(file);
    file.metadata()["recur.train"] = info.dump();
  } else {
    file.metadata()["recur.best"] = info.dump();
  }
  file.write_file(path.string());
}

std::string Trainer::last_good_checkpoint() const {
  return last_good_.empty() ? std::string("no checkpoint was written")
                            : fmt::format("the last good checkpoint {} is intact", last_good_.string());
}

void Trainer::swap_average() {
  Tensor<float> weights = task_.params().flat_values();
  std::swap_ranges(weights.data(), weights.data() + weights.numel(), average_.data());
  weights_are_average_ = !weights_are_average_;
}

void Trainer::update_average() {
  // d = min(decay, (1 + s) / (10 + s)):  avg += (1 − d)(w − avg)
  const double s = static_cast<double>(optimizer_.steps());
  const auto keep = static_cast<float>(std::min(options_.ema_decay, (1.0 + s) / (10.0 + s)));
  const float* w = task_.params().flat_values().data();
  float* avg = average_.data();
  parallel_for(average_.numel(), index_t(1) << 15, [&](index_t begin, index_t end) {
    for (index_t i = begin; i < end; ++i) avg[i] += (1.0f - keep) * (w[i] - avg[i]);
  });
}

void Trainer::evaluate_and_save(bool final_evaluation) {
  // The evaluation and the files see the averaged weights; training goes on from the raw ones,
  // whatever happens here.
  struct AverageIn {
    explicit AverageIn(Trainer& t) : trainer(t) {
      if (!trainer.average_.empty()) trainer.swap_average();
    }
    ~AverageIn() {
      if (trainer.weights_are_average_) trainer.swap_average();
    }
    Trainer& trainer;
  } average_in(*this);
  const std::filesystem::path& dir = options_.checkpoint_dir;
  std::string note;
  bool finite_metrics = true;
  // A model with a non-finite weight replaces neither file (checked once: a pass over every weight).
  const bool finite_model = all_finite(task_.params().flat_values());
  if (task_.has_validation()) {
    const Metrics metrics = task_.validate();
    const auto best = metrics.find(best_metric_.name);
    RECUR_CHECK(best != metrics.end(),
                fmt::format("trainer: the validation has no {}, the metric that selects the best model",
                            best_metric_.name));
    const double value = best->second;
    // The metric that selects the best model drives the schedule, turned so that lower is better: a
    // classifier's validation loss can rise while its accuracy still improves.
    const auto followed = metrics.find(schedule_metric_);
    RECUR_CHECK(
        followed != metrics.end(),
        fmt::format("trainer: the validation has no {}, the metric the schedule follows", schedule_metric_));
    const bool higher_is_better = schedule_metric_ == best_metric_.name && best_metric_.higher_is_better;
    const double schedule_value = higher_is_better ? -followed->second : followed->second;
    const auto loss = metrics.find("loss");
    // Only scheduled evaluations drive the schedule, so a run stopped early and resumed sees the
    // same schedule events as one trained straight through.
    if (!final_evaluation) schedule_.on_validation(schedule_value);
    progress_->set_val_loss(value);
    if (loss != metrics.end()) plot_->add_val(static_cast<double>(tokens_), loss->second);
    json record{{"event", "val"}, {"iteration", iteration_}, {"tokens", tokens_}};
    std::string shown;
    for (const auto& [name, v] : metrics) {
      record["val_" + name] = v;
      shown += fmt::format("{}{} {:.4f}", shown.empty() ? "" : ", ", name, v);
      finite_metrics = finite_metrics && std::isfinite(v);
    }
    metrics_->write(record);
    const double guessing = task_.guessing_loss();
    if (loss != metrics.end() && loss->second > kDivergedOverGuessing * guessing) {
      // Finite but useless (a learning rate far too high): saved, it would replace the good files.
      plot_->write_svg(dir / "loss.svg");
      throw Error(fmt::format(
          "stopping at iteration {}: the model diverged (validation loss {:.4g}, over {} times the {:.4g} of "
          "guessing uniformly; lower --learning-rate or --grad-clip?); {}",
          iteration_, loss->second, kDivergedOverGuessing, guessing, last_good_checkpoint()));
    }
    if (improves(value) && finite_model) {
      best_value_ = value;
      best_iteration_ = iteration_;
      save(dir / "best.safetensors", false);
      task_.write_best_reports(dir);
      note = " (best, saved best.safetensors)";
    }
    note = fmt::format("val {}{}", shown, note);
  } else {
    note = "no validation data";
  }
  // Never overwrite the last good checkpoint with a diverged model.
  if (finite_metrics && finite_model) {
    save(dir / "last.safetensors", true);
    last_good_ = dir / "last.safetensors";
  } else {
    note += "; the model is not finite: last.safetensors not overwritten";
  }
  plot_->write_svg(dir / "loss.svg");
  progress_->message(fmt::format("iteration {}/{}: {}", iteration_, options_.total_iterations, note));
}

void Trainer::write_train_record(double epoch) {
  // The means over the window's finite steps (null when every step was skipped).
  const long finite = window_.steps - window_.skipped;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  metrics_->write(json{{"event", "train"},
                       {"iteration", iteration_},
                       {"epoch", epoch},
                       {"tokens", tokens_},
                       {"steps", window_.steps},
                       {"loss", finite > 0 ? window_.loss / double(finite) : nan},
                       {"grad_norm", finite > 0 ? window_.grad_norm / double(finite) : nan},
                       {"skipped", window_.skipped},
                       {"lr", optimizer_.learning_rate()}});
  window_ = {};
}

void Trainer::run() {
  const std::filesystem::path& dir = options_.checkpoint_dir;
  std::filesystem::create_directories(dir);
  plot_ = std::make_unique<LossPlot>(options_.plot_title);
  for (const auto& [value, label] : options_.reference_lines) plot_->add_reference_line(value, label);
  if (iteration_ > 0) {
    // The log as of the checkpoint (a crash after it left records the run now trains again), and
    // loss.svg showing the whole run, not only the part after the resume.
    MetricsLog::truncate_after(dir / MetricsLog::kFileName, iteration_);
    replay_curve(MetricsLog::read(dir / MetricsLog::kFileName), *plot_);
    progress_->message(fmt::format("resuming at iteration {}", iteration_));
  }
  metrics_ = std::make_unique<MetricsLog>(MetricsLog::in_run_dir(dir));
  if (iteration_ > 0)
    metrics_->write(json{{"event", "resume"}, {"iteration", iteration_}, {"tokens", tokens_}});

  const long n = task_.batches_per_epoch();
  nn::ParameterTable<float>& params = task_.params();
  if (options_.ema_decay > 0.0) {
    if (average_.empty()) average_ = params.flat_values().clone();
    progress_->message(fmt::format("weights averaged (--ema {}): validation and checkpoints use the average",
                                   options_.ema_decay));
  }
  const auto clip = static_cast<float>(options_.grad_clip);
  InterruptGuard guard;
  interrupt_signal_ = 0;
  while (iteration_ < options_.total_iterations && interrupt_signal_ == 0) {
    params.zero_grad();
    ag::Tape<float> tape;
    const TrainingBatch batch = task_.training_batch(tape, iteration_ / n, iteration_ % n, rng_);
    const ag::Var<float>& loss = batch.loss;
    tape.backward(loss);
    const float grad_norm =
        options_.clip_mode == ClipMode::kNorm ? clip_grad_norm(params, clip) : clip_grad_value(params, clip);
    const double loss_value = loss.item();
    ++iteration_;
    tokens_ += batch.tokens;
    const bool finite = std::isfinite(loss_value) && std::isfinite(grad_norm);
    if (finite) {
      nonfinite_in_row_ = 0;
      optimizer_.set_learning_rate(static_cast<float>(schedule_.learning_rate()));
      optimizer_.step();
      if (!average_.empty()) update_average();
      schedule_.on_step();
    } else {
      ++nonfinite_in_row_;
      progress_->message(
          fmt::format("warning: iteration {}: loss {} / gradient norm {} is not finite; step "
                      "skipped ({} in a row)",
                      iteration_, loss_value, grad_norm, nonfinite_in_row_));
    }
    task_.after_step(finite);
    if (nonfinite_in_row_ >= options_.max_nonfinite_steps) {
      // Say what is true: a run whose model was never finite at an evaluation wrote no checkpoint.
      throw Error(
          fmt::format("stopping: {} non-finite steps in a row (lower --learning-rate or --grad-clip?); {}",
                      nonfinite_in_row_,
                      last_good_.empty() ? "no checkpoint was written (no evaluation found the model finite)"
                                         : last_good_checkpoint()));
    }
    const std::int64_t tokens = tokens_;
    const double epoch = double(iteration_) / double(n);
    progress_->update({iteration_, epoch, tokens, loss_value});
    if (finite) {
      window_.loss += loss_value;
      window_.grad_norm += grad_norm;
      plot_->add_train(static_cast<double>(tokens), loss_value);
    } else {
      ++window_.skipped;
    }
    ++window_.steps;
    if (iteration_ % n == 0) schedule_.on_epoch_end();
    const bool scheduled = iteration_ % options_.eval_every == 0;
    // Read once: the value that stops the loop is the one that saved this iteration (a signal
    // between two reads once ended a run without saving it).
    interrupt_signal_ = g_interrupted;
    const bool evaluate = scheduled || iteration_ == options_.total_iterations || interrupt_signal_ != 0;
    if (evaluate || iteration_ % options_.progress.log_every == 0) write_train_record(epoch);
    if (evaluate) evaluate_and_save(!scheduled);
  }
  progress_->finish();
}

}  // namespace recur::train
