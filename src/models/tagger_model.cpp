#include "recur/models/tagger_model.h"

#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "recur/io/parameters_io.h"
#include "recur/models/checkpoint.h"
#include "recur/models/tag_report.h"

namespace recur::models {

namespace {

constexpr const char* kCharsKey = "recur.chars";
constexpr const char* kTagsKey = "recur.tags";
// recur.features.<i>: the vocabulary of the model's i-th feature column.
std::string feature_key(size_t i) {
  return fmt::format("recur.features.{}", i);
}

data::Vocab vocabulary(const io::Safetensors& file, const std::string& key, index_t size) {
  const auto it = file.metadata().find(key);
  RECUR_REQUIRE(
      it != file.metadata().end(),
      fmt::format("{}: no {} in the metadata (not a recur tagger checkpoint?)", file.source(), key));
  data::Vocab v = data::Vocab::from_json(it->second, file.source());
  RECUR_REQUIRE(v.size() == size, fmt::format("{}: {} holds {} entries, the config says {}", file.source(),
                                              key, v.size(), size));
  return v;
}

data::ColumnFormat format_of(const TaggerConfig& c) {
  return data::parse_column_format(c.format);
}

}  // namespace

io::Safetensors tagger_file(const Tagger<float>& model, const TaggerVocabularies& v) {
  io::Safetensors file;
  io::store_parameters(file, model.params());
  file.metadata()[kTaskKey] = kTagTask;
  file.metadata()[kConfigKey] = model.config().to_json();
  file.metadata()[kVocabKey] = v.words.to_json();
  file.metadata()[kCharsKey] = v.chars.to_json();
  file.metadata()[kTagsKey] = v.tags.to_json();
  for (size_t f = 0; f < v.features.size(); ++f) file.metadata()[feature_key(f)] = v.features[f].to_json();
  return file;
}

LoadedTagger load_tagger(io::Safetensors file) {
  const std::string& source = file.source();
  const std::string task = checkpoint_task(file);
  RECUR_REQUIRE(task == kTagTask, fmt::format("{}: holds a '{}' model, not a tagger", source, task));
  const auto config_text = file.metadata().find(kConfigKey);
  RECUR_REQUIRE(config_text != file.metadata().end(),
                fmt::format("{}: no {} in the metadata", source, kConfigKey));
  const TaggerConfig config = TaggerConfig::from_json(config_text->second, source);
  LoadedTagger loaded;
  loaded.vocabularies.words = vocabulary(file, kVocabKey, config.word_vocab_size);
  loaded.vocabularies.chars = vocabulary(file, kCharsKey, config.char_vocab_size);
  loaded.vocabularies.tags = vocabulary(file, kTagsKey, config.num_tags);
  for (size_t f = 0; f < config.feature_columns.size(); ++f)
    loaded.vocabularies.features.push_back(vocabulary(file, feature_key(f), config.feature_vocab_sizes[f]));
  // The header against the config before the model is allocated (the config is input, not truth).
  io::check_parameter_shapes(file, Tagger<float>::parameter_shapes(config), {kTrainingPrefix});
  loaded.model = std::make_unique<Tagger<float>>(config);
  io::load_parameters(file, loaded.model->params(), {kTrainingPrefix});
  loaded.file = std::move(file);
  return loaded;
}

std::unique_ptr<TaskModel> open_tagger(io::Safetensors file) {
  return std::make_unique<TaggerModel>(load_tagger(std::move(file)));
}

TaggerModel::TaggerModel(LoadedTagger loaded)
    : TaskModel(std::move(loaded.file)),
      model_(std::move(loaded.model)),
      vocabularies_(std::move(loaded.vocabularies)) {}

std::vector<std::pair<std::string, std::string>> TaggerModel::describe() const {
  std::string tags;
  for (const std::string& t : vocabularies_.tags.tokens()) tags += (tags.empty() ? "" : " ") + t;
  const TaggerConfig& c = model_->config();
  std::string features;
  for (size_t f = 0; f < c.feature_columns.size(); ++f)
    features += fmt::format("{}{} ({} values)", f ? ", " : "; features from column ", c.feature_columns[f],
                            vocabularies_.features[f].size());
  return {{"reads", fmt::format("{} files, tags in column {}{}", c.format, c.column, features)},
          {"words", fmt::format("{} (with <pad> <unk>), {} characters", vocabularies_.words.size(),
                                vocabularies_.chars.size())},
          {"tags", fmt::format("{}: {}", vocabularies_.tags.size(), tags)}};
}

Evaluation TaggerModel::evaluate(std::string_view text, std::string_view source,
                                 const EvaluateOptions& options) const {
  const TaggerConfig& c = model_->config();
  const std::vector<data::TaggedSentence> sentences =
      data::read_tagged(text, format_of(c), c.column, std::string(source), c.feature_columns);
  const EncodedSentences encoded = encode_sentences(sentences, vocabularies_);
  const TaggerEvaluation e = evaluate_tagger(*model_, vocabularies_, encoded);
  nlohmann::ordered_json j{{"accuracy", e.accuracy},
                           {"loss", e.loss},
                           {"tokens", e.words},
                           {"sentences", e.sentences},
                           {"unknown_words", encoded.unknown_words},
                           {"unknown_tags", encoded.unknown_tags}};
  std::string summary =
      fmt::format("{}: {} sentences, {} words: accuracy {:.2f}%", source, e.sentences, e.words, e.accuracy);
  if (e.chunks) {
    j["precision"] = e.precision;
    j["recall"] = e.recall;
    j["f1"] = e.f1;
    summary +=
        fmt::format(", chunks precision {:.2f}% recall {:.2f}% F1 {:.2f}", e.precision, e.recall, e.f1);
  }
  if (encoded.unknown_tags > 0)
    summary += fmt::format(" ({} gold tags the model does not know, counted wrong)", encoded.unknown_tags);
  if (!options.report_dir.empty()) {
    std::filesystem::create_directories(options.report_dir);
    write_tag_reports(options.report_dir, e.scores, fmt::format("{} on {}", file().source(), source));
    summary += fmt::format("; tags.tsv and confusion.svg in {}", options.report_dir);
  }
  return {j.dump(), summary};
}

namespace {

// The sentence's lines with the tag column filled in (added when a line has fewer columns).
std::string with_tags(const data::TaggedSentence& s, const std::vector<std::string>& tags,
                      data::ColumnFormat format, int column) {
  std::vector<std::string> lines = s.lines;
  const char separator = format == data::ColumnFormat::kConllu ? '\t' : ' ';
  for (size_t w = 0; w < s.words.size(); ++w) {
    std::string& line = lines[static_cast<size_t>(s.word_line[w])];
    std::vector<std::string> columns;
    std::string field;
    std::istringstream fields(line);
    if (format == data::ColumnFormat::kConllu) {
      while (std::getline(fields, field, '\t')) columns.push_back(field);
    } else {
      while (fields >> field) columns.push_back(field);
    }
    if (static_cast<int>(columns.size()) < column) columns.resize(static_cast<size_t>(column), "_");
    columns[static_cast<size_t>(column - 1)] = tags[w];
    line.clear();
    for (size_t i = 0; i < columns.size(); ++i) line += (i ? std::string(1, separator) : "") + columns[i];
  }
  std::string out;
  for (const std::string& line : lines) out += line + '\n';
  return out + '\n';
}

// Whether the input holds more characters already read (so that batching them waits for nothing).
bool more_buffered(std::istream& in) {
  return in.rdbuf() != nullptr && in.rdbuf()->in_avail() > 0;
}

}  // namespace

std::vector<std::vector<std::string>> TaggerModel::tag(
    const std::vector<data::TaggedSentence>& sentences) const {
  const EncodedSentences encoded = encode_sentences(sentences, vocabularies_);
  std::vector<index_t> all(sentences.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<index_t>(i);
  const TaggerBatch batch = tagger_batch(encoded, all);  // longest first: batch.items says where each is
  const std::vector<std::int32_t> best = model_->decode(batch);
  std::vector<std::vector<std::string>> tags(sentences.size());
  for (index_t b = 0; b < batch.B; ++b) {
    auto& out = tags[static_cast<size_t>(batch.items[static_cast<size_t>(b)])];
    for (index_t t = 0; t < batch.lengths[static_cast<size_t>(b)]; ++t)
      out.push_back(vocabularies_.tags.token(best[static_cast<size_t>(t * batch.B + b)]));
  }
  return tags;
}

void TaggerModel::predict(std::istream& in, std::string_view source, const PredictOptions& options,
                          const std::function<void(std::string_view)>& emit) const {
  const TaggerConfig& c = model_->config();
  const index_t batch_size = std::max<index_t>(1, options.batch_size);
  if (options.plain_text) {
    RECUR_REQUIRE(c.feature_columns.empty(),
                  fmt::format("{} reads column {} beside each word, which plain text does not have: give it "
                              "a {} file",
                              file().source(), c.feature_columns.front(), c.format));
    // Lines in order; the blank ones stay blank, the others are tagged a batch at a time.
    std::vector<std::vector<std::string>> lines;
    const auto flush = [&] {
      std::vector<data::TaggedSentence> sentences;
      for (const auto& words : lines)
        if (!words.empty()) {
          data::TaggedSentence s;
          s.words = words;
          sentences.push_back(std::move(s));
        }
      const std::vector<std::vector<std::string>> tags = tag(sentences);
      std::string out;
      size_t next = 0;
      for (const auto& words : lines) {
        if (!words.empty()) {
          const std::vector<std::string>& line_tags = tags[next++];
          for (size_t i = 0; i < words.size(); ++i)
            out += fmt::format("{}{}/{}", i ? " " : "", words[i], line_tags[i]);
        }
        out += '\n';
      }
      lines.clear();
      emit(out);
    };
    std::string line;
    while (std::getline(in, line)) {
      lines.push_back(data::split_words(line));
      if (static_cast<index_t>(lines.size()) >= batch_size || !more_buffered(in)) flush();
    }
    if (!lines.empty()) flush();
    return;
  }
  const data::ColumnFormat format = format_of(c);
  data::TaggedSentenceReader reader(in, format, 0, std::string(source), c.feature_columns);
  std::vector<data::TaggedSentence> pending;
  const auto flush = [&] {
    const std::vector<std::vector<std::string>> tags = tag(pending);
    std::string out;
    for (size_t i = 0; i < pending.size(); ++i) out += with_tags(pending[i], tags[i], format, c.column);
    pending.clear();
    emit(out);
  };
  while (auto s = reader.next()) {
    pending.push_back(std::move(*s));
    if (static_cast<index_t>(pending.size()) >= batch_size || !more_buffered(in)) flush();
  }
  if (!pending.empty()) flush();
}

}  // namespace recur::models
