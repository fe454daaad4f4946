// End-to-end: the `recur` binary as a user runs it — train, resume, sample, eval, inspect, and its
// errors. Each test works in its own temporary directory on a small slice of tiny-shakespeare.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli_test.h"
#include "recur/io/safetensors.h"
#include "recur/models/rnn_lm_checkpoint.h"
#include "recur/ops/gemm.h"
#include "recur/train/trainer.h"

namespace recur {
namespace {

::testing::AssertionResult same_tensors(const io::Safetensors& a, const io::Safetensors& b,
                                        const std::string& prefix) {
  for (const std::string& name : a.names()) {
    if (name.rfind(prefix, 0) != 0) continue;
    if (!b.contains(name)) return ::testing::AssertionFailure() << name << " missing";
    if (!(a.entry(name) == b.entry(name))) return ::testing::AssertionFailure() << name << " differs";
  }
  return ::testing::AssertionSuccess();
}

TEST_F(Cli, TrainSampleEvalInspect) {
  const Result train =
      run("train " + small_model() + " --max-iters 30 --eval-val-every 10 --checkpoint-dir cv");
  ASSERT_EQ(train.exit_code, 0) << train.err;
  for (const char* f : {"cv/best.safetensors", "cv/last.safetensors", "cv/metrics.jsonl", "cv/loss.svg"})
    EXPECT_TRUE(fs::exists(dir_ / f)) << f;
  // metrics.jsonl: one train line per --log-every 5 iterations and three val lines, all valid JSON.
  std::ifstream metrics(dir_ / "cv/metrics.jsonl");
  int train_lines = 0, val_lines = 0;
  for (std::string line; std::getline(metrics, line);) {
    const auto j = nlohmann::json::parse(line);
    train_lines += j.at("event") == "train";
    val_lines += j.at("event") == "val";
  }
  EXPECT_EQ(train_lines, 6);
  EXPECT_EQ(val_lines, 3);

  // The best checkpoint alone is enough to sample and evaluate: model tensors + the two keys.
  const io::Safetensors best = io::Safetensors::read_file((dir_ / "cv/best.safetensors").string());
  for (const std::string& name : best.names()) EXPECT_NE(name.rfind("train.", 0), 0u) << name;
  EXPECT_TRUE(best.metadata().count("recur.config"));
  EXPECT_TRUE(best.metadata().count("recur.vocab"));

  const Result sample = run("sample cv/best.safetensors --length 200 --prime-text 'The ' --seed 3");
  ASSERT_EQ(sample.exit_code, 0) << sample.err;
  // --prime-file: the same prime read from a file gives the same text.
  std::ofstream(dir_ / "prime.txt", std::ios::binary) << "The ";
  EXPECT_EQ(run("sample cv/best.safetensors --length 200 --prime-file prime.txt --seed 3").out, sample.out);
  EXPECT_EQ(sample.out.rfind("The ", 0), 0u);
  EXPECT_GE(sample.out.size(), 204u);
  // Same seed, same text; argmax is deterministic too.
  EXPECT_EQ(run("sample cv/best.safetensors --length 200 --prime-text 'The ' --seed 3").out, sample.out);
  EXPECT_EQ(run("sample cv/best.safetensors --length 50 --argmax --seed 1").out,
            run("sample cv/best.safetensors --length 50 --argmax --seed 2").out);

  const Result eval = run("eval cv/best.safetensors text.txt --json");
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const auto e = nlohmann::json::parse(eval.out);
  EXPECT_EQ(e.at("tokens").get<long>(), 29999);
  const double loss = e.at("loss").get<double>();
  EXPECT_GT(loss, 1.0);
  EXPECT_LT(loss, std::log(65.0));  // better than uniform over the vocabulary after 30 steps
  EXPECT_NEAR(e.at("bpc").get<double>(), loss / std::log(2.0), 1e-12);
  EXPECT_NEAR(e.at("perplexity").get<double>(), std::exp(loss), 1e-9);
  // The chunk length only changes how the file is cut, not the result.
  const auto e2 = nlohmann::json::parse(run("eval cv/best.safetensors text.txt --json --chunk 37").out);
  EXPECT_NEAR(e2.at("loss").get<double>(), loss, 1e-6);

  const Result inspect = run("inspect cv/last.safetensors");
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_NE(inspect.out.find("rnn.weight_hh_l1"), std::string::npos);
  EXPECT_NE(inspect.out.find("iteration 30"), std::string::npos);
  EXPECT_EQ(inspect.out.back(), '\n') << "the shell prompt must not land on the last line";
}

// Training k steps, stopping, and resuming to N gives the same weights, optimizer state and
// carried state, bit for bit, as training N steps straight (same thread count).
// The points of an SVG polyline of class `name`, or "" when it has none.
std::string polyline(const std::string& svg, const std::string& name) {
  const size_t at = svg.find("<polyline class=\"" + name + "\"");
  if (at == std::string::npos) return "";
  const size_t begin = svg.find("points=\"", at) + 8;
  return svg.substr(begin, svg.find('"', begin) - begin);
}

TEST_F(Cli, ResumeIsBitIdentical) {
  for (const char* optimizer : {"adam", "rmsprop"}) {
    SCOPED_TRACE(optimizer);
    const std::string common =
        small_model() + " --optimizer " + optimizer + " --dropout 0.2 --eval-val-every 10 --log-every 1";
    ASSERT_EQ(run("train " + common + " --max-iters 40 --checkpoint-dir straight").exit_code, 0);
    ASSERT_EQ(run("train " + common + " --max-iters 25 --checkpoint-dir split").exit_code, 0);
    const auto at_25 = io::Safetensors::read_file((dir_ / "split/last.safetensors").string());
    const Result resumed = run("train --resume split/last.safetensors --max-iters 40 --progress log");
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    const auto a = io::Safetensors::read_file((dir_ / "straight/last.safetensors").string());
    const auto b = io::Safetensors::read_file((dir_ / "split/last.safetensors").string());
    EXPECT_EQ(a.names(), b.names());
    EXPECT_TRUE(same_tensors(a, b, ""));
    // And the resumed run really trained: its weights moved from those at iteration 25.
    EXPECT_FALSE(at_25.entry("rnn.weight_hh_l0") == b.entry("rnn.weight_hh_l0"));
    EXPECT_EQ(nlohmann::json::parse(b.metadata().at("recur.train")).at("iteration"), 40);
    // loss.svg shows the whole run: the resumed run's train curve is the straight run's.
    EXPECT_EQ(polyline(slurp(dir_ / "split/loss.svg"), "train"),
              polyline(slurp(dir_ / "straight/loss.svg"), "train"));
    EXPECT_FALSE(polyline(slurp(dir_ / "straight/loss.svg"), "train").empty());
    fs::remove_all(dir_ / "straight");
    fs::remove_all(dir_ / "split");
  }
}

// SIGINT, SIGTERM (Docker, systemd, Slurm) and SIGHUP stop a run the same way: the iteration
// finishes, last.safetensors is saved there, the run says how to continue, and the exit code is
// 128 + the signal, so a script can tell an interrupted run from a finished one. Each signal three
// times: before the handler ran on a stack of its own, one signal in five landed inside oneDNN's
// GEMM and ended in heap corruption (exit 134).
TEST_F(Cli, SignalsSaveTheRunAndExitWith128PlusTheSignal) {
  for (int repeat = 0; repeat < 3; ++repeat)
    for (const auto& [name, number] : {std::pair{"INT", 2}, std::pair{"TERM", 15}, std::pair{"HUP", 1}}) {
      SCOPED_TRACE(name);
      const std::string dir = std::string("sig") + name + std::to_string(repeat);
      // Start a long run, wait for its first logged step, then signal it.
      const std::string cmd = "cd '" + dir_.string() + "' && (RECUR_NUM_THREADS=1 '" RECUR_CLI "' train " +
                              small_model() + " --log-every 1 --max-iters 100000 --checkpoint-dir " + dir +
                              " > stdout.txt 2> stderr.txt & pid=$!; for i in $(seq 600); do grep -q train " +
                              dir + "/metrics.jsonl 2>/dev/null && break; sleep 0.05; done; kill -" + name +
                              " $pid; wait $pid; echo $? > code.txt)";
      ASSERT_EQ(std::system(cmd.c_str()), 0);
      EXPECT_EQ(std::stoi(slurp(dir_ / "code.txt")), 128 + number);
      const std::string err = slurp(dir_ / "stderr.txt");
      EXPECT_NE(err.find("interrupted at iteration"), std::string::npos) << err;
      EXPECT_NE(err.find("--resume " + dir + "/last.safetensors"), std::string::npos) << err;
      const io::Safetensors last = io::Safetensors::read_file((dir_ / dir / "last.safetensors").string());
      const long at = nlohmann::json::parse(last.metadata().at("recur.train")).at("iteration").get<long>();
      EXPECT_GE(at, 1);
      EXPECT_LT(at, 100000);
    }
}

// Output that was not written is an error: stdout on a full device (/dev/full) fails the command
// with a message, and a full stderr in the error path exits 1 instead of aborting.
TEST_F(Cli, OutputThatWasNotWrittenIsAnError) {
  ASSERT_EQ(run("train " + small_model() + " --max-iters 5 --eval-val-every 5 --checkpoint-dir cv").exit_code,
            0);
  const auto in_dir = [&](const std::string& args) {
    const std::string cmd = "cd '" + dir_.string() + "' && RECUR_NUM_THREADS=1 '" RECUR_CLI "' " + args;
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  for (const char* command :
       {"sample cv/best.safetensors --length 100000", "sample cv/best.safetensors --length 10",
        "eval cv/best.safetensors text.txt --json", "inspect cv/best.safetensors"}) {
    SCOPED_TRACE(command);
    EXPECT_EQ(in_dir(std::string(command) + " > /dev/full 2> err.txt"), 1);
    const std::string err = slurp(dir_ / "err.txt");
    EXPECT_NE(err.find("error: "), std::string::npos) << err;
    EXPECT_NE(err.find("No space left on device"), std::string::npos) << err;
  }
  EXPECT_EQ(in_dir("train --data /nonexistent 2> /dev/full"), 1);
}

// The run directory belongs to one run: a second process is refused while the first trains (and
// named by its pid); a new run into a directory that holds one needs --overwrite, which starts its
// files afresh; temporary files a crash left are removed; after kill -9 and --resume the metrics
// log is in order (the records past the checkpoint, trained again, are not repeated).
TEST_F(Cli, ARunDirectoryHoldsOneRun) {
  const std::string cmd =
      "cd '" + dir_.string() + "' && (RECUR_NUM_THREADS=1 '" RECUR_CLI "' train " + small_model() +
      " --log-every 1 --eval-val-every 10 --max-iters 100000 --checkpoint-dir cv > first.txt "
      "2>&1 & pid=$!; for i in $(seq 600); do grep -q '\"iteration\":15' cv/metrics.jsonl "
      "2>/dev/null && break; sleep 0.05; done; echo $pid > pid.txt; RECUR_NUM_THREADS=1 '" RECUR_CLI
      "' train " +
      small_model() +
      " --max-iters 5 --checkpoint-dir cv > second.txt 2>&1; echo $? > second_code.txt; kill -9 "
      "$pid; wait $pid; true)";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_EQ(std::stoi(slurp(dir_ / "second_code.txt")), 1);
  const std::string second = slurp(dir_ / "second.txt");
  const std::string pid = slurp(dir_ / "pid.txt").substr(0, slurp(dir_ / "pid.txt").find('\n'));
  EXPECT_NE(second.find("cv is in use by another recur train (pid " + pid + ")"), std::string::npos)
      << second;

  // kill -9 left a checkpoint at a multiple of 10 and log records past it; a temporary file of an
  // interrupted write is planted too.
  std::ofstream(dir_ / "cv/last.safetensors.tmp-0badf00d") << "partial";
  const long saved =
      nlohmann::json::parse(
          io::Safetensors::read_file((dir_ / "cv/last.safetensors").string()).metadata().at("recur.train"))
          .at("iteration")
          .get<long>();
  const long target = saved + 12;
  const Result resumed =
      run("train --resume cv/last.safetensors --max-iters " + std::to_string(target) + " --log-every 1");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_FALSE(fs::exists(dir_ / "cv/last.safetensors.tmp-0badf00d"));
  std::vector<long> iterations;
  std::istringstream lines(slurp(dir_ / "cv/metrics.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.at("event") == "train") iterations.push_back(j.at("iteration").get<long>());
  }
  ASSERT_EQ(iterations.size(), static_cast<size_t>(target));
  for (size_t i = 0; i < iterations.size(); ++i) EXPECT_EQ(iterations[i], static_cast<long>(i) + 1);

  // A new run into it: refused, then --overwrite starts the directory's files afresh.
  const Result again = run("train " + small_model() + " --max-iters 5 --checkpoint-dir cv");
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("cv holds a run already"), std::string::npos) << again.err;
  const Result overwritten =
      run("train " + small_model() + " --max-iters 5 --log-every 1 --checkpoint-dir cv --overwrite");
  ASSERT_EQ(overwritten.exit_code, 0) << overwritten.err;
  EXPECT_EQ(slurp(dir_ / "cv/metrics.jsonl").rfind("{", 0), 0u);
  EXPECT_NE(slurp(dir_ / "cv/metrics.jsonl").find("\"iteration\":1,"), std::string::npos);
  EXPECT_EQ(slurp(dir_ / "cv/metrics.jsonl").find("\"iteration\":6,"), std::string::npos);

  // A run resumed into a directory that holds another run: refused, that run's files untouched; a
  // directory of its own takes it.
  ASSERT_EQ(run("train " + small_model() + " --max-iters 5 --checkpoint-dir other").exit_code, 0);
  const std::string other_last = slurp(dir_ / "other/last.safetensors");
  const Result mixed = run("train --resume cv/last.safetensors --max-iters 8 --checkpoint-dir other");
  EXPECT_EQ(mixed.exit_code, 1);
  EXPECT_NE(mixed.err.find("other holds another run than cv/last.safetensors; resuming into it would mix the "
                           "two runs' files: choose another --checkpoint-dir, or replace that run with "
                           "--overwrite"),
            std::string::npos)
      << mixed.err;
  EXPECT_EQ(slurp(dir_ / "other/last.safetensors"), other_last);
  const Result moved = run("train --resume cv/last.safetensors --max-iters 8 --checkpoint-dir moved");
  ASSERT_EQ(moved.exit_code, 0) << moved.err;
  EXPECT_TRUE(fs::exists(dir_ / "moved/last.safetensors"));
  // A copy of the run's own checkpoint (a backup) continues the run in its directory: the run id
  // in the file tells it from another run's.
  fs::create_directories(dir_ / "backup");
  fs::copy_file(dir_ / "cv/last.safetensors", dir_ / "backup/last.safetensors");
  const Result restored = run("train --resume backup/last.safetensors --max-iters 7");
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_EQ(train::run_id_of(io::Safetensors::read_file((dir_ / "cv/last.safetensors").string())),
            train::run_id_of(io::Safetensors::read_file((dir_ / "backup/last.safetensors").string())));
  EXPECT_NE(train::run_id_of(io::Safetensors::read_file((dir_ / "cv/last.safetensors").string())),
            train::run_id_of(io::Safetensors::read_file((dir_ / "other/last.safetensors").string())));
}

// A copy of checkpoint `from` at `to`, with one tensor's first value replaced, or a metadata key set.
void write_edited(const fs::path& from, const fs::path& to, const std::string& tensor, float value,
                  const std::string& key = "", const std::string& key_value = "") {
  const io::Safetensors in = io::Safetensors::read_file(from.string());
  io::Safetensors out;
  for (const auto& [name, entry] : in.entries()) {
    if (name != tensor) {
      out.add(name, entry);
      continue;
    }
    Tensor<float> t = in.get<float>(name).clone();
    t[0] = value;
    out.add(name, t);
  }
  out.metadata() = in.metadata();
  if (!key.empty()) out.metadata()[key] = key_value;
  fs::create_directories(to.parent_path());
  out.write_file(to.string());
}

// A diverged or damaged checkpoint is refused by name: NaN weights by sample and eval (eval printed
// "loss nan" and exited 0), NaN optimizer state and a malformed generator state by --resume.
TEST_F(Cli, NonFiniteOrMalformedCheckpointsAreRefusedByName) {
  ASSERT_EQ(run("train " + small_model() + " --max-iters 3 --checkpoint-dir cv").exit_code, 0);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  write_edited(dir_ / "cv/last.safetensors", dir_ / "nanw/last.safetensors", "rnn.weight_hh_l0", nan);
  for (const char* command : {"eval nanw/last.safetensors text.txt --json", "sample nanw/last.safetensors"}) {
    const Result r = run(command);
    EXPECT_EQ(r.exit_code, 1) << command;
    EXPECT_NE(
        r.err.find("nanw/last.safetensors: tensor rnn.weight_hh_l0 holds 1 non-finite value (NaN or Inf)"),
        std::string::npos)
        << r.err;
  }
  // inspect still shows a diverged model, and says where it is not finite.
  const Result inspect_nan = run("inspect nanw/last.safetensors");
  EXPECT_EQ(inspect_nan.exit_code, 0) << inspect_nan.err;
  EXPECT_NE(
      inspect_nan.out.find("values     nanw/last.safetensors: tensor rnn.weight_hh_l0 holds 1 non-finite"),
      std::string::npos)
      << inspect_nan.out;
  EXPECT_NE(run("inspect cv/last.safetensors").out.find("values     every value finite"), std::string::npos);
  write_edited(dir_ / "cv/last.safetensors", dir_ / "badtrain/last.safetensors", "", 0, "recur.train",
               "{oops");
  const Result inspect_bad = run("inspect badtrain/last.safetensors");
  EXPECT_EQ(inspect_bad.exit_code, 0) << inspect_bad.err;
  EXPECT_NE(inspect_bad.out.find("training   unreadable: recur.train is not a JSON object"),
            std::string::npos)
      << inspect_bad.out;
  const Result resume_w = run("train --resume nanw/last.safetensors --max-iters 6");
  EXPECT_NE(resume_w.err.find("tensor rnn.weight_hh_l0 holds 1 non-finite value"), std::string::npos)
      << resume_w.err;
  const io::Safetensors last = io::Safetensors::read_file((dir_ / "cv/last.safetensors").string());
  std::string moment;
  for (const std::string& name : last.names())
    if (name.rfind("train.optimizer.", 0) == 0) moment = name;
  ASSERT_FALSE(moment.empty());
  write_edited(dir_ / "cv/last.safetensors", dir_ / "nanopt/last.safetensors", moment,
               std::numeric_limits<float>::infinity());
  const Result resume_opt = run("train --resume nanopt/last.safetensors --max-iters 6");
  EXPECT_EQ(resume_opt.exit_code, 1);
  EXPECT_NE(resume_opt.err.find("nanopt/last.safetensors: tensor " + moment + " holds 1 non-finite value"),
            std::string::npos)
      << resume_opt.err;
  auto train_state = nlohmann::json::parse(last.metadata().at("recur.train"));
  train_state["rng"]["state"] = "12x";
  write_edited(dir_ / "cv/last.safetensors", dir_ / "badrng/last.safetensors", "", 0, "recur.train",
               train_state.dump());
  const Result resume_rng = run("train --resume badrng/last.safetensors --max-iters 6");
  EXPECT_EQ(resume_rng.exit_code, 1);
  EXPECT_NE(
      resume_rng.err.find("badrng/last.safetensors: recur.train rng \"state\" must be a 64-bit unsigned "
                          "integer in decimal, got \"12x\""),
      std::string::npos)
      << resume_rng.err;
}

TEST_F(Cli, InitFromStartsFromTheWeights) {
  ASSERT_EQ(run("train " + small_model() + " --max-iters 10 --checkpoint-dir a").exit_code, 0);
  const Result r =
      run("train --init-from a/best.safetensors --data text.txt --max-iters 5 --batch-size 8 "
          "--seq-length 16 --checkpoint-dir b --progress log");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto b = models::load_rnn_lm((dir_ / "b/last.safetensors").string());
  EXPECT_EQ(b.model->config().rnn_size, 32);  // the model comes from the checkpoint, not the defaults
}

TEST_F(Cli, ClearErrors) {
  std::ofstream(dir_ / "empty.txt") << "";
  std::ofstream(dir_ / "bad.txt", std::ios::binary) << "abc\xff"
                                                       "def";
  std::ofstream(dir_ / "short.txt") << "hello world";
  struct Case {
    std::string args, fragment;
  };
  const std::vector<Case> cases = {
      {"train --data empty.txt", "empty.txt: the file is empty"},
      {"train --data bad.txt", "bad.txt: invalid UTF-8 at byte 3"},
      {"train --data short.txt",
       "short.txt: 11 tokens are too few for one batch of 50 streams × 50 steps (needs 2501): use a smaller "
       "--batch-size or --seq-length"},
      {"train --data missing.txt", "missing.txt: cannot open"},
      {"train --data text.txt --model lstmm", "--model: lstmm not in {rnn_tanh,rnn_relu,lstm,gru"},
      {"train --data text.txt --optimizer adamax", "--optimizer must be one of"},
      {"sample nothing.safetensors", "nothing.safetensors"},
      {"train --data text.txt --tied --rnn-size 32 --embedding-size 16 --max-iters 1 --batch-size 4 "
       "--seq-length 4",
       ""},
  };
  for (const Case& c : cases) {
    const Result r = run(c.args);
    if (c.fragment.empty()) {
      EXPECT_EQ(r.exit_code, 0) << c.args << "\n" << r.err;  // --tied makes the embedding rnn-sized
      continue;
    }
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << c.args << "\nstderr: " << r.err;
    // A user's mistake is not a bug: no source location or check expression.
    EXPECT_EQ(r.err.find(".cpp:"), std::string::npos) << c.args << "\nstderr: " << r.err;
  }
  // An unknown GEMM backend in the environment is refused before any work, naming the ones built.
  const Result blas = run("train --data text.txt --max-iters 1", "RECUR_BLAS=mkl");
  EXPECT_NE(blas.exit_code, 0);
  EXPECT_NE(blas.err.find("RECUR_BLAS (environment): unknown GEMM backend 'mkl'; this build has"),
            std::string::npos)
      << blas.err;
  EXPECT_NE(blas.err.find("reference"), std::string::npos) << blas.err;
  // --version names the backend and its kernels.
  const Result version = run("--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.out.find(std::string("GEMM backend ") + blas_backend()), std::string::npos)
      << version.out;
  // A prime text with characters outside the vocabulary names them.
  ASSERT_EQ(run("train " + small_model() + " --max-iters 2 --checkpoint-dir cv --overwrite").exit_code, 0);
  const Result cold = run("sample cv/best.safetensors --temperature 0");
  EXPECT_NE(cold.exit_code, 0);
  EXPECT_NE(cold.err.find("--temperature must be positive and finite (--argmax for greedy decoding), got 0"),
            std::string::npos)
      << cold.err;
  EXPECT_LT(cold.err.size(), 200u) << cold.err;  // not CLI11's 310-digit bound
  // char-rnn's underscore spellings are the same flags.
  const Result underscores =
      run("train --data text.txt --rnn_size 16 --num_layers 1 --seq_length 8 --batch_size 4 --max_iters 2 "
          "--checkpoint_dir under");
  EXPECT_EQ(underscores.exit_code, 0) << underscores.err;
  EXPECT_NE(slurp(dir_ / "under/config.toml").find("\nrnn-size = 16\n"), std::string::npos);
  const Result r = run("sample cv/best.safetensors --prime-text 'Zé€'");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("'é', '€'"), std::string::npos) << r.err;
  // --resume fixes the run's settings: changing one is an error that names the flag, the run's
  // value and the new one.
  const Result changed = run("train --resume cv/last.safetensors --learning-rate 0.1");
  EXPECT_NE(changed.exit_code, 0);
  EXPECT_NE(changed.err.find("--learning-rate 0.1 differs from the run's 0.002 in cv/last.safetensors"),
            std::string::npos)
      << changed.err;
}

// sample, eval and inspect open a checkpoint through its recur.task: they name it, and a task this
// build does not know (or, with --resume, a checkpoint that is not a language model) is an error
// naming the file and the task.
TEST_F(Cli, CheckpointCommandsReadTheTask) {
  ASSERT_EQ(run("train " + small_model() + " --max-iters 2 --checkpoint-dir cv").exit_code, 0);
  const Result inspect = run("inspect cv/best.safetensors");
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_NE(inspect.out.find("\ntask       lm\n"), std::string::npos) << inspect.out;
  io::Safetensors other = io::Safetensors::read_file((dir_ / "cv/last.safetensors").string());
  other.metadata()["recur.task"] = "forecast";
  other.write_file((dir_ / "forecast.safetensors").string());
  for (const char* command : {"sample forecast.safetensors", "eval forecast.safetensors text.txt",
                              "inspect forecast.safetensors"}) {
    const Result r = run(command);
    EXPECT_NE(r.exit_code, 0) << command;
    EXPECT_NE(r.err.find("forecast.safetensors: holds a model of task 'forecast', which this build of recur "
                         "does not know (it knows 'lm', 'tag')"),
              std::string::npos)
        << command << "\nstderr: " << r.err;
  }
  const Result resume = run("train --resume forecast.safetensors");
  EXPECT_NE(resume.exit_code, 0);
  EXPECT_NE(resume.err.find("forecast.safetensors is a 'forecast' run; resume it with recur train forecast"),
            std::string::npos)
      << resume.err;
}

// A diverging run skips non-finite steps, then stops with a clear message; a non-finite model
// never overwrites the last checkpoint.
TEST_F(Cli, NonFiniteStepsStopTheRunAndKeepTheLastGoodCheckpoint) {
  ASSERT_EQ(run("train " + small_model() + " --max-iters 3 --checkpoint-dir cv").exit_code, 0);
  const std::string good = slurp(dir_ / "cv/last.safetensors");
  // Continue from those weights with a step that overflows float: weight decay 1e38 makes every
  // update lr·(g + wd·θ) infinite for θ != 0, whatever the BLAS kernels round (a learning rate alone
  // overflowed on the first or on a later step depending on them). The first step's loss and
  // gradient are finite, so it is taken, and the model it leaves is not.
  const std::string diverging =
      "train --init-from cv/last.safetensors --data text.txt --batch-size 8 --seq-length 16 "
      "--optimizer sgd --learning-rate 1e38 --weight-decay 1e38 --max-nonfinite-steps 3 --max-iters 50 "
      "--eval-val-every 1 --progress log --checkpoint-dir ";
  // A new run into the directory of another is refused, so the good run cannot be replaced by it.
  const Result refused = run(diverging + "cv");
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(
      refused.err.find("cv holds a run already; continue it with --resume cv/last.safetensors, replace it "
                       "with --overwrite, or choose another --checkpoint-dir"),
      std::string::npos)
      << refused.err;
  EXPECT_EQ(slurp(dir_ / "cv/last.safetensors"), good);
  // In a directory of its own: the first step is taken (its loss and gradient are finite), the
  // model it leaves is not, so no checkpoint is written, and the run stops saying so.
  const Result r = run(diverging + "fresh");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(
      r.err.find("iteration 1/50: val loss nan; the model is not finite: last.safetensors not overwritten"),
      std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("is not finite; step skipped (1 in a row)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("stopping: 3 non-finite steps in a row"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no checkpoint was written (no evaluation found the model finite)"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "fresh/last.safetensors"));
  EXPECT_FALSE(fs::exists(dir_ / "fresh/best.safetensors"));
}

TEST_F(Cli, EveryCommandTakesThreads) {
  ASSERT_EQ(run("train " + small_model() + " --max-iters 2 --checkpoint-dir cv --threads 2").exit_code, 0);
  EXPECT_EQ(run("sample cv/best.safetensors --length 5 --threads 2").exit_code, 0);
  EXPECT_EQ(run("eval cv/best.safetensors text.txt --threads 2").exit_code, 0);
  EXPECT_EQ(run("inspect cv/best.safetensors --threads 2").exit_code, 0);
}

// recur bench: one JSON object per configuration with the keys the peer comparison reads.
TEST_F(Cli, BenchPrintsOneJsonObjectPerConfiguration) {
  for (const char* mode : {"train", "infer", "gen", "layers"}) {
    const Result r = run(
        std::string("bench --mode ") + mode +
        " --model gru --hidden 16 --batch 3 --seq-length 5 --reps 2 --min-time 0.02 --sgemm-size 64 --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("mode"), mode);
    EXPECT_EQ(j.at("model"), "gru");
    EXPECT_EQ(j.at("hidden"), 16);
    EXPECT_EQ(j.at("batch"), std::string(mode) == "gen" ? 1 : 3);
    EXPECT_EQ(j.at("threads"), 1);
    for (const char* key : {"tokens_per_s", "gflops", "peak_fraction", "peak_rss_mb"})
      EXPECT_GT(j.at(key).get<double>(), 0.0) << key;
    EXPECT_LE(j.at("tokens_per_s_min").get<double>(), j.at("tokens_per_s").get<double>());
    EXPECT_GE(j.at("tokens_per_s_max").get<double>(), j.at("tokens_per_s").get<double>());
    // GFLOP/s follow from tokens/s: forward 2·G·H·(I+H) per token and layer (G = 3), training 3×.
    const bool trains = std::string(mode) == "train" || std::string(mode) == "layers";
    const double forward = 2.0 * 3 * 16 * 32 * 2, factor = trains ? 3.0 : 1.0;
    EXPECT_NEAR(j.at("gflops").get<double>(), j.at("tokens_per_s").get<double>() * forward * factor / 1e9,
                1e-9);
    if (std::string(mode) == "gen") {
      EXPECT_NEAR(j.at("us_per_token").get<double>(), 1e6 / j.at("tokens_per_s").get<double>(), 1e-6);
    }
    // The record says which GEMM backend ran (the best built unless RECUR_BLAS names one, here as there).
    EXPECT_EQ(j.at("blas_backend"), blas_backend());
    EXPECT_FALSE(j.at("blas_core").get<std::string>().empty());
  }
  const Result ref =
      run("bench --mode infer --model gru --hidden 16 --batch 3 --seq-length 5 --reps 1 "
          "--min-time 0.02 --sgemm-size 64 --json",
          "RECUR_BLAS=reference");
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  EXPECT_EQ(nlohmann::json::parse(ref.out).at("blas_backend"), "reference");
  EXPECT_EQ(nlohmann::json::parse(ref.out).at("blas_core"), "reference");
  // train's model-size flags name the same settings.
  const Result named = run(
      "bench --mode infer --model lstm --rnn-size 24 --num-layers 1 --batch-size 4 --seq-length 5 --reps 1 "
      "--min-time 0.02 --sgemm-size 64 --json");
  ASSERT_EQ(named.exit_code, 0) << named.err;
  const auto n = nlohmann::json::parse(named.out);
  EXPECT_EQ(n.at("hidden"), 24);
  EXPECT_EQ(n.at("layers"), 1);
  EXPECT_EQ(n.at("batch"), 4);
  const Result bad = run("bench --mode fly");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--mode must be train, infer, gen, layers, tag-train or tag-infer"),
            std::string::npos)
      << bad.err;
}

TEST_F(Cli, HelpListsFlagsWithDefaults) {
  // recur train --help lists the tasks; recur train TASK --help the task's groups and the shared ones.
  const Result tasks = run("train --help");
  EXPECT_EQ(tasks.exit_code, 0);
  EXPECT_NE(tasks.out.find("lm "), std::string::npos) << tasks.out;
  const Result r = run("train lm --help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* group :
       {"Data (lm)", "Model (lm)", "Optimization (shared by every task)", "Run (shared by every task)"})
    EXPECT_NE(r.out.find(group), std::string::npos) << group;
  for (const char* flag :
       {"--rnn-size",      "--num-layers", "--model",          "--seq-length",     "--batch-size",
        "--learning-rate", "--dropout",    "--grad-clip",      "--train-frac",     "--val-frac",
        "--max-epochs",    "--seed",       "--eval-val-every", "--checkpoint-dir", "--optimizer",
        "--clip-mode",     "--max-iters",  "--threads",        "--init-from",      "--resume"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  EXPECT_NE(r.out.find("128"), std::string::npos);  // defaults are shown
  for (const char* sub : {"sample --help", "eval --help", "inspect --help"})
    EXPECT_EQ(run(sub).exit_code, 0) << sub;
  // No command: the list of commands. A mistyped command or flag: exit 2 and the nearest name.
  const Result bare = run("");
  EXPECT_EQ(bare.exit_code, 0);
  for (const char* command : {"train", "sample", "eval", "inspect", "bench"})
    EXPECT_NE(bare.out.find(command), std::string::npos) << command << "\n" << bare.out;
  const Result typo = run("trian --data text.txt");
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("unknown command 'trian' (did you mean train?)"), std::string::npos) << typo.err;
  EXPECT_NE(typo.err.find("inspect"), std::string::npos) << typo.err;  // and the list
  const Result flag = run("train --rnn-sise 32");
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_NE(flag.err.find("unknown flag --rnn-sise for recur train lm; did you mean --rnn-size?"),
            std::string::npos)
      << flag.err;
  // A mistyped flag before the checkpoint leaves its value to be read as the checkpoint: the flag
  // is still what gets named, not a missing file "0.5".
  const Result value = run("sample --temprature 0.5 no_such.safetensors");
  EXPECT_EQ(value.exit_code, 2);
  EXPECT_NE(value.err.find("unknown flag --temprature for recur sample; did you mean --temperature?"),
            std::string::npos)
      << value.err;
  EXPECT_EQ(value.err.find("0.5"), std::string::npos) << value.err;
}

}  // namespace
}  // namespace recur
