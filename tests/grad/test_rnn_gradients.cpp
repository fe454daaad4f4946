// Finite differences (double) through the fused recurrent layers: every cell, several steps,
// lengths varying inside the batch, bidirectional, two layers, learned and carried initial states,
// dropout between layers, residual connections. The input, the initial states and every parameter are checked
// together (the input and initial states are entries of the same ParameterTable).
#include <gtest/gtest.h>

#include "recur/autograd/functions.h"
#include "recur/autograd/gradcheck.h"
#include "recur/init.h"
#include "recur/layers/rnn.h"

namespace recur::layers {
namespace {

using ag::Var;
using nn::CellKind;

struct Case {
  const char* name;
  int layers = 1;
  bool bidirectional = false;
  std::vector<index_t> lengths;  // empty: all T
  bool learned_h0 = false;
  bool carried_h0 = false;  // caller-given initial states that receive a gradient
  double dropout = 0.0;
  DropoutMode dropout_mode = DropoutMode::kPerSequence;
  bool residual = false;
};

constexpr index_t kT = 4, kB = 3, kI = 3, kH = 3;

void check(CellKind cell, const Case& c) {
  SCOPED_TRACE(std::string(nn::cell_name(cell)) + " / " + c.name);
  nn::ParameterTable<double> params;
  RnnOptions o;
  o.cell = cell;
  o.input_size = kI;
  o.hidden_size = kH;
  o.num_layers = c.layers;
  o.bidirectional = c.bidirectional;
  o.dropout = c.dropout;
  o.dropout_mode = c.dropout_mode;
  o.learn_initial_state = c.learned_h0;
  o.residual = c.residual;
  const Rnn<double> rnn(params, o);
  const int x_id = params.add("x", Shape{kT, kB, kI});
  const auto entries = static_cast<size_t>(c.layers * rnn.directions());
  const bool has_c = nn::has_cell_state(cell);
  std::vector<int> h0_ids, c0_ids;
  if (c.carried_h0)
    for (size_t e = 0; e < entries; ++e) {
      h0_ids.push_back(params.add("h0_" + std::to_string(e), Shape{kB, kH}));
      if (has_c) c0_ids.push_back(params.add("c0_" + std::to_string(e), Shape{kB, kH}));
    }
  params.freeze();
  Rng rng(7);
  rnn.init(rng);
  for (int id = 0; id < params.size(); ++id) {
    Tensor<double> v = params.value(id);
    if (params.entry(id).name.find("initial_") != std::string::npos || id >= x_id)
      init::uniform(v, -0.8, 0.8, rng);
  }
  ag::GradcheckOptions options;
  const ag::GradcheckReport report = ag::gradcheck_parameters(
      params,
      [&](ag::Tape<double>& tape) {
        RnnState<double> initial;
        for (int id : h0_ids) initial.h.push_back(ag::param(tape, params, id));
        for (int id : c0_ids) initial.c.push_back(ag::param(tape, params, id));
        Rng dropout_rng(11);  // the same masks at every evaluation
        const RnnResult<double> r =
            rnn.forward(ag::param(tape, params, x_id), c.lengths, initial, c.dropout > 0, &dropout_rng);
        std::vector<Var<double>> parts{ag::reshape(r.output, Shape{r.output.value().numel()})};
        for (const Var<double>& h : r.final_state.h) parts.push_back(ag::reshape(h, Shape{kB * kH}));
        for (const Var<double>& s : r.final_state.c) parts.push_back(ag::reshape(s, Shape{kB * kH}));
        return ag::concat(parts, 0);
      },
      options);
  EXPECT_TRUE(report.ok) << report.message();
  EXPECT_GT(report.checked, 0);
}

const std::vector<Case> kCases = {
    {"1 layer", 1, false, {}},
    {"varying lengths", 1, false, {4, 1, 3}},
    {"bidirectional, varying lengths", 1, true, {2, 4, 3}},
    {"2 layers", 2, false, {}},
    {"2 layers bidirectional, a zero length", 2, true, {3, 0, 4}},
    {"learned h0", 1, false, {}, true},
    {"carried h0, 2 layers", 2, false, {4, 2, 3}, false, true},
    {"dropout per sequence", 2, false, {}, false, false, 0.4, DropoutMode::kPerSequence},
    {"dropout per step, bidirectional", 2, true, {3, 4, 1}, false, false, 0.4, DropoutMode::kPerStep},
    {"residual, 3 layers bidirectional, dropout",
     3,
     true,
     {4, 1, 3},
     false,
     false,
     0.4,
     DropoutMode::kPerSequence,
     true},
};

class RnnGradient : public ::testing::TestWithParam<CellKind> {};

TEST_P(RnnGradient, MatchesFiniteDifferences) {
  for (const Case& c : kCases) check(GetParam(), c);
}

INSTANTIATE_TEST_SUITE_P(AllCells, RnnGradient,
                         ::testing::Values(CellKind::kRnnTanh, CellKind::kRnnRelu, CellKind::kLstm,
                                           CellKind::kGru, CellKind::kGruResetBefore, CellKind::kJordan),
                         [](const ::testing::TestParamInfo<CellKind>& param) {
                           return std::string(nn::cell_name(param.param));
                         });

}  // namespace
}  // namespace recur::layers
