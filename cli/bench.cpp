// recur bench: end-to-end speed of the character-level language model (2 layers, vocabulary 65,
// embedding = hidden, T = 100), in the configurations the peer comparison uses
// (bench/compare_peers.sh):
//   train  forward + cross-entropy + backward + clip-norm 5 + Adam, state carried      tokens/s
//   infer  forward of a T × B chunk without gradients, state carried                   tokens/s
//   gen    batch 1: embedding, one step, decoder, sampling                            µs/token
//   layers the recurrent stack alone, forward (training) + backward from a given dy: what the
//          oneDNN peer times (no embedding, decoder, loss or optimizer)                tokens/s
// Each configuration runs in a child process (fork), so its peak memory is its own and OpenMP
// starts fresh with its thread count; the parent computes nothing. After a warm-up, ≥ --reps
// repetitions of ≥ --min-time seconds each; reported: median [min–max] tokens/s, GEMM GFLOP/s
// (forward 2·G·H·(I+H) per token and layer, training 3×, as in the issue), the fraction of this
// machine's SGEMM rate (1024³ through recur's GEMM seam at the same thread count, measured by the
// child), peak RSS, and the activation bytes the fused layers keep per training token.
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "bench_tagger.h"
#include "bench_timing.h"
#include "commands.h"
#include "recur/autograd/functions.h"
#include "recur/models/rnn_lm.h"
#include "recur/models/sampling.h"
#include "recur/nn/scan.h"
#include "recur/ops/gemm.h"
#include "recur/ops/packed_gemm.h"
#include "recur/threads.h"
#include "recur/train/optimizer.h"

namespace recur::cli {

namespace {

using json = nlohmann::ordered_json;

struct BenchConfig {
  std::string mode = "train";
  std::string model = "lstm";
  index_t hidden = 512;
  index_t batch = 64;
  index_t seq_length = 100;
  int layers = 2;
  int threads = 1;
  index_t vocab = 65;  // tiny-shakespeare's characters; 10000 for PTB's words
};

struct BenchOptions {
  BenchConfig config;
  int reps = 5;
  double min_time = 1.0;
  bool json = false;
  bool suite = false;
  std::vector<int> suite_threads{1, 2};
  index_t sgemm_size = 1024;
};

// GFLOP/s of SGEMM n³ through recur's seam on the current thread count (median of 5).
double sgemm_peak(index_t n, double min_time) {
  std::vector<float> a(static_cast<size_t>(n * n), 0.5f), b(a), c(a);
  const double flops = 2.0 * double(n) * double(n) * double(n);
  const auto rates = measure(5, min_time, flops, [&] {
    gemm(Trans::kNo, Trans::kNo, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  });
  return stats_of(rates).median / 1e9;
}

// Forward GEMM FLOPs per token of the recurrent layers: Σ_layers 2·G·H·(I + H), I = H.
double forward_flops_per_token(const BenchConfig& c) {
  const int G = nn::gate_count(nn::parse_cell_kind(c.model));
  return 2.0 * G * double(c.hidden) * double(2 * c.hidden) * c.layers;
}

// Bytes the fused layers keep for backward per training token (nn::ScanTrace), all layers.
double activation_bytes_per_token(const BenchConfig& c) {
  const nn::CellKind kind = nn::parse_cell_kind(c.model);
  const double per_layer =
      double(nn::saved_width(kind) + 1 + (nn::has_cell_state(kind) ? 1 : 0)) * double(c.hidden);
  return per_layer * c.layers * sizeof(float);
}

models::RnnLm<float> make_model(const BenchConfig& c) {
  models::RnnLmConfig mc;
  mc.model = nn::parse_cell_kind(c.model);
  mc.num_layers = c.layers;
  mc.rnn_size = c.hidden;
  mc.embedding_size = c.hidden;
  mc.vocab_size = c.vocab;
  models::RnnLm<float> model(mc);
  Rng rng(1);
  model.init(rng);
  return model;
}

std::vector<std::int32_t> random_tokens(index_t n, index_t vocab, Rng& rng) {
  std::vector<std::int32_t> ids(static_cast<size_t>(n));
  for (auto& id : ids) id = static_cast<std::int32_t>(rng.below(static_cast<std::uint32_t>(vocab)));
  return ids;
}

// Runs one configuration in this process and returns its JSON record (without peak RSS).
json run_config(const BenchOptions& o) {
  if (o.config.mode.rfind("tag-", 0) == 0)
    return bench_tagger(o.config.mode, o.config.model, o.config.hidden, o.config.batch, o.config.threads,
                        o.reps, o.min_time);
  const BenchConfig& c = o.config;
  set_num_threads(c.threads);
  const double peak = sgemm_peak(o.sgemm_size, std::min(0.3, o.min_time));
  models::RnnLm<float> model = make_model(c);
  Rng rng(2);
  const index_t T = c.seq_length, B = c.mode == "gen" ? 1 : c.batch;
  std::vector<double> rates;
  if (c.mode == "train") {
    auto adam = train::make_optimizer(model.params(), train::AdamOptions{});
    const std::vector<std::int32_t> inputs = random_tokens(T * B, c.vocab, rng),
                                    targets = random_tokens(T * B, c.vocab, rng);
    layers::RnnStateValues<float> carry;
    rates = measure(o.reps, o.min_time, double(T * B), [&] {
      model.params().zero_grad();
      ag::Tape<float> tape;
      const auto out = model.forward(tape, inputs, T, B, layers::constants(tape, carry), true, &rng);
      tape.backward(ag::cross_entropy(out.logits, targets));
      train::clip_grad_norm(model.params(), 5.0f);
      adam->step();
      carry = layers::values_of(out.state);
    });
  } else if (c.mode == "layers") {
    Tensor<float> x = Tensor<float>::uninitialized(Shape{T, B, c.hidden});
    Tensor<float> dy = Tensor<float>::uninitialized(Shape{T, B, c.hidden});
    for (index_t i = 0; i < x.numel(); ++i) {
      x[i] = rng.uniform(-1.0f, 1.0f);
      dy[i] = rng.uniform(-1.0f, 1.0f);
    }
    rates = measure(o.reps, o.min_time, double(T * B), [&] {
      model.params().zero_grad();
      ag::Tape<float> tape;
      const ag::Var<float> input = tape.variable(x);
      const layers::RnnResult<float> r = model.rnn().forward(input, {}, {}, true, &rng);
      // loss = Σ y ⊙ dy: backward starts from dy, as oneDNN's backward takes diff_dst
      tape.backward(ag::sum(ag::mul(r.output, tape.constant(dy))));
    });
  } else if (c.mode == "infer") {
    const std::vector<std::int32_t> inputs = random_tokens(T * B, c.vocab, rng);
    layers::RnnStateValues<float> carry;
    rates = measure(o.reps, o.min_time, double(T * B), [&] {
      ag::Tape<float> tape;
      ag::NoGrad<float> no_grad(tape);
      const auto out = model.forward(tape, inputs, T, B, layers::constants(tape, carry), false, nullptr);
      carry = layers::values_of(out.state);
    });
  } else {
    models::RnnLmStream<float> stream = model.make_stream(1);
    Tensor<float> logits(Shape{1, c.vocab});
    std::int32_t token = 0;
    const models::SamplingOptions sampling;
    rates = measure(o.reps, o.min_time, 1.0, [&] {
      model.step(stream, {token}, logits);
      token = models::sample_token(logits.data(), c.vocab, sampling, rng);
    });
  }
  const Stats s = stats_of(rates);
  const bool trains = c.mode == "train" || c.mode == "layers";
  const double gflops = s.median * forward_flops_per_token(c) * (trains ? 3.0 : 1.0) / 1e9;
  json j{{"engine", "recur"},
         {"mode", c.mode},
         {"model", c.model},
         {"hidden", c.hidden},
         {"layers", c.layers},
         {"batch", B},
         {"seq_length", c.seq_length},
         {"vocab", c.vocab},
         {"threads", c.threads},
         {"tokens_per_s", s.median},
         {"tokens_per_s_min", s.min},
         {"tokens_per_s_max", s.max},
         {"gflops", gflops},
         {"peak_fraction", gflops / peak},
         {"sgemm_peak_gflops", peak},
         {"us_per_token", c.mode == "gen" ? json(1e6 / s.median) : json(nullptr)},
         {"activation_bytes_per_token", trains ? json(activation_bytes_per_token(c)) : json(nullptr)},
         {"reps", o.reps},
         {"packed_kernel", packed_gemm_isa()},
         {"blas_backend", blas_backend()},
         {"blas_core", blas_core()}};
  return j;
}

// Forks a child for one configuration; returns its record with peak_rss_mb from wait4.
json run_in_child(const BenchOptions& o) {
  int fds[2];
  RECUR_CHECK(::pipe(fds) == 0, "bench: pipe failed");
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  RECUR_CHECK(pid >= 0, "bench: fork failed");
  if (pid == 0) {
    ::close(fds[0]);
    int code = 0;
    std::string text;
    try {
      text = run_config(o).dump();
    } catch (const std::exception& e) {
      text = json{{"error", e.what()}}.dump();
      code = 1;
    }
    const char* p = text.data();
    size_t left = text.size();
    while (left > 0) {
      const ssize_t n = ::write(fds[1], p, left);
      if (n <= 0) break;
      p += n;
      left -= static_cast<size_t>(n);
    }
    ::close(fds[1]);
    ::_exit(code);
  }
  ::close(fds[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;)
    text.append(buffer, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  rusage usage{};
  ::wait4(pid, &status, 0, &usage);
  json j = json::parse(text.empty() ? std::string("{}") : text);
  RECUR_CHECK(!j.contains("error") && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              fmt::format("bench {} {} H{} B{} on {} threads failed: {}", o.config.mode, o.config.model,
                          o.config.hidden, o.config.batch, o.config.threads,
                          j.contains("error") ? j["error"].get<std::string>() : "the child crashed"));
  j["peak_rss_mb"] = double(usage.ru_maxrss) / 1024.0;
  return j;
}

std::vector<BenchConfig> suite(const std::vector<int>& threads) {
  std::vector<BenchConfig> configs;
  for (int t : threads) {
    for (index_t h : {128, 512})
      for (index_t b : {32, 64}) configs.push_back({"train", "lstm", h, b, 100, 2, t});
    configs.push_back({"train", "gru", 512, 64, 100, 2, t});
    configs.push_back({"train", "rnn_tanh", 512, 64, 100, 2, t});
    configs.push_back({"infer", "lstm", 512, 64, 100, 2, t});
    configs.push_back({"gen", "lstm", 512, 1, 100, 2, t});
  }
  return configs;
}

void print_row(const json& j) {
  if (j["mode"].get<std::string>().rfind("tag-", 0) == 0) {
    fmt::print(
        "{:<9} {:<6} H{:<4} B{:<3} {} thr  {:9.0f} words/s  [{:.0f}–{:.0f}]  {:7.1f} sentences/s  {:6.0f} "
        "MB\n",
        j["mode"].get<std::string>(), j["model"].get<std::string>(), j["hidden"].get<long>(),
        j["batch"].get<long>(), j["threads"].get<int>(), j["tokens_per_s"].get<double>(),
        j["tokens_per_s_min"].get<double>(), j["tokens_per_s_max"].get<double>(),
        j["sentences_per_s"].get<double>(), j["peak_rss_mb"].get<double>());
    std::fflush(stdout);
    return;
  }
  const std::string rate = j["mode"] == "gen"
                               ? fmt::format("{:8.1f} µs/token", j["us_per_token"].get<double>())
                               : fmt::format("{:9.0f} tokens/s", j["tokens_per_s"].get<double>());
  fmt::print(
      "{:<5} {:<8} H{:<4} B{:<3} {} thr  {}  [{:.0f}–{:.0f}]  {:6.1f} GFLOP/s  {:5.1f}% of SGEMM {:.0f}  "
      "{:6.0f} MB\n",
      j["mode"].get<std::string>(), j["model"].get<std::string>(), j["hidden"].get<long>(),
      j["batch"].get<long>(), j["threads"].get<int>(), rate, j["tokens_per_s_min"].get<double>(),
      j["tokens_per_s_max"].get<double>(), j["gflops"].get<double>(), 100 * j["peak_fraction"].get<double>(),
      j["sgemm_peak_gflops"].get<double>(), j["peak_rss_mb"].get<double>());
  std::fflush(stdout);
}

void run_bench(BenchOptions o) {
  for (const std::string& m : {o.config.mode})
    RECUR_CHECK(
        m == "train" || m == "infer" || m == "gen" || m == "layers" || m == "tag-train" || m == "tag-infer",
        fmt::format("--mode must be train, infer, gen, layers, tag-train or tag-infer, got {}", m));
  nn::parse_cell_kind(o.config.model);  // validates
  const std::vector<BenchConfig> configs =
      o.suite ? suite(o.suite_threads) : std::vector<BenchConfig>{o.config};
  // A forced core can halve the rate of every product OpenBLAS computes (AVX2 kernels on an AVX-512 CPU).
  const char* forced = std::getenv("OPENBLAS_CORETYPE");
  if (forced != nullptr && std::string_view(blas_backend()) == "openblas")
    fmt::print(stderr,
               "bench: OPENBLAS_CORETYPE={} is set: OpenBLAS runs its {} kernels, not its own choice\n",
               forced, blas_core());
  for (const BenchConfig& c : configs) {
    BenchOptions one = o;
    one.config = c;
    const json j = run_in_child(one);
    if (o.json) {
      fmt::print("{}\n", j.dump());
      std::fflush(stdout);
    } else {
      print_row(j);
    }
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto options = std::make_shared<BenchOptions>();
  BenchOptions& o = *options;
  CLI::App* cmd = app.add_subcommand("bench", "end-to-end speed of the RNN LM: train, infer, gen");
  cmd->add_option(
         "--mode", o.config.mode,
         "train, infer, gen (batch-1 generation), layers (the recurrent stack alone, forward + backward), or "
         "the tagger on UD English EWT: tag-train, tag-infer (words/s)")
      ->capture_default_str();
  // The model-size flags carry train's names (--rnn-size, --num-layers, --batch-size); the short
  // names the peer comparison has always passed stay as aliases.
  cmd->add_option("--model", o.config.model, "rnn_tanh, rnn_relu, lstm, gru, gru_reset_before or jordan")
      ->check(CLI::IsMember({"rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_before", "jordan"}))
      ->capture_default_str();
  cmd->add_option("--rnn-size,--hidden", o.config.hidden, "hidden units per layer (= embedding size)")
      ->check(CLI::Range(1, 1 << 14))
      ->capture_default_str();
  cmd->add_option("--batch-size,--batch", o.config.batch, "streams (gen: always 1)")
      ->check(CLI::Range(1, 1 << 14))
      ->capture_default_str();
  cmd->add_option("--vocab", o.config.vocab,
                  "vocabulary size (65: tiny-shakespeare's characters; 10000: PTB)")
      ->check(CLI::Range(2, 1 << 24))
      ->capture_default_str();
  cmd->add_option("--seq-length", o.config.seq_length, "steps per chunk")
      ->check(CLI::Range(1, 1 << 14))
      ->capture_default_str();
  cmd->add_option("--num-layers,--layers", o.config.layers, "stacked layers")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  cmd->add_option("--threads", o.config.threads, "compute threads")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--reps", o.reps, "measured repetitions (median, min, max)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--min-time", o.min_time, "seconds per repetition")
      ->check(CLI::Range(0.01, 600.0))
      ->capture_default_str();
  cmd->add_flag("--json", o.json, "one JSON object per configuration and line");
  cmd->add_option("--sgemm-size", o.sgemm_size, "n of the n³ SGEMM that measures the machine's rate")
      ->check(CLI::Range(16, 8192))
      ->capture_default_str();
  cmd->add_flag("--suite", o.suite, "the comparison's configurations (LSTM/GRU/RNN; train, infer, gen)");
  cmd->add_option("--suite-threads", o.suite_threads, "thread counts for --suite")->capture_default_str();
  cmd->callback([options] { run_bench(*options); });
}

}  // namespace recur::cli
