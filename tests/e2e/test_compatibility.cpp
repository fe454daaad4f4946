// What must not change under a refactor: a checkpoint written by an older recur still evaluates and
// samples as it did (tests/fixtures/legacy_char_lm/README.md says how it was made and what that
// binary printed), and a short training run still follows the loss curve it followed then.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_test.h"

namespace recur {
namespace {

const std::string kLegacy = RECUR_FIXTURE_DIR "/legacy_char_lm/char_lm_lstm_2x32.safetensors";
const std::string kHeldout = RECUR_FIXTURE_DIR "/legacy_char_lm/heldout.txt";

// Inference runs recur's packed kernel, whose instruction set follows the CPU (the fixture was
// written on AVX-512): the sums may round differently elsewhere, by a few float ulps per product.
constexpr double kCrossCpuLossTolerance = 1e-6;

TEST_F(Cli, ACheckpointWrittenBeforeTasksEvaluatesAsItDid) {
  const Result r = run("eval '" + kLegacy + "' '" + kHeldout + "' --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("tokens").get<long>(), 1199);
  EXPECT_NEAR(j.at("loss").get<double>(), 2.184190704907486, kCrossCpuLossTolerance);
  EXPECT_NEAR(j.at("perplexity").get<double>(), 8.883456305845725, 8.9 * kCrossCpuLossTolerance);
}

TEST_F(Cli, ACheckpointWrittenBeforeTasksSamplesAsItDid) {
  const Result r = run("sample '" + kLegacy + "' --seed 11 --length 120 --prime-text ROMEO:");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "ROMEO:\nNo aod spunce Vet sarfeose vewltepn ronce 'tat\nYout that a he hore ins a pam, be thay "
            "tryo; stre thay\nSo tUunould it yo\n");
  const Result inspect = run("inspect '" + kLegacy + "'");
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_NE(inspect.out.find("rnn.weight_ih_l1"), std::string::npos) << inspect.out;
}

// The loss curve of Cli::small_model() with dropout for 10 steps on 1 thread, as recur printed it at
// commit fbce60f (before models were built from modules), re-recorded when dropout masks moved to one
// 32-bit draw per element (the only change in the curve since: the refactors kept it). Training goes through
// the GEMM backend the build picks, whose sums differ between CPUs and backends in the last bits; a changed
// initialisation order, dropout draw or gradient moves the first loss by 1e-3 or more.
constexpr double kCrossBackendCurveTolerance = 2e-4;

TEST_F(Cli, TheTrainingCurveIsTheOneRecordedBeforeTheModuleRefactor) {
  const Result r = run("train " + small_model() +
                       " --dropout 0.1 --max-iters 10 --eval-val-every 10 --log-every 1 "
                       "--checkpoint-dir cv");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<double> want = {
      4.050067901611328, 3.9708430767059326, 3.9594502449035645, 3.913069248199463, 3.7973616123199463,
      3.784381628036499, 3.572249174118042,  3.348867416381836,  3.540290355682373, 3.3963685035705566};
  std::vector<double> got;
  double val = 0;
  std::istringstream lines(slurp(dir_ / "cv/metrics.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.at("event") == "train") got.push_back(j.at("loss").get<double>());
    if (j.at("event") == "val") val = j.at("val_loss").get<double>();
  }
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[i], want[i], kCrossBackendCurveTolerance) << "iteration " << i + 1;
  EXPECT_NEAR(val, 3.385128378868103, kCrossBackendCurveTolerance);
}

}  // namespace
}  // namespace recur
