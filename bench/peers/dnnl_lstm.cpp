// oneDNN 2.6 peer for `recur bench`: a stacked LSTM (the recurrent layers of the RNN LM only).
//
//   dnnl_lstm infer|train T B H L REPS MIN_S [--json]
//
// One dnnl::lstm_forward primitive runs all L layers (unidirectional, input width I = H as with an
// H-wide embedding) over a T x B chunk. The final (h, c) of one call is the initial state of the
// next (two state buffers used in turn), like recur's carried state.
//   infer  prop_kind::forward_inference; weights reordered once into the layout the primitive asks
//          for (format_tag::any), outside the timed region.
//   train  forward_training + lstm_backward on a random upstream gradient dL/dh (no gradient into
//          the final state: truncated BPTT). Each step also does what a training loop around the
//          primitives must: reorder the weights the optimizer owns (ldigo) into the forward and
//          backward layouts, zero the gradient buffers (oneDNN accumulates into them) and reorder
//          the weight gradients back to ldigo. All of that is timed.
// Not included: embedding, output layer, loss, clipping, optimizer.
//
// Threads: OMP_NUM_THREADS (Debian's libdnnl uses OpenMP). Timing: warm-up, then REPS repetitions
// of >= MIN_S seconds each; tokens/s median, min and max. GFLOP/s counts GEMM FLOPs, per token and
// layer 2*4*H*(I+H), training = 3x forward. At the end the output of a forward pass is checked:
// finite, inside (-1, 1), not all zero (and for train: finite, non-zero weight gradients); the
// program exits with status 3 if not.
//
// Build: g++ -std=c++17 -O3 -march=native -fopenmp dnnl_lstm.cpp -o dnnl_lstm -ldnnl
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using dnnl::memory;
using Clock = std::chrono::steady_clock;
using Args = std::unordered_map<int, memory>;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

float* data(const memory& m) {
  return static_cast<float*>(m.get_data_handle());
}
size_t count(const memory& m) {
  return m.get_desc().get_size() / sizeof(float);
}

void fill_uniform(const memory& m, float bound, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-bound, bound);
  std::generate_n(data(m), count(m), [&] { return dist(rng); });
}

void fill_normal(const memory& m, float sigma, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, sigma);
  std::generate_n(data(m), count(m), [&] { return dist(rng); });
}

void zero(const memory& m) {
  std::memset(m.get_data_handle(), 0, m.get_desc().get_size());
}

struct Summary {
  double median, min, max;
};

Summary summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return {n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v.front(), v.back()};
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;  // Linux reports KiB
}

// Sanity of an LSTM hidden output: finite, |h| < 1 (h = o * tanh(c)), not identically zero.
bool hidden_output_ok(const memory& m, double* max_abs) {
  double mx = 0;
  const float* p = data(m);
  for (size_t i = 0; i < count(m); ++i) {
    if (!std::isfinite(p[i])) return false;
    mx = std::max(mx, (double)std::fabs(p[i]));
  }
  *max_abs = mx;
  return mx > 0 && mx < 1;
}

bool gradient_ok(const memory& m) {
  bool nonzero = false;
  const float* p = data(m);
  for (size_t i = 0; i < count(m); ++i) {
    if (!std::isfinite(p[i])) return false;
    nonzero = nonzero || p[i] != 0.0f;
  }
  return nonzero;
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s infer|train T B H L REPS MIN_S [--json]\n"
               "  e.g. OMP_NUM_THREADS=1 %s train 100 64 512 2 5 1.0 --json\n",
               argv0, argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 8 || argc > 9) return usage(argv[0]);
  const std::string mode = argv[1];
  const bool json = argc == 9 && std::string(argv[8]) == "--json";
  if ((mode != "infer" && mode != "train") || (argc == 9 && !json)) return usage(argv[0]);
  const memory::dim T = std::atol(argv[2]), B = std::atol(argv[3]), H = std::atol(argv[4]),
                    L = std::atol(argv[5]);
  const int reps = std::atoi(argv[6]);
  const double min_s = std::atof(argv[7]);
  if (T < 1 || B < 1 || H < 1 || L < 1 || reps < 1 || !(min_s > 0)) return usage(argv[0]);
  const bool train = mode == "train";
  constexpr memory::dim kGates = 4, kDirs = 1;
  const memory::dim I = H;

  try {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream strm(eng);
    using tag = memory::format_tag;
    const auto f32 = memory::data_type::f32;

    const memory::desc seq_in({T, B, I}, f32, tag::tnc);
    const memory::desc seq_out({T, B, H}, f32, tag::tnc);
    const memory::desc state({L, kDirs, B, H}, f32, tag::ldnc);
    const memory::desc w_layer_user({L, kDirs, I, kGates, H}, f32, tag::ldigo);
    const memory::desc w_iter_user({L, kDirs, H, kGates, H}, f32, tag::ldigo);
    const memory::desc w_layer_any({L, kDirs, I, kGates, H}, f32, tag::any);
    const memory::desc w_iter_any({L, kDirs, H, kGates, H}, f32, tag::any);
    const memory::desc bias_md({L, kDirs, kGates, H}, f32, tag::ldgo);
    const auto dir = dnnl::rnn_direction::unidirectional_left2right;

    dnnl::lstm_forward::desc fwd_desc(
        train ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference, dir, seq_in, state,
        state, w_layer_any, w_iter_any, bias_md, seq_out, state, state);
    dnnl::lstm_forward::primitive_desc fwd_pd(fwd_desc, eng);
    dnnl::lstm_forward fwd(fwd_pd);

    // Parameters as an optimizer would own them, PyTorch-like init U(-1/sqrt(H), 1/sqrt(H)).
    std::mt19937 rng(2024);
    const float bound = 1.0f / std::sqrt((float)H);
    memory w_layer(w_layer_user, eng), w_iter(w_iter_user, eng), bias(bias_md, eng);
    fill_uniform(w_layer, bound, rng);
    fill_uniform(w_iter, bound, rng);
    fill_uniform(bias, bound, rng);
    memory w_layer_fwd(fwd_pd.weights_layer_desc(), eng), w_iter_fwd(fwd_pd.weights_iter_desc(), eng);
    dnnl::reorder to_fwd_layer(w_layer, w_layer_fwd), to_fwd_iter(w_iter, w_iter_fwd);
    to_fwd_layer.execute(strm, w_layer, w_layer_fwd);
    to_fwd_iter.execute(strm, w_iter, w_iter_fwd);
    strm.wait();

    // Input sequence ~ N(0, 1) like fresh nn.Embedding rows; two (h, c) buffers used in turn.
    memory x(seq_in, eng), y(seq_out, eng);
    fill_normal(x, 1.0f, rng);
    memory h[2] = {memory(state, eng), memory(state, eng)};
    memory c[2] = {memory(state, eng), memory(state, eng)};
    for (int i = 0; i < 2; ++i) {
      zero(h[i]);
      zero(c[i]);
    }

    Args fwd_args[2];
    memory workspace;
    if (train) workspace = memory(fwd_pd.workspace_desc(), eng);
    for (int p = 0; p < 2; ++p) {
      fwd_args[p] = {{DNNL_ARG_SRC_LAYER, x},
                     {DNNL_ARG_SRC_ITER, h[p]},
                     {DNNL_ARG_SRC_ITER_C, c[p]},
                     {DNNL_ARG_WEIGHTS_LAYER, w_layer_fwd},
                     {DNNL_ARG_WEIGHTS_ITER, w_iter_fwd},
                     {DNNL_ARG_BIAS, bias},
                     {DNNL_ARG_DST_LAYER, y},
                     {DNNL_ARG_DST_ITER, h[1 - p]},
                     {DNNL_ARG_DST_ITER_C, c[1 - p]}};
      if (train) fwd_args[p][DNNL_ARG_WORKSPACE] = workspace;
    }

    // Backward side (train only).
    dnnl::lstm_backward bwd;
    Args bwd_args[2];
    memory w_layer_bwd, w_iter_bwd, dw_layer_prim, dw_iter_prim, dw_layer, dw_iter, dbias;
    dnnl::reorder to_bwd_layer, to_bwd_iter, from_dw_layer, from_dw_iter;
    bool bwd_reorders = false, dw_reorders = false;
    std::string bwd_impl = "-";
    if (train) {
      dnnl::lstm_backward::desc bwd_desc(dnnl::prop_kind::backward, dir, seq_in, state, state, w_layer_any,
                                         w_iter_any, bias_md, seq_out, state, state, seq_in, state, state,
                                         w_layer_any, w_iter_any, bias_md, seq_out, state, state);
      dnnl::lstm_backward::primitive_desc bwd_pd(bwd_desc, eng, fwd_pd);
      bwd = dnnl::lstm_backward(bwd_pd);
      bwd_impl = bwd_pd.impl_info_str();

      bwd_reorders = bwd_pd.weights_layer_desc() != fwd_pd.weights_layer_desc() ||
                     bwd_pd.weights_iter_desc() != fwd_pd.weights_iter_desc();
      if (bwd_reorders) {
        w_layer_bwd = memory(bwd_pd.weights_layer_desc(), eng);
        w_iter_bwd = memory(bwd_pd.weights_iter_desc(), eng);
        to_bwd_layer = dnnl::reorder(w_layer, w_layer_bwd);
        to_bwd_iter = dnnl::reorder(w_iter, w_iter_bwd);
      } else {
        w_layer_bwd = w_layer_fwd;
        w_iter_bwd = w_iter_fwd;
      }
      dw_layer = memory(w_layer_user, eng);
      dw_iter = memory(w_iter_user, eng);
      dw_reorders =
          bwd_pd.diff_weights_layer_desc() != w_layer_user || bwd_pd.diff_weights_iter_desc() != w_iter_user;
      if (dw_reorders) {
        dw_layer_prim = memory(bwd_pd.diff_weights_layer_desc(), eng);
        dw_iter_prim = memory(bwd_pd.diff_weights_iter_desc(), eng);
        from_dw_layer = dnnl::reorder(dw_layer_prim, dw_layer);
        from_dw_iter = dnnl::reorder(dw_iter_prim, dw_iter);
      } else {
        dw_layer_prim = dw_layer;
        dw_iter_prim = dw_iter;
      }
      dbias = memory(bwd_pd.diff_bias_desc(), eng);
      memory dx(bwd_pd.diff_src_layer_desc(), eng), dh0(bwd_pd.diff_src_iter_desc(), eng),
          dc0(bwd_pd.diff_src_iter_c_desc(), eng);
      memory dy(bwd_pd.diff_dst_layer_desc(), eng), dhT(bwd_pd.diff_dst_iter_desc(), eng),
          dcT(bwd_pd.diff_dst_iter_c_desc(), eng);
      fill_normal(dy, 1e-3f, rng);  // magnitude of dL/dh from a softmax head
      zero(dhT);
      zero(dcT);
      for (int p = 0; p < 2; ++p) {
        bwd_args[p] = fwd_args[p];
        bwd_args[p][DNNL_ARG_WEIGHTS_LAYER] = w_layer_bwd;
        bwd_args[p][DNNL_ARG_WEIGHTS_ITER] = w_iter_bwd;
        bwd_args[p].insert({{DNNL_ARG_DIFF_SRC_LAYER, dx},
                            {DNNL_ARG_DIFF_SRC_ITER, dh0},
                            {DNNL_ARG_DIFF_SRC_ITER_C, dc0},
                            {DNNL_ARG_DIFF_WEIGHTS_LAYER, dw_layer_prim},
                            {DNNL_ARG_DIFF_WEIGHTS_ITER, dw_iter_prim},
                            {DNNL_ARG_DIFF_BIAS, dbias},
                            {DNNL_ARG_DIFF_DST_LAYER, dy},
                            {DNNL_ARG_DIFF_DST_ITER, dhT},
                            {DNNL_ARG_DIFF_DST_ITER_C, dcT}});
      }
    }

    // One call = one chunk. Time split into forward, backward and the bookkeeping around them.
    long calls = 0;
    double t_fwd = 0, t_bwd = 0, t_other = 0;
    auto call = [&] {
      const int p = calls++ & 1;
      auto t0 = Clock::now();
      if (train) {  // the optimizer changed the weights: bring them into the forward layout
        to_fwd_layer.execute(strm, w_layer, w_layer_fwd);
        to_fwd_iter.execute(strm, w_iter, w_iter_fwd);
        strm.wait();
      }
      auto t1 = Clock::now();
      fwd.execute(strm, fwd_args[p]);
      strm.wait();
      auto t2 = Clock::now();
      t_other += std::chrono::duration<double>(t1 - t0).count();
      t_fwd += std::chrono::duration<double>(t2 - t1).count();
      if (!train) return;
      if (bwd_reorders) {
        to_bwd_layer.execute(strm, w_layer, w_layer_bwd);
        to_bwd_iter.execute(strm, w_iter, w_iter_bwd);
      }
      zero(dw_layer_prim);
      zero(dw_iter_prim);
      zero(dbias);
      strm.wait();
      auto t3 = Clock::now();
      bwd.execute(strm, bwd_args[p]);
      strm.wait();
      auto t4 = Clock::now();
      if (dw_reorders) {
        from_dw_layer.execute(strm, dw_layer_prim, dw_layer);
        from_dw_iter.execute(strm, dw_iter_prim, dw_iter);
        strm.wait();
      }
      t_other += std::chrono::duration<double>(t3 - t2).count() + seconds_since(t4);
      t_bwd += std::chrono::duration<double>(t4 - t3).count();
    };

    // Warm-up: first call (JIT, allocations, OpenMP start-up) plus a quarter of MIN_S.
    {
      const auto t0 = Clock::now();
      do call();
      while (seconds_since(t0) < std::max(0.25 * min_s, 0.05));
    }
    calls = 0;
    t_fwd = t_bwd = t_other = 0;
    const double tokens_per_call = (double)T * B;
    std::vector<double> rates;
    for (int r = 0; r < reps; ++r) {
      long n = 0;
      const auto t0 = Clock::now();
      double elapsed;
      do {
        call();
        ++n;
      } while ((elapsed = seconds_since(t0)) < min_s);
      rates.push_back(n * tokens_per_call / elapsed);
    }
    const long timed_calls = calls;

    // Numerical sanity of what was computed.
    double max_abs_h = 0;
    bool ok = hidden_output_ok(y, &max_abs_h);
    if (train) ok = ok && gradient_ok(dw_layer) && gradient_ok(dw_iter) && gradient_ok(dbias);

    const Summary tps = summarize(rates);
    const double fwd_flop_per_token = (double)L * 2 * kGates * H * (I + H);
    const double gflops = tps.median * fwd_flop_per_token * (train ? 3 : 1) * 1e-9;
    const dnnl::version_t* v = dnnl::version();
    char engine_name[48];
    std::snprintf(engine_name, sizeof engine_name, "onednn-%d.%d.%d", v->major, v->minor, v->patch);
    const int threads = omp_get_max_threads();
    const double ms = 1e3 / timed_calls;

    if (json) {
      std::printf(
          "{\"engine\": \"%s\", \"mode\": \"%s\", \"model\": \"lstm\", \"hidden\": %ld, \"batch\": %ld, "
          "\"threads\": %d, \"tokens_per_s\": %.2f, \"tokens_per_s_min\": %.2f, \"tokens_per_s_max\": %.2f, "
          "\"gflops\": %.3f, \"peak_fraction\": null, \"us_per_token\": null, \"peak_rss_mb\": %.1f, "
          "\"layers\": %ld, \"seq_length\": %ld, \"reps\": %d, \"ms_forward\": %.3f, \"ms_backward\": %.3f, "
          "\"ms_reorder_zero\": %.3f, \"max_abs_h\": %.4f, \"check\": \"%s\", \"impl\": \"%s/%s\"}\n",
          engine_name, mode.c_str(), (long)H, (long)B, threads, tps.median, tps.min, tps.max, gflops,
          peak_rss_mb(), (long)L, (long)T, reps, t_fwd * ms, t_bwd * ms, t_other * ms, max_abs_h,
          ok ? "ok" : "failed", fwd_pd.impl_info_str(), bwd_impl.c_str());
    } else {
      std::printf(
          "%s %s lstm L%ld H%ld B%ld T%ld threads %d: %.0f tok/s [%.0f-%.0f], %.1f GFLOP/s, peak RSS %.0f "
          "MB\n"
          "  per call: forward %.2f ms, backward %.2f ms, reorders+zeroing %.2f ms; max |h| %.3f, check %s\n",
          engine_name, mode.c_str(), (long)L, (long)H, (long)B, (long)T, threads, tps.median, tps.min,
          tps.max, gflops, peak_rss_mb(), t_fwd * ms, t_bwd * ms, t_other * ms, max_abs_h,
          ok ? "ok" : "FAILED");
    }
    if (!ok) {
      std::fprintf(stderr, "dnnl_lstm: numerical check failed (non-finite, |h| >= 1 or zero output)\n");
      return 3;
    }
  } catch (const dnnl::error& e) {
    std::fprintf(stderr, "dnnl_lstm: oneDNN error %d: %s\n", (int)e.status, e.what());
    return 1;
  }
  return 0;
}
