// Hostile checkpoints, generated from a good one and given to every command that opens a
// checkpoint (inspect, eval, sample, train --init-from, train --resume). Each file damages one
// thing a reader trusts: the model config (sizes that overflow, hang or exhaust memory), the
// vocabulary, the tensors (missing, misshapen, of another dtype, not finite), the training state
// (only --resume reads it) or the bytes themselves. Every command must end with its documented
// outcome: a one-line error on stderr that names the file and says what is wrong, exit code 1 (or a
// normal run where the damage is in a part the command does not read), and never a crash, a hang,
// a bare library exception or a message thousands of lines long.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_test.h"
#include "recur/io/safetensors.h"

namespace recur {
namespace {

using json = nlohmann::json;

// Which commands read the damaged part: every reader of the model, --resume only (the training
// state), or none at all (a file that is not a checkpoint; inspect refuses it too).
enum class Reach { kModel, kTraining, kFile };

struct Hostile {
  std::string name;  // the file is bad/<name>.safetensors
  Reach reach;
  std::string says;  // part of the error every refusing command prints
  // Edits the good checkpoint's tensors and metadata; or, when `bytes` is set, replaces the file.
  std::function<void(std::map<std::string, io::SafetensorsEntry>&, std::map<std::string, std::string>&)> edit;
  std::function<std::string(const std::string& good_bytes)> bytes;
};

// recur.config or recur.train with one key set to a raw JSON value.
auto set_json(const char* key, const std::string& field, const std::string& raw_value) {
  return [=](std::map<std::string, io::SafetensorsEntry>&, std::map<std::string, std::string>& meta) {
    json j = json::parse(meta.at(key));
    j[field] = json::parse(raw_value);
    meta[key] = j.dump();
  };
}
auto set_config(const std::string& field, const std::string& raw_value) {
  return set_json("recur.config", field, raw_value);
}
auto set_train(const std::string& field, const std::string& raw_value) {
  return set_json("recur.train", field, raw_value);
}
auto set_meta(const char* key, const std::string& text) {
  return [=](std::map<std::string, io::SafetensorsEntry>&, std::map<std::string, std::string>& meta) {
    meta[key] = text;
  };
}
// Tensor `name`'s first float replaced by `value`.
auto poison(const std::string& name, float value) {
  return [=](std::map<std::string, io::SafetensorsEntry>& tensors, std::map<std::string, std::string>&) {
    std::memcpy(tensors.at(name).data.data(), &value, sizeof value);
  };
}

std::vector<Hostile> hostile_checkpoints() {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  using Tensors = std::map<std::string, io::SafetensorsEntry>;
  using Meta = std::map<std::string, std::string>;
  return {
      // The config: checked by exact type and range, then against the file's header, before
      // anything is allocated.
      {"layers_1e9", Reach::kModel, "\"num_layers\" must be an integer in [1, 64], got 1000000000",
       set_config("num_layers", "1000000000"), nullptr},
      {"layers_2pow32plus2", Reach::kModel, "got 4294967298", set_config("num_layers", "4294967298"),
       nullptr},
      {"layers_fraction", Reach::kModel, "got 2.7", set_config("num_layers", "2.7"), nullptr},
      {"layers_64", Reach::kModel, "missing tensors rnn.weight_ih_l2", set_config("num_layers", "64"),
       nullptr},
      {"size_8000", Reach::kModel, "rnn.weight_ih_l0 is (128, 16) in the file, the model needs (32000, 16)",
       set_config("rnn_size", "8000"), nullptr},
      {"size_2pow30", Reach::kModel, "\"rnn_size\" must be an integer in [1, 65536], got 1073741824",
       set_config("rnn_size", "1073741824"), nullptr},
      {"size_2pow62", Reach::kModel, "\"rnn_size\" must be an integer in [1, 65536]",
       set_config("rnn_size", "4611686018427387904"), nullptr},
      {"vocab_size_off", Reach::kModel, "vocab", set_config("vocab_size", "66"), nullptr},
      {"unknown_cell", Reach::kModel, "unknown cell 'transformer'", set_config("model", "\"transformer\""),
       nullptr},
      {"config_not_json", Reach::kModel, "recur.config is not valid JSON",
       set_meta("recur.config", "{\"model\":"), nullptr},
      {"config_missing", Reach::kModel, "recur.config",
       [](Tensors&, Meta& meta) { meta.erase("recur.config"); }, nullptr},
      {"unknown_task", Reach::kModel, "forecast", set_meta("recur.task", "forecast"), nullptr},
      // The vocabulary.
      {"vocab_not_json", Reach::kModel, "recur.vocab", set_meta("recur.vocab", "[\"a\","), nullptr},
      {"vocab_duplicate", Reach::kModel, "recur.vocab",
       [](Tensors&, Meta& meta) {
         json v = json::parse(meta.at("recur.vocab"));
         v["tokens"][1] = v["tokens"][0];
         meta["recur.vocab"] = v.dump();
       },
       nullptr},
      // The tensors.
      {"tensor_missing", Reach::kModel, "missing tensor rnn.weight_hh_l1",
       [](Tensors& tensors, Meta&) { tensors.erase("rnn.weight_hh_l1"); }, nullptr},
      {"tensor_misshapen", Reach::kModel, "decoder.bias",
       [](Tensors& tensors, Meta&) {
         io::SafetensorsEntry& e = tensors.at("decoder.bias");
         e.shape = {e.shape[0] - 1};
         e.data.resize(e.data.size() - 4);
       },
       nullptr},
      {"tensor_f16", Reach::kModel, "decoder.bias",
       [](Tensors& tensors, Meta&) {
         io::SafetensorsEntry& e = tensors.at("decoder.bias");
         e.dtype = io::Dtype::kF16;
         e.data.resize(e.data.size() / 2);
       },
       nullptr},
      {"weight_nan", Reach::kModel, "tensor rnn.weight_hh_l0 holds 1 non-finite value",
       poison("rnn.weight_hh_l0", nan), nullptr},
      {"weight_inf", Reach::kModel, "tensor embedding.weight holds 1 non-finite value",
       poison("embedding.weight", inf), nullptr},
      // The training state: only --resume reads it.
      {"train_not_json", Reach::kTraining, "recur.train", set_meta("recur.train", "{oops"), nullptr},
      {"train_missing", Reach::kTraining, "no training state (recur.train) to resume from",
       [](Tensors&, Meta& meta) { meta.erase("recur.train"); }, nullptr},
      {"iteration_negative", Reach::kTraining, "\"iteration\" must be a non-negative integer, got -5",
       set_train("iteration", "-5"), nullptr},
      {"iteration_text", Reach::kTraining, "\"iteration\" must be a non-negative integer",
       set_train("iteration", "\"many\""), nullptr},
      {"rng_not_a_number", Reach::kTraining, "rng \"state\" must be a 64-bit unsigned integer",
       [](Tensors&, Meta& meta) {
         json t = json::parse(meta.at("recur.train"));
         t["rng"]["state"] = "12x";
         meta["recur.train"] = t.dump();
       },
       nullptr},
      {"run_id_bad", Reach::kTraining, "\"run\" must be 16 hexadecimal digits",
       set_train("run", "\"../../x\""), nullptr},
      {"optimizer_other", Reach::kTraining, "the run's optimizer is adam, not rmsprop",
       set_train("optimizer", "\"adam\""), nullptr},
      {"optimizer_nan", Reach::kTraining, "tensor train.optimizer.square_avg holds 1 non-finite value",
       poison("train.optimizer.square_avg", nan), nullptr},
      {"optimizer_missing", Reach::kTraining, "square_avg",
       [](Tensors& tensors, Meta&) { tensors.erase("train.optimizer.square_avg"); }, nullptr},
      {"carry_missing", Reach::kTraining, "train.carry",
       [](Tensors& tensors, Meta&) { tensors.erase("train.carry.c.1"); }, nullptr},
      {"carry_misshapen", Reach::kTraining, "train.carry.h.0",
       [](Tensors& tensors, Meta&) {
         io::SafetensorsEntry& e = tensors.at("train.carry.h.0");
         e.shape = {e.shape[0] / 2, e.shape[1]};
         e.data.resize(e.data.size() / 2);
       },
       nullptr},
      {"carry_nan", Reach::kTraining, "tensor train.carry.h.1 holds 1 non-finite value",
       poison("train.carry.h.1", nan), nullptr},
      // Raw weights of an averaging run (--ema) in a run that does not average.
      {"ema_raw_unexpected", Reach::kTraining, "the run averages its weights",
       [](Tensors& tensors, Meta&) { tensors["train.ema.raw"] = tensors.at("train.optimizer.square_avg"); },
       nullptr},
      // The bytes.
      {"empty", Reach::kFile, "", nullptr, [](const std::string&) { return std::string(); }},
      {"truncated", Reach::kFile, "", nullptr,
       [](const std::string& good) { return good.substr(0, good.size() / 2); }},
      {"header_length_huge", Reach::kFile, "", nullptr,
       [](const std::string& good) {
         std::string bytes = good;
         const std::uint64_t n = std::uint64_t(1) << 62;
         std::memcpy(bytes.data(), &n, sizeof n);
         return bytes;
       }},
      {"text", Reach::kFile, "", nullptr, [](const std::string&) { return std::string("hello, world\n"); }},
  };
}

class HostileCheckpoints : public Cli {
 protected:
  // The good run: a 2-layer LSTM (rnn 32, embedding 16, 4 gates → 128 rows) with RMSprop and a
  // carried state, and one file per hostile case in bad/.
  void SetUp() override {
    Cli::SetUp();
    const Result trained = run("train " + small_model() + " --max-iters 3 --checkpoint-dir cv");
    ASSERT_EQ(trained.exit_code, 0) << trained.err;
    const std::string good_bytes = slurp(dir_ / "cv/last.safetensors");
    const io::Safetensors good = io::Safetensors::read_file((dir_ / "cv/last.safetensors").string());
    fs::create_directories(dir_ / "bad");
    for (const Hostile& h : hostile_checkpoints()) {
      const fs::path path = dir_ / "bad" / (h.name + ".safetensors");
      if (h.bytes) {
        std::ofstream(path, std::ios::binary) << h.bytes(good_bytes);
        continue;
      }
      std::map<std::string, io::SafetensorsEntry> tensors = good.entries();
      std::map<std::string, std::string> meta = good.metadata();
      h.edit(tensors, meta);
      io::Safetensors out;
      for (auto& [name, entry] : tensors) out.add(name, std::move(entry));
      out.metadata() = meta;
      out.write_file(path.string());
    }
  }

  // A refusal: exit code 1, and one line on stderr, "error: " and a message of at most a few
  // hundred characters naming the file and saying `says`, with no library exception's text.
  ::testing::AssertionResult refused(const Result& r, const std::string& file,
                                     const std::string& says) const {
    if (r.exit_code != 1)
      return ::testing::AssertionFailure() << "exit code " << r.exit_code << ": " << r.err;
    const std::string last_line =
        r.err.substr(r.err.rfind("error: ") == std::string::npos ? 0 : r.err.rfind("error: "));
    if (last_line.rfind("error: ", 0) != 0)
      return ::testing::AssertionFailure() << "no error line: " << r.err;
    if (last_line.find(file) == std::string::npos)
      return ::testing::AssertionFailure() << "the error does not name " << file << ": " << last_line;
    if (last_line.find(says) == std::string::npos)
      return ::testing::AssertionFailure() << "the error does not say \"" << says << "\": " << last_line;
    if (last_line.size() > kMaxErrorBytes)
      return ::testing::AssertionFailure() << "the error is " << last_line.size() << " bytes long";
    for (const char* leak : {"json.exception", "bad_alloc", "stoull", "stoi", "basic_string", "std::"})
      if (last_line.find(leak) != std::string::npos)
        return ::testing::AssertionFailure() << "a library exception leaks (" << leak << "): " << last_line;
    return ::testing::AssertionSuccess();
  }

  static constexpr size_t kMaxErrorBytes = 600;
};

TEST_F(HostileCheckpoints, EveryCommandRefusesEachByNameOrReadsWhatItNeeds) {
  for (const Hostile& h : hostile_checkpoints()) {
    SCOPED_TRACE(h.name);
    const std::string file = "bad/" + h.name + ".safetensors";
    const Result eval = run("eval " + file + " text.txt --json");
    const Result sample = run("sample " + file + " --length 20 --seed 1");
    const Result init = run("train " + small_model() + " --max-iters 1 --init-from " + file +
                            " --checkpoint-dir init_" + h.name);
    const Result resume = run("train --resume " + file + " --max-iters 5 --checkpoint-dir resume_" + h.name);
    const Result inspect = run("inspect " + file);
    EXPECT_TRUE(refused(resume, file, h.says)) << "train --resume";
    if (h.reach == Reach::kTraining) {
      // The model is whole: every other command reads it.
      EXPECT_EQ(eval.exit_code, 0) << eval.err;
      EXPECT_EQ(sample.exit_code, 0) << sample.err;
      EXPECT_EQ(init.exit_code, 0) << init.err;
      EXPECT_EQ(inspect.exit_code, 0) << inspect.err;
      continue;
    }
    EXPECT_TRUE(refused(eval, file, h.says)) << "eval";
    EXPECT_TRUE(refused(sample, file, h.says)) << "sample";
    EXPECT_TRUE(refused(init, file, h.says)) << "train --init-from";
    EXPECT_TRUE(eval.out.empty()) << eval.out;  // no half a result
    if (h.reach == Reach::kFile) {
      EXPECT_TRUE(refused(inspect, file, h.says)) << "inspect";
    } else {
      // inspect shows what it can of a damaged model, or refuses it by name; never a crash.
      EXPECT_TRUE(inspect.exit_code == 0 || refused(inspect, file, "")) << inspect.err;
      EXPECT_LT(inspect.out.size(), 20000u);
    }
    EXPECT_FALSE(fs::exists(dir_ / ("init_" + h.name) / "last.safetensors"));
  }
}

}  // namespace
}  // namespace recur
