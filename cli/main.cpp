// recur: train, sample from, evaluate, inspect and benchmark character-level language models.
#include <fmt/format.h>

#include <exception>

#include "commands.h"
#include "recur/common.h"
#include "recur/ops/gemm.h"
#include "recur/ops/packed_gemm.h"

int main(int argc, char** argv) {
  CLI::App app{"recur: recurrent neural networks (RNN, LSTM, GRU) for sequence modelling"};
  app.require_subcommand(1);
  // The version line names the kernels this machine runs, for bug reports and benchmark records.
  app.set_version_flag("--version", [] {
    return fmt::format("recur 0.1 (GEMM backend {} [{}], packed kernel {})", recur::blas_backend(),
                       recur::blas_core(), recur::packed_gemm_isa());
  });
  recur::cli::add_train_command(app);
  recur::cli::add_sample_command(app);
  recur::cli::add_eval_command(app);
  recur::cli::add_inspect_command(app);
  recur::cli::add_bench_command(app);
  try {
    recur::blas_backend();  // a bad RECUR_BLAS in the environment is reported here, before any work
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const recur::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
