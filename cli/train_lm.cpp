// recur train lm: a language model on a UTF-8 text over characters or words, read as one stream
// (char-rnn's way: B parallel streams, chunks of seq_length, the state carried from chunk to
// chunk) or one item per line, with exact resume. The model is recurrent (--model lstm, gru, …)
// or Bengio et al. 2003's fixed window (--model window --window N), the memoryless baseline. The
// shared flags (optimizer, schedule, run, resume, --config) come from trainer_flags.h; this file
// adds the language model's data and model groups.
#include <fmt/format.h>

#include <optional>

#include "commands.h"
#include "recur/data/ngram.h"
#include "recur/data/text_batches.h"
#include "recur/data/tokenize.h"
#include "recur/io/parameters_io.h"
#include "recur/models/lm_lines.h"
#include "recur/models/lm_stream_task.h"
#include "recur/models/lm_text.h"
#include "recur/models/rnn_lm_checkpoint.h"
#include "recur/models/window_lm_model.h"
#include "recur/models/window_lm_task.h"
#include "recur/threads.h"
#include "recur/train/run_directory.h"
#include "settings.h"
#include "trainer_flags.h"

namespace recur::cli {

namespace {

struct LmFlags {
  TrainerFlags trainer;
  // data
  std::string data = kBuiltinDataName;  // --val-data and --test-data are in trainer (shared)
  std::string tokens = "char", items = "stream";
  index_t bucket = 0;
  std::int64_t min_freq = 1, max_vocab = 0;
  index_t seq_length = 50;
  double train_frac = 0.95;
  double val_frac = 0.05;
  // model
  std::string model = "lstm";
  index_t rnn_size = 128;
  int num_layers = 2;
  index_t embedding_size = 64;
  bool tied = false;
  double dropout = 0.0;
  std::string dropout_mode = "per_step";
  double init_range = 0.0;
  double input_dropout = 0.0;
  index_t window = 4;  // --model window
};

void add_lm_flags(CLI::App& cmd, LmFlags& o) {
  const char* data = "Data (lm)";
  const char* model = "Model (lm)";
  add_data_flags(
      cmd, o.data,
      fmt::format("UTF-8 text file (.gz read as is), 'tinyshakespeare' (built in), or a bundled set: {} "
                  "(ptb brings its validation and test files)",
                  bundled_data_names()),
      o.trainer, data);
  cmd.add_option("--tokens", o.tokens,
                 "char (Unicode code points) or word (whitespace-separated, <eos> per line)")
      ->check(CLI::IsMember({"char", "word"}))
      ->capture_default_str()
      ->group(data);
  cmd.add_option("--items", o.items, "stream (one text, the state carried) or lines (one item per line)")
      ->check(CLI::IsMember({"stream", "lines"}))
      ->capture_default_str()
      ->group(data);
  cmd.add_option("--bucket", o.bucket, "lines: batch items of similar length (windows of N batches; 0: off)")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str()
      ->group(data);
  cmd.add_option("--min-freq", o.min_freq,
                 "words: keep those seen at least this often in training (others: <unk>)")
      ->check(CLI::Range(std::int64_t(1), std::int64_t(1) << 40))
      ->capture_default_str()
      ->group(data);
  cmd.add_option("--max-vocab", o.max_vocab, "words: keep the most frequent, specials included (0: all)")
      ->check(CLI::Range(std::int64_t(0), std::int64_t(1) << 24))
      ->capture_default_str()
      ->group(data);
  cmd.add_option("--seq-length", o.seq_length, "steps per chunk (truncated BPTT)")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str()
      ->group(data);
  cmd.add_option("--train-frac", o.train_frac, "fraction of batches for training (without --val-data)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str()
      ->group(data);
  cmd.add_option("--val-frac", o.val_frac, "fraction for validation, the rest is test (without --val-data)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str()
      ->group(data);
  add_model_flags(cmd, o.model, o.rnn_size, o.num_layers, o.embedding_size, o.dropout, model, {"window"});
  cmd.add_option("--window", o.window,
                 "--model window: tokens of context (Bengio et al. 2003's fixed-window model: their "
                 "embeddings → tanh layer of --rnn-size → softmax)")
      ->check(CLI::Range(1, 1 << 10))
      ->capture_default_str()
      ->group(model);
  cmd.add_flag("--tied", o.tied, "tie the decoder to the embedding (embedding size = rnn size)")
      ->group(model);
  cmd.add_option("--dropout-mode", o.dropout_mode, "per_step or per_sequence (variational)")
      ->check(CLI::IsMember({"per_step", "per_sequence"}))
      ->capture_default_str()
      ->group(model);
  cmd.add_option("--input-dropout", o.input_dropout, "dropout on the embedded inputs")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str()
      ->group(model);
  cmd.add_option("--init-range", o.init_range,
                 "0: PyTorch's init; r > 0: every weight U(-r, r) (Zaremba: 0.1)")
      ->check(CLI::Range(0.0, 10.0))
      ->capture_default_str()
      ->group(model);
}

// --init-range r > 0: every weight U(-r, r); else the model's PyTorch defaults. Seeded by --seed.
template <class Model>
void initialize(Model& model, const LmFlags& o) {
  Rng init_rng(o.trainer.seed);
  if (o.init_range > 0)
    model.init_uniform(init_rng, static_cast<float>(o.init_range));
  else
    model.init(init_rng);
}

std::unique_ptr<models::RnnLm<float>> new_model(const LmFlags& o, const data::Vocab& vocab,
                                                bool lines = false) {
  models::RnnLmConfig c;
  c.model = nn::parse_cell_kind(o.model);
  c.num_layers = o.num_layers;
  c.rnn_size = o.rnn_size;
  c.embedding_size = o.tied ? o.rnn_size : o.embedding_size;
  c.vocab_size = vocab.size();
  c.dropout = o.dropout;
  c.input_dropout = o.input_dropout;
  c.dropout_mode =
      o.dropout_mode == "per_step" ? layers::DropoutMode::kPerStep : layers::DropoutMode::kPerSequence;
  c.tied = o.tied;
  c.lines = lines;
  c.validate("model flags");
  auto model = std::make_unique<models::RnnLm<float>>(c);
  initialize(*model, o);
  return model;
}

// The run's data, as the task reads it, and what the log says about it.
struct Prepared {
  std::unique_ptr<data::TokenBatches> batches, validation;  // stream
  std::unique_ptr<train::TrainingTask> task;
  long batches_per_epoch = 0;
  std::optional<data::NgramFloors> floors;
  std::string description;
};

// What the run trains: a recurrent model (RnnLm) or the fixed-window one, and its vocabulary.
struct LmModel {
  std::unique_ptr<models::RnnLm<float>> recurrent;
  std::unique_ptr<models::WindowLm<float>> window;
  data::Vocab vocab;

  bool exists() const { return recurrent || window; }
  nn::ParameterTable<float>& params() { return recurrent ? recurrent->params() : window->params(); }
  bool lines() const { return recurrent ? recurrent->config().lines : window->config().lines; }
};

void warn_unknown(std::int64_t unknown, std::int64_t tokens, const std::string& file) {
  if (unknown * 10 > tokens)
    fmt::print(stderr,
               "warning: {:.0f}% of {}'s tokens are outside the training vocabulary and read as <unk>\n",
               100.0 * static_cast<double>(unknown) / static_cast<double>(tokens), file);
}

// --data as one stream of ids, tokenized piece by piece (never a string per character), and the
// vocabulary built from it when `vocab` is to be made (no model yet).
data::TokenIds read_stream(const LmFlags& o, const std::string& name, data::TokenKind kind,
                           data::Vocab& vocab, bool make_vocab) {
  const std::string text = load_data(o.data);
  RECUR_REQUIRE(!text.empty(), fmt::format("{}: the file is empty", name));
  if (make_vocab) vocab = models::lm_stream_vocabulary(text, kind, name, o.min_freq, o.max_vocab);
  return models::lm_stream_ids(text, vocab, name);
}

// --val-data as one stream of ids, with a warning when much of it is outside the vocabulary.
data::TokenIds read_validation_stream(const LmFlags& o, const data::Vocab& vocab) {
  const std::string& val = o.trainer.val_data;
  std::int64_t unknown = 0;
  data::TokenIds ids = models::lm_stream_ids(load_data(val), vocab, val, &unknown);
  warn_unknown(unknown, ids.size(), val);
  return ids;
}

// --data one item per line as ids, split into training and validation items: --val-data, or a
// seeded split of --val-frac of the lines. The vocabulary, when it is to be made, comes from every
// line of --data (the split is drawn after the ids exist).
std::pair<std::vector<std::vector<std::int32_t>>, std::vector<std::vector<std::int32_t>>> read_lines(
    const LmFlags& o, const std::string& name, data::TokenKind kind, data::Vocab& vocab, bool make_vocab) {
  const std::vector<std::vector<std::string>> lines = data::tokenize_lines(load_data(o.data), kind, name);
  if (make_vocab) {
    std::vector<std::string> all;
    for (const auto& line : lines) all.insert(all.end(), line.begin(), line.end());
    vocab = models::lm_vocabulary(all, kind, o.min_freq, o.max_vocab, /*lines=*/true);
  }
  std::vector<std::vector<std::int32_t>> items;
  for (const auto& line : lines) items.push_back(vocab.encode(line, name));
  if (o.trainer.val_data.empty()) return models::split_lines(std::move(items), o.val_frac, o.trainer.seed);
  std::int64_t unknown = 0, tokens = 0;
  auto validation = models::lm_line_items(load_data(o.trainer.val_data), vocab, o.trainer.val_data, &unknown);
  for (const auto& item : validation) tokens += static_cast<std::int64_t>(item.size());
  warn_unknown(unknown, tokens, o.trainer.val_data);
  return {std::move(items), std::move(validation)};
}

// One stream, char-rnn's batches: B streams of seq_length chunks, the state carried. With
// --val-data the whole of --data trains and the validation file is cut the same way.
Prepared prepare_stream(const LmFlags& o, const std::string& name, data::TokenKind kind, LmModel& m) {
  std::unique_ptr<models::RnnLm<float>>& model = m.recurrent;
  data::Vocab& vocab = m.vocab;
  data::TokenIds ids = read_stream(o, name, kind, vocab, !model);
  if (!model) model = new_model(o, vocab);
  Prepared p;
  const bool separate_val = !o.trainer.val_data.empty();
  const data::SplitFractions fractions =
      separate_val
          ? data::SplitFractions{1.0, 0.0, 0.0}
          : data::SplitFractions{o.train_frac, o.val_frac, std::max(0.0, 1.0 - o.train_frac - o.val_frac)};
  p.batches = std::make_unique<data::TokenBatches>(std::move(ids), o.trainer.batch_size, o.seq_length,
                                                   fractions, name);
  if (separate_val)
    p.validation = std::make_unique<data::TokenBatches>(
        read_validation_stream(o, vocab), o.trainer.batch_size, o.seq_length,
        data::SplitFractions{1.0, 0.0, 0.0}, o.trainer.val_data);
  p.batches_per_epoch = p.batches->count(data::Split::kTrain);
  // Read in place: a copy of the training split would cost 4 bytes a token.
  const data::SplitTokens held_out =
      p.validation ? p.validation->split_view(data::Split::kTrain) : p.batches->split_view(data::Split::kVal);
  if (held_out.size() >= 2)
    p.floors = data::ngram_floors(p.batches->split_view(data::Split::kTrain), held_out, vocab.size());
  p.task = std::make_unique<models::LmStreamTask>(*model, vocab, *p.batches, p.validation.get());
  p.description = fmt::format(
      "data {}: vocabulary {}, batches train {} / val {}{} / test {} of {}×{}", o.data, vocab.size(),
      p.batches_per_epoch,
      p.validation ? p.validation->count(data::Split::kTrain) : p.batches->count(data::Split::kVal),
      p.validation ? fmt::format(" (from {})", o.trainer.val_data) : "", p.batches->count(data::Split::kTest),
      o.trainer.batch_size, o.seq_length);
  return p;
}

// One item per line, each from <bos> to <eos> with a fresh state, in shuffled padded batches;
// validation is --val-data or a seeded split of --val-frac of the lines.
Prepared prepare_lines(const LmFlags& o, const std::string& name, data::TokenKind kind, LmModel& m) {
  std::unique_ptr<models::RnnLm<float>>& model = m.recurrent;
  data::Vocab& vocab = m.vocab;
  auto [train, validation] = read_lines(o, name, kind, vocab, !model);
  if (!model) model = new_model(o, vocab, /*lines=*/true);
  Prepared p;
  p.floors = models::lm_lines_floors(train, validation, vocab);
  p.description =
      fmt::format("data {}: vocabulary {}, items train {} / val {}{}, batches of {} items{}", o.data,
                  vocab.size(), train.size(), validation.size(),
                  o.trainer.val_data.empty() ? "" : fmt::format(" (from {})", o.trainer.val_data),
                  o.trainer.batch_size, o.bucket > 0 ? fmt::format(", bucketed by {}", o.bucket) : "");
  data::SequenceBatchOptions batching;
  batching.batch_size = o.trainer.batch_size;
  batching.bucket = o.bucket;
  batching.seed = o.trainer.seed;
  p.task =
      std::make_unique<models::LmLinesTask>(*model, vocab, std::move(train), std::move(validation), batching);
  p.batches_per_epoch = p.task->batches_per_epoch();
  return p;
}

std::unique_ptr<models::WindowLm<float>> new_window_model(const LmFlags& o, const data::Vocab& vocab,
                                                          bool lines) {
  models::WindowLmConfig c;
  c.window = o.window;
  c.embedding_size = o.embedding_size;
  c.hidden_size = o.rnn_size;
  c.vocab_size = vocab.size();
  c.dropout = o.dropout;
  c.input_dropout = o.input_dropout;
  c.lines = lines;
  c.validate("model flags");
  auto model = std::make_unique<models::WindowLm<float>>(c);
  initialize(*model, o);
  return model;
}

// The window model's examples: every token with the N before it, from the stream (the first
// --train-frac of the tokens train and the next --val-frac validate, unless --val-data) or from
// each line (split by lines as the recurrent per-line model's).
Prepared prepare_window(const LmFlags& o, const std::string& name, data::TokenKind kind, bool lines,
                        LmModel& m) {
  data::Vocab& vocab = m.vocab;
  const bool separate_val = !o.trainer.val_data.empty();
  models::WindowExamples train, validation;
  Prepared p;
  std::string counts;
  if (lines) {
    const auto [train_items, val_items] = read_lines(o, name, kind, vocab, !m.window);
    if (!m.window) m.window = new_window_model(o, vocab, true);
    p.floors = models::lm_lines_floors(train_items, val_items, vocab);
    counts = fmt::format("items train {} / val {}", train_items.size(), val_items.size());
    train = models::WindowExamples::lines(train_items, o.window, vocab);
    validation = models::WindowExamples::lines(val_items, o.window, vocab);
  } else {
    std::vector<std::int32_t> ids = read_stream(o, name, kind, vocab, !m.window).to_vector(), held_out;
    if (!m.window) m.window = new_window_model(o, vocab, false);
    if (separate_val) {
      held_out = read_validation_stream(o, vocab).to_vector();
    } else {
      const auto n = static_cast<double>(ids.size());
      const auto train_end = static_cast<size_t>(std::llround(o.train_frac * n));
      const auto val_end =
          std::min(ids.size(), static_cast<size_t>(std::llround((o.train_frac + o.val_frac) * n)));
      held_out.assign(ids.begin() + static_cast<std::ptrdiff_t>(train_end),
                      ids.begin() + static_cast<std::ptrdiff_t>(val_end));
      ids.resize(train_end);
    }
    if (held_out.size() >= 2) p.floors = data::ngram_floors(ids, held_out, vocab.size());
    train = models::WindowExamples::stream(ids, o.window, vocab);
    if (held_out.size() >= 2) validation = models::WindowExamples::stream(held_out, o.window, vocab);
    counts = fmt::format("tokens train {} / val {}", ids.size(), held_out.size());
  }
  p.description =
      fmt::format("data {}: vocabulary {}, {}{}; {} predictions a batch", o.data, vocab.size(), counts,
                  separate_val ? fmt::format(" (from {})", o.trainer.val_data) : "", o.trainer.batch_size);
  p.task = std::make_unique<models::WindowLmTask>(*m.window, vocab, std::move(train), std::move(validation),
                                                  o.trainer.batch_size, o.trainer.seed);
  p.batches_per_epoch = p.task->batches_per_epoch();
  return p;
}

// The recurrent model's flags that the window model has no use for: an error when set to anything
// but their defaults (values, not counts: --resume and --config fill every flag).
void check_window_flags(const LmFlags& o) {
  const LmFlags defaults;
  const std::pair<const char*, bool> unused[] = {{"--num-layers", o.num_layers != defaults.num_layers},
                                                 {"--tied", o.tied != defaults.tied},
                                                 {"--dropout-mode", o.dropout_mode != defaults.dropout_mode},
                                                 {"--seq-length", o.seq_length != defaults.seq_length},
                                                 {"--bucket", o.bucket != defaults.bucket}};
  for (const auto& [flag, set] : unused)
    RECUR_REQUIRE(!set,
                  fmt::format("{} does not apply to --model window (its flags: --window, --embedding-size, "
                              "--rnn-size for the tanh layer, --dropout, --input-dropout)",
                              flag));
}

void run_lm_training(CLI::App& cmd, LmFlags& o) {
  std::optional<io::Safetensors> resume_file = resolve_settings(cmd, o.trainer, models::kLmTask);
  // --data ptb brings its own validation and test files unless others are given.
  const BundledSplits splits = bundled_splits(o.data);
  if (o.trainer.val_data.empty()) o.trainer.val_data = splits.val;
  if (o.trainer.test_data.empty()) o.trainer.test_data = splits.test;
  check_trainer_flags(o.trainer);
  apply_threads(o.trainer.threads);

  // The model and vocabulary: from --resume or --init-from, else new from the data.
  LmModel m;
  if (resume_file || !o.trainer.init_from.empty()) {
    io::Safetensors file =
        resume_file ? std::move(*resume_file) : io::Safetensors::read_file(o.trainer.init_from);
    const auto config = file.metadata().find(models::kConfigKey);
    if (config != file.metadata().end() && models::is_window_lm_config(config->second)) {
      models::LoadedWindowLm loaded = models::load_window_lm(std::move(file));
      m.window = std::move(loaded.model);
      m.vocab = std::move(loaded.vocab);
      file = std::move(loaded.file);
    } else {
      models::LoadedRnnLm loaded = models::load_rnn_lm(std::move(file));
      m.recurrent = std::move(loaded.model);
      m.vocab = std::move(loaded.vocab);
      file = std::move(loaded.file);
    }
    // A diverged model is no start: trained on, NaN would spread to every weight.
    io::require_finite(m.params(), file.source());
    if (resume_file) resume_file = std::move(file);
  }
  // Held to the end: the run's files are this process's alone (after --init-from is read: it may
  // name a file that --overwrite removes).
  const train::RunDirectory run_directory(o.trainer.checkpoint_dir, resume_file ? &*resume_file : nullptr,
                                          o.trainer.overwrite);
  const std::string name = data_name(o.data);
  // A checkpoint fixes the architecture, the kind of tokens and how items are read; the flags name
  // them for a new model.
  const bool window = m.exists() ? m.window != nullptr : o.model == "window";
  const data::TokenKind kind = m.exists() ? m.vocab.kind() : data::parse_token_kind(o.tokens);
  const bool lines = m.exists() ? m.lines() : o.items == "lines";
  if (window) check_window_flags(o);
  Prepared p = window  ? prepare_window(o, name, kind, lines, m)
               : lines ? prepare_lines(o, name, kind, m)
                       : prepare_stream(o, name, kind, m);
  const long total = total_iterations(o.trainer, p.batches_per_epoch);

  const auto optimizer = make_optimizer(o.trainer, m.params());
  const auto schedule = make_schedule(o.trainer, total);
  Rng rng(o.trainer.seed, /*stream=*/1);  // dropout

  const Settings settings = run_settings(cmd);
  train::TrainerOptions t = trainer_options(o.trainer, total, p.batches_per_epoch, settings);
  std::string model_line;
  if (window) {
    const models::WindowLmConfig& c = m.window->config();
    t.plot_title = fmt::format("window of {} (tanh {}) on {}", c.window, c.hidden_size, o.data);
    model_line = fmt::format(
        "model window of {} tokens: embedding {} → tanh {} → {}, {} parameters; {} threads", c.window,
        c.embedding_size, c.hidden_size, c.vocab_size, m.params().numel(), num_threads());
  } else {
    const models::RnnLmConfig& c = m.recurrent->config();
    t.plot_title = fmt::format("{} {}×{} on {}", nn::cell_name(c.model), c.num_layers, c.rnn_size, o.data);
    model_line = fmt::format("model {} × {} layers × {} (embedding {}{}), {} parameters; {} threads",
                             nn::cell_name(c.model), c.num_layers, c.rnn_size, c.embedding_size,
                             c.tied ? ", tied" : "", m.params().numel(), num_threads());
  }
  if (p.floors) t.reference_lines = {{p.floors->unigram, "unigram"}, {p.floors->bigram, "bigram"}};
  train::Trainer trainer(*p.task, *optimizer, *schedule, rng, std::move(t));
  if (resume_file) trainer.restore(*resume_file);
  write_run_config(o.trainer, settings, models::kLmTask);

  trainer.message(p.description);
  trainer.message(model_line);
  trainer.message(fmt::format("optimizer {} ({}), clip {} {}{}", optimizer->describe(), schedule->describe(),
                              o.trainer.clip_mode, o.trainer.grad_clip,
                              p.floors ? fmt::format("; floors: unigram {:.3f}, bigram {:.3f} nats",
                                                     p.floors->unigram, p.floors->bigram)
                                       : ""));
  trainer.run();
  if (!trainer.interrupted()) evaluate_test_data(o.trainer);
  print_run_summary(trainer, o.trainer, models::kLmTask, "loss", "sample with: recur sample");
}

}  // namespace

void add_train_lm_command(CLI::App& train) {
  auto flags = std::make_shared<LmFlags>();
  CLI::App* cmd = train.add_subcommand("lm",
                                       "a language model over characters or words, as one stream or one item "
                                       "per line (recur train alone is this)");
  // A flag given twice takes its last value (a script's defaults, then the user's).
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  add_lm_flags(*cmd, *flags);
  add_trainer_flags(*cmd, flags->trainer);
  cmd->callback([cmd, flags] { run_lm_training(*cmd, *flags); });
}

}  // namespace recur::cli
