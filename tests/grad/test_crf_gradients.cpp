// The CRF loss's gradient (forward-backward marginals minus gold counts) against central finite
// differences in double, for the emissions, transitions, start and end scores, on a batch whose
// sentences have different lengths.
#include <gtest/gtest.h>

#include <vector>

#include "recur/autograd/crf.h"
#include "recur/autograd/gradcheck.h"
#include "recur/rng.h"

namespace recur::ag {
namespace {

TEST(CrfGradients, EmissionsTransitionsStartAndEnd) {
  const index_t T = 4, B = 3, K = 3;
  Rng rng(3);
  std::vector<Tensor<double>> inputs = {Tensor<double>(Shape{T, B, K}), Tensor<double>(Shape{K, K}),
                                        Tensor<double>(Shape{K}), Tensor<double>(Shape{K})};
  for (auto& t : inputs)
    for (index_t i = 0; i < t.numel(); ++i) t[i] = rng.uniform<double>(-1.5, 1.5);
  const std::vector<std::int32_t> tags = {0, 2, 1, 1, 0, 2, 2, 1, 0, 0, 2, 1};
  const std::vector<index_t> lengths = {4, 2, 1};
  const GradcheckReport r = gradcheck(
      [&](Tape<double>&, std::span<const Var<double>> x) {
        return crf_nll(x[0], x[1], x[2], x[3], tags, lengths);
      },
      inputs);
  EXPECT_TRUE(r.ok) << r.message();
  EXPECT_EQ(r.checked, T * B * K + K * K + 2 * K);
}

}  // namespace
}  // namespace recur::ag
