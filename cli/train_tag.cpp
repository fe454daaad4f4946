// recur train tag: a tagger (models/tagger.h) on column files, CoNLL-U (--column upos or xpos) or
// whitespace columns such as CoNLL-2000 (--column 3: the chunk tags), with character features,
// a bidirectional RNN and optionally a CRF. The shared flags (optimizer, schedule, run, resume,
// --config) come from trainer_flags.h; this file adds the tagger's data and model groups.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <optional>
#include <sstream>

#include "commands.h"
#include "recur/data/conll.h"
#include "recur/io/parameters_io.h"
#include "recur/models/tagger_model.h"
#include "recur/models/tagger_task.h"
#include "recur/models/word_vectors.h"
#include "recur/threads.h"
#include "recur/train/run_directory.h"
#include "settings.h"
#include "trainer_flags.h"

namespace recur::cli {

namespace {

struct TagFlags {
  TrainerFlags trainer;
  // data
  std::string data = "ud_english_ewt";
  std::string format = "auto", column = "auto", feature_columns;
  index_t feature_embedding_size = 20;
  double val_frac = 0.1;
  std::int64_t min_freq = 1;
  index_t bucket = 4;
  // model
  std::string model = "lstm";
  index_t rnn_size = 128;
  int num_layers = 1;
  index_t embedding_size = 100;
  double dropout = 0.5, word_dropout = 0.0, label_smoothing = 0.0;
  index_t char_embedding_size = 30, char_rnn_size = 50;
  bool crf = false, unidirectional = false, residual = false;
  std::string embeddings;
};

void add_tag_flags(CLI::App& cmd, TagFlags& o) {
  const char* data = "Data (tag)";
  const char* model = "Model (tag)";
  add_data_flags(cmd, o.data,
                 fmt::format("a CoNLL-U or column file (.gz read as is), or a bundled set: ud_english_ewt "
                             "(brings its dev and test files), conll2000 (brings its test file)"),
                 o.trainer, data);
  cmd.add_option("--format", o.format,
                 "conllu (Universal Dependencies), conll (whitespace columns, the word first), or auto "
                 "(conllu for .conllu files and ud_english_ewt)")
      ->check(CLI::IsMember({"auto", "conllu", "conll"}))
      ->capture_default_str()
      ->group(data);
  cmd.add_option("--column", o.column,
                 "the tag column: upos or xpos (CoNLL-U), a 1-based number, or auto (upos; a column file's "
                 "last column)")
      ->capture_default_str()
      ->group(data);
  cmd.add_option("--feature-columns", o.feature_columns,
                 "columns read beside each word, comma-separated as --column (CoNLL-2000: 2, the part of "
                 "speech, for chunking); eval and predict files must have them too")
      ->group(data);
  cmd.add_option("--val-frac", o.val_frac, "without --val-data: this fraction of the sentences validates")
      ->check(CLI::Range(0.0, 0.9))
      ->capture_default_str()
      ->group(data);
  cmd.add_option("--min-freq", o.min_freq, "keep words seen at least this often in training (others: <unk>)")
      ->check(CLI::Range(std::int64_t(1), std::int64_t(1) << 40))
      ->capture_default_str()
      ->group(data);
  cmd.add_option("--bucket", o.bucket, "batch sentences of similar length (windows of N batches; 0: off)")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str()
      ->group(data);
  add_model_flags(cmd, o.model, o.rnn_size, o.num_layers, o.embedding_size, o.dropout, model);
  cmd.add_option("--char-embedding-size", o.char_embedding_size,
                 "characters of each word through a bidirectional RNN (Lample et al. 2016); 0: no character "
                 "features")
      ->check(CLI::Range(index_t(0), index_t(1) << 16))
      ->capture_default_str()
      ->group(model);
  cmd.add_option("--char-rnn-size", o.char_rnn_size, "units per direction of the character RNN")
      ->check(CLI::Range(index_t(1), index_t(1) << 16))
      ->capture_default_str()
      ->group(model);
  cmd.add_option("--feature-embedding-size", o.feature_embedding_size,
                 "the width of each feature column's embedding")
      ->check(CLI::Range(index_t(1), index_t(1) << 16))
      ->capture_default_str()
      ->group(model);
  cmd.add_option("--word-dropout", o.word_dropout,
                 "training reads any word as <unk> with this probability (words seen once: at least 1/2), "
                 "so that tagging leans on characters and context too")
      ->check(CLI::Range(0.0, 0.9))
      ->capture_default_str()
      ->group(model);
  cmd.add_option("--label-smoothing", o.label_smoothing,
                 "the softmax learns (1 - e)·the gold tag + e spread over every tag (not with --crf)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str()
      ->group(model);
  cmd.add_flag("--crf", o.crf,
               "a linear-chain CRF over the tags (loss: forward algorithm; decoding: Viterbi)")
      ->group(model);
  cmd.add_flag("--unidirectional", o.unidirectional, "read the sentence left to right only")->group(model);
  cmd.add_flag("--residual", o.residual,
               "each recurrent layer above the first adds its input to its output (--num-layers 2 or more)")
      ->group(model);
  cmd.add_option("--embeddings", o.embeddings,
                 "a new model's word embedding starts from these vectors (word2vec or GloVe text, .gz read "
                 "as is; their size must be --embedding-size)")
      ->group(model);
}

// The bundled sets' formats, else by the file's name.
data::ColumnFormat resolve_format(const TagFlags& o) {
  if (o.format != "auto") return data::parse_column_format(o.format);
  const bool conllu = o.data.rfind("ud_", 0) == 0 || o.data.find(".conllu") != std::string::npos;
  return conllu ? data::ColumnFormat::kConllu : data::ColumnFormat::kConll;
}

// --column auto: upos; a column file's last column (its first word line's count).
int resolve_column(const TagFlags& o, data::ColumnFormat format, const std::string& text) {
  if (o.column != "auto") return data::parse_tag_column(o.column, format);
  if (format == data::ColumnFormat::kConllu) return 4;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    int n = 0;
    for (std::string f; fields >> f;) ++n;
    if (n > 0) {
      RECUR_REQUIRE(n >= 2, fmt::format("{}: the first line has one column: no tags to learn", o.data));
      return n;
    }
  }
  return 2;
}

// --init-from keeps the model's way of reading files (its format, tag column and feature columns: its
// output layer and embeddings are made for them); a flag that asks for another is an error, not
// silently ignored.
void check_reading_flags(const CLI::App& cmd, const TagFlags& o, const models::TaggerConfig& c) {
  const data::ColumnFormat format = data::parse_column_format(c.format);
  const auto given = [&](const char* flag) { return cmd.get_option(flag)->count() > 0; };
  const auto refuse = [&](const std::string& flag, const std::string& want) {
    throw Error(
        fmt::format("{} reads {} files, tags in column {}, features from columns [{}]; {} {} needs a new "
                    "model: drop --init-from, or the flag",
                    o.trainer.init_from, c.format, c.column, fmt::join(c.feature_columns, ", "), flag, want));
  };
  if (given("--format") && o.format != "auto" && data::parse_column_format(o.format) != format)
    refuse("--format", o.format);
  if (given("--column") && o.column != "auto" && data::parse_tag_column(o.column, format) != c.column)
    refuse("--column", o.column);
  if (given("--feature-columns") &&
      data::parse_feature_columns(o.feature_columns, format, c.column) != c.feature_columns)
    refuse("--feature-columns", o.feature_columns);
}

void run_tag_training(CLI::App& cmd, TagFlags& o) {
  std::optional<io::Safetensors> resume_file = resolve_settings(cmd, o.trainer, models::kTagTask);
  const BundledSplits splits = bundled_splits(o.data);
  if (o.trainer.val_data.empty()) o.trainer.val_data = splits.val;
  if (o.trainer.test_data.empty()) o.trainer.test_data = splits.test;
  check_trainer_flags(o.trainer);
  apply_threads(o.trainer.threads);

  // The model and vocabularies: from --resume or --init-from, else new from the data.
  std::unique_ptr<models::Tagger<float>> model;
  models::TaggerVocabularies vocabularies;
  if (resume_file || !o.trainer.init_from.empty()) {
    io::Safetensors file =
        resume_file ? std::move(*resume_file) : io::Safetensors::read_file(o.trainer.init_from);
    models::LoadedTagger loaded = models::load_tagger(std::move(file));
    io::require_finite(loaded.model->params(), loaded.file.source());
    model = std::move(loaded.model);
    vocabularies = std::move(loaded.vocabularies);
    if (resume_file) resume_file = std::move(loaded.file);
  }
  if (model && !resume_file) check_reading_flags(cmd, o, model->config());
  const train::RunDirectory run_directory(o.trainer.checkpoint_dir, resume_file ? &*resume_file : nullptr,
                                          o.trainer.overwrite);
  const std::string name = data_name(o.data);
  const std::string text = load_data(o.data);
  // A checkpoint fixes how files are read; the flags name it for a new model.
  const data::ColumnFormat format =
      model ? data::parse_column_format(model->config().format) : resolve_format(o);
  const int column = model ? model->config().column : resolve_column(o, format, text);
  const std::vector<int> features = model ? model->config().feature_columns
                                          : data::parse_feature_columns(o.feature_columns, format, column);
  std::vector<data::TaggedSentence> train_sentences = data::read_tagged(text, format, column, name, features);
  std::vector<data::TaggedSentence> val_sentences;
  if (!o.trainer.val_data.empty()) {
    val_sentences = data::read_tagged(load_data(o.trainer.val_data), format, column,
                                      data_name(o.trainer.val_data), features);
  } else if (o.val_frac > 0) {
    // A seeded shuffle of the sentences; the last val_frac of them validate.
    std::vector<size_t> order(train_sentences.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    Rng split_rng(o.trainer.seed, /*stream=*/7);
    for (size_t i = order.size() - 1; i > 0; --i)
      std::swap(order[i], order[split_rng.below(static_cast<std::uint32_t>(i + 1))]);
    const auto n_val = std::max<size_t>(1, static_cast<size_t>(o.val_frac * double(order.size()) + 0.5));
    std::vector<data::TaggedSentence> kept;
    std::vector<bool> to_val(order.size(), false);
    for (size_t i = order.size() - n_val; i < order.size(); ++i) to_val[order[i]] = true;
    for (size_t i = 0; i < train_sentences.size(); ++i)
      (to_val[i] ? val_sentences : kept).push_back(std::move(train_sentences[i]));
    train_sentences = std::move(kept);
  }
  if (!model) {
    vocabularies = models::tagger_vocabularies(train_sentences, o.min_freq);
    models::TaggerConfig c;
    c.cell = nn::parse_cell_kind(o.model);
    c.num_layers = o.num_layers;
    c.rnn_size = o.rnn_size;
    c.bidirectional = !o.unidirectional;
    RECUR_REQUIRE(!o.residual || o.num_layers >= 2,
                  "--residual connects stacked layers: it needs --num-layers 2 or more");
    c.residual = o.residual;
    c.word_embedding_size = o.embedding_size;
    c.char_embedding_size = o.char_embedding_size;
    c.char_rnn_size = o.char_rnn_size;
    c.word_vocab_size = vocabularies.words.size();
    c.char_vocab_size = vocabularies.chars.size();
    c.num_tags = vocabularies.tags.size();
    c.dropout = o.dropout;
    c.crf = o.crf;
    c.format = data::column_format_name(format);
    c.column = column;
    c.feature_columns = features;
    for (const data::Vocab& v : vocabularies.features) c.feature_vocab_sizes.push_back(v.size());
    c.feature_embedding_size = o.feature_embedding_size;
    model = std::make_unique<models::Tagger<float>>(c);
    Rng init_rng(o.trainer.seed);
    model->init(init_rng);
    if (!o.embeddings.empty()) {
      Tensor<float> table = model->params().value(model->params().id("word_embedding.weight"));
      const models::WordVectorsLoaded v = models::load_word_vectors(o.embeddings, vocabularies.words, table);
      fmt::print(stderr,
                 "word vectors: {} of {} words from {} ({} by their lower-cased form; {} vectors in it)\n",
                 v.found, vocabularies.words.size() - 2, o.embeddings, v.lower_case, v.lines);
    }
  }
  models::EncodedSentences train_ids = models::encode_sentences(train_sentences, vocabularies);
  models::EncodedSentences val_ids = models::encode_sentences(val_sentences, vocabularies);
  data::SequenceBatchOptions batching;
  batching.batch_size = o.trainer.batch_size;
  batching.bucket = o.bucket;
  batching.seed = o.trainer.seed;
  std::string feature_text;
  for (size_t f = 0; f < features.size(); ++f)
    feature_text += fmt::format(", {} values in column {}", vocabularies.features[f].size(), features[f]);
  const std::string description = fmt::format(
      "data {}: {} sentences ({} words) train / {} validate{}; {} words, {} characters, {} tags (column "
      "{}){}",
      name, train_ids.size(), train_ids.total_words, val_ids.size(),
      o.trainer.val_data.empty() ? "" : fmt::format(" (from {})", data_name(o.trainer.val_data)),
      vocabularies.words.size(), vocabularies.chars.size(), vocabularies.tags.size(), column, feature_text);
  RECUR_REQUIRE(!(model->config().crf && o.label_smoothing > 0.0),
                "--label-smoothing smooths the softmax's targets; this model decodes with a CRF (drop one of "
                "them)");
  models::TaggerTask task(*model, vocabularies, std::move(train_ids), std::move(val_ids), batching,
                          o.word_dropout, o.label_smoothing);
  const long total = total_iterations(o.trainer, task.batches_per_epoch());

  const auto optimizer = make_optimizer(o.trainer, model->params());
  const auto schedule = make_schedule(o.trainer, total);
  Rng rng(o.trainer.seed, /*stream=*/1);  // dropout, <unk> for rare words

  const Settings settings = run_settings(cmd);
  train::TrainerOptions t = trainer_options(o.trainer, total, task.batches_per_epoch(), settings);
  const models::TaggerConfig& c = model->config();
  t.plot_title = fmt::format("{}{} {}×{}{} on {}", c.bidirectional ? "bi-" : "", nn::cell_name(c.cell),
                             c.num_layers, c.rnn_size, c.crf ? " + CRF" : "", o.data);
  train::Trainer trainer(task, *optimizer, *schedule, rng, std::move(t));
  if (resume_file) trainer.restore(*resume_file);
  write_run_config(o.trainer, settings, models::kTagTask);

  trainer.message(description);
  trainer.message(fmt::format(
      "model {}{} × {} layers{} × {} per direction, words {}{}{}, {}; {} parameters; {} threads",
      c.bidirectional ? "bidirectional " : "", nn::cell_name(c.cell), c.num_layers,
      c.residual ? " (residual)" : "", c.rnn_size, c.word_embedding_size,
      c.feature_columns.empty()
          ? ""
          : fmt::format(" + {} feature column(s) × {}", c.feature_columns.size(), c.feature_embedding_size),
      c.char_features() ? fmt::format(" + characters {} → {}×2", c.char_embedding_size, c.char_rnn_size) : "",
      c.crf ? "CRF" : "softmax", model->params().numel(), num_threads()));
  trainer.message(fmt::format("optimizer {} ({}), clip {} {}", optimizer->describe(), schedule->describe(),
                              o.trainer.clip_mode, o.trainer.grad_clip));
  trainer.run();
  if (!trainer.interrupted()) evaluate_test_data(o.trainer);
  print_run_summary(trainer, o.trainer, models::kTagTask, task.best_metric().name, "tag with: recur predict");
}

}  // namespace

void add_train_tag_command(CLI::App& train) {
  auto flags = std::make_shared<TagFlags>();
  flags->trainer.batch_size = 32;
  flags->trainer.optimizer = "adam";
  flags->trainer.learning_rate = 1e-3;
  flags->trainer.lr_schedule = "constant";
  flags->trainer.max_epochs = 30;
  flags->trainer.eval_val_every = 0;  // once per epoch
  CLI::App* cmd = train.add_subcommand(
      "tag", "a tagger: a tag per word (part of speech, chunks) from CoNLL-U or column files");
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  add_tag_flags(*cmd, *flags);
  add_trainer_flags(*cmd, flags->trainer);
  cmd->callback([cmd, flags] { run_tag_training(*cmd, *flags); });
}

}  // namespace recur::cli
