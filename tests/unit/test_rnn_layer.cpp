// layers::Rnn, the stack of fused recurrent layers, against independent oracles:
//   - the same math composed step by step from the composed cells (autograd/composed_cells.h) with
//     the masking written out, forward values and every gradient, in double and in float;
//   - its own inference path (NoGrad), sequences run alone (variable lengths), closed-form weights
//     (dropout masks), the init schemes' defining properties and PyTorch's parameter names;
//   - the errors promised in rnn.h and autograd/scan.h.
// Finite differences through the fused layers are in tests/grad/test_rnn_gradients.cpp; streaming is
// in test_rnn_stream.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "recur/autograd/composed_cells.h"
#include "recur/init.h"
#include "recur/layers/rnn.h"
#include "test_util.h"

namespace recur::layers {
namespace {

using ag::Var;
using nn::CellKind;
using testing::all_close;
using testing::throws_error_with;

// Fused and composed differ only in summation order (one hoisted GEMM against per-step products).
constexpr double kDoubleTolerance = 1e-12;  // atol and rtol
constexpr double kFloatTolerance = 1e-5;

template <class T>
constexpr double tolerance() {
  return std::is_same_v<T, double> ? kDoubleTolerance : kFloatTolerance;
}

const std::vector<CellKind> kAllCells = {CellKind::kRnnTanh, CellKind::kRnnRelu,        CellKind::kLstm,
                                         CellKind::kGru,     CellKind::kGruResetBefore, CellKind::kJordan};

std::string cell_name(const ::testing::TestParamInfo<CellKind>& info) {
  return std::string(nn::cell_name(info.param));
}

RnnOptions make_options(CellKind cell, index_t input, index_t hidden, int layers, bool bidirectional) {
  RnnOptions o;
  o.cell = cell;
  o.input_size = input;
  o.hidden_size = hidden;
  o.num_layers = layers;
  o.bidirectional = bidirectional;
  return o;
}

template <class T>
Tensor<T> random_tensor(const Shape& shape, Rng& rng, double bound = 0.8) {
  Tensor<T> t(shape);
  init::uniform(t, static_cast<T>(-bound), static_cast<T>(bound), rng);
  return t;
}

// The row (t, b) of a (T, B, W) tensor.
template <class T>
const T* at(const Tensor<T>& t, index_t step, index_t b) {
  return t.data() + (step * t.dim(1) + b) * t.dim(2);
}

// An Rnn over its own table, plus table entries for the input and (optionally) caller-given initial
// states, so that one flat gradient buffer holds every gradient the tests compare.
template <class T>
struct Model {
  Model(const RnnOptions& o, index_t steps, index_t batch, bool given_initial, std::uint64_t seed = 5)
      : rnn(params, o) {
    x_id = params.add("x", Shape{steps, batch, o.input_size});
    const bool has_c = nn::has_cell_state(o.cell);
    if (given_initial)
      for (int e = 0; e < o.num_layers * rnn.directions(); ++e) {
        h0_ids.push_back(params.add("h0_" + std::to_string(e), Shape{batch, o.hidden_size}));
        if (has_c) c0_ids.push_back(params.add("c0_" + std::to_string(e), Shape{batch, o.hidden_size}));
      }
    params.freeze();
    Rng rng(seed);
    rnn.init(rng);
    for (int id = 0; id < params.size(); ++id) {
      Tensor<T> v = params.value(id);
      init::uniform(v, T(-0.8), T(0.8), rng);  // larger than PyTorch's init: every unit matters
    }
  }
  Var<T> x(ag::Tape<T>& tape) const { return ag::param(tape, params, x_id); }
  RnnState<T> initial(ag::Tape<T>& tape) const {
    RnnState<T> s;
    for (int id : h0_ids) s.h.push_back(ag::param(tape, params, id));
    for (int id : c0_ids) s.c.push_back(ag::param(tape, params, id));
    return s;
  }

  nn::ParameterTable<T> params;
  Rnn<T> rnn;
  int x_id = -1;
  std::vector<int> h0_ids, c0_ids;
};

// ---- a. fused vs composed ---------------------------------------------------------------------

// One (layer, direction) composed step by step. The masking rule of nn/scan.h with 0/1 constants
// m_t[b] = [t < lengths[b]]:  state ← m ⊙ cell(x_t, state) + (1 − m) ⊙ state,  y_t = m ⊙ cell(...).
template <class T>
ag::ScanLayerResult<T> composed_layer(CellKind cell, bool reverse, const Var<T>& x,
                                      const ag::ScanLayerWeights<T>& w, const std::vector<index_t>& lengths,
                                      Var<T> h, Var<T> c) {
  ag::Tape<T>& tape = x.tape();
  const index_t steps = x.shape()[0], B = x.shape()[1], I = x.shape()[2], H = w.W_hh.shape()[1];
  if (!h.defined()) h = tape.constant(Tensor<T>(Shape{B, H}));
  if (!c.defined() && nn::has_cell_state(cell)) c = tape.constant(Tensor<T>(Shape{B, H}));
  std::vector<Var<T>> ys(static_cast<size_t>(steps));
  for (index_t k = 0; k < steps; ++k) {
    const index_t t = reverse ? steps - 1 - k : k;
    Tensor<T> real(Shape{B, H}), padded(Shape{B, H});
    for (index_t b = 0; b < B; ++b) {
      const bool is_real = lengths.empty() || t < lengths[static_cast<size_t>(b)];
      for (index_t j = 0; j < H; ++j) (is_real ? real : padded)[b * H + j] = T(1);
    }
    const Var<T> m = tape.constant(real), keep = tape.constant(padded);
    const Var<T> x_t = ag::reshape(ag::slice(x, 0, t, 1), Shape{B, I});
    Var<T> h_new, c_new;
    switch (cell) {
      case CellKind::kRnnTanh:
      case CellKind::kRnnRelu:
        h_new = ag::rnn_cell_composed(x_t, h, w.W_ih, w.W_hh, w.b_ih, w.b_hh, cell == CellKind::kRnnRelu);
        break;
      case CellKind::kLstm: {
        const ag::LstmState<T> s = ag::lstm_cell_composed(x_t, {h, c}, w.W_ih, w.W_hh, w.b_ih, w.b_hh);
        h_new = s.h;
        c_new = s.c;
        break;
      }
      case CellKind::kGru:
        h_new = ag::gru_cell_composed(x_t, h, w.W_ih, w.W_hh, w.b_ih, w.b_hh);
        break;
      case CellKind::kGruResetBefore:
        h_new = ag::gru_reset_before_cell_composed(x_t, h, w.W_ih, w.W_hh, w.b_ih, w.b_hh);
        break;
      case CellKind::kJordan:
        h_new = ag::jordan_cell_composed(x_t, h, w.W_ih, w.W_hh, w.b_ih, w.b_hh, w.W_hy, w.b_hy);
        break;
    }
    ys[static_cast<size_t>(t)] = ag::reshape(m * h_new, Shape{1, B, H});
    h = m * h_new + keep * h;
    if (c_new.defined()) c = m * c_new + keep * c;
  }
  return {ag::concat(ys, 0), h, c};
}

// The whole stack composed: Rnn::forward's structure with composed_layer in place of scan_layer.
template <class T>
RnnResult<T> composed_forward(const Rnn<T>& rnn, const Var<T>& x, const std::vector<index_t>& lengths,
                              const RnnState<T>& initial) {
  ag::Tape<T>& tape = x.tape();
  const nn::ParameterTable<T>& params = rnn.params();
  const CellKind cell = rnn.options().cell;
  const index_t B = x.shape()[1], H = rnn.options().hidden_size;
  const auto start = [&](const std::vector<Var<T>>& given, size_t e, int learned_id) {
    if (!given.empty()) return given[e];
    if (learned_id >= 0)
      return ag::add_bias(tape.constant(Tensor<T>(Shape{B, H})), ag::param(tape, params, learned_id));
    return Var<T>();
  };
  RnnResult<T> result;
  Var<T> input = x;
  for (int l = 0; l < rnn.options().num_layers; ++l) {
    const Var<T> layer_input = input;
    std::vector<Var<T>> outputs;
    for (int dir = 0; dir < rnn.directions(); ++dir) {
      const auto& p = rnn.layer(l, dir);
      const auto e = static_cast<size_t>(l * rnn.directions() + dir);
      ag::ScanLayerWeights<T> w;
      w.W_ih = ag::param(tape, params, p.W_ih);
      w.W_hh = ag::param(tape, params, p.W_hh);
      w.b_ih = ag::param(tape, params, p.b_ih);
      w.b_hh = ag::param(tape, params, p.b_hh);
      if (p.W_hy >= 0) {
        w.W_hy = ag::param(tape, params, p.W_hy);
        w.b_hy = ag::param(tape, params, p.b_hy);
      }
      const ag::ScanLayerResult<T> r = composed_layer(cell, dir == 1, input, w, lengths,
                                                      start(initial.h, e, p.h0), start(initial.c, e, p.c0));
      outputs.push_back(r.y);
      result.final_state.h.push_back(r.h_n);
      if (nn::has_cell_state(cell)) result.final_state.c.push_back(r.c_n);
    }
    input = outputs.size() == 1 ? outputs[0] : ag::concat(outputs, 2);
    if (rnn.options().residual && l > 0) input = input + layer_input;
  }
  result.output = input;
  return result;
}

// Σ output ⊙ R_y + Σ_e h_n[e] ⊙ R_h[e] + Σ_e c_n[e] ⊙ R_c[e], with fixed random R.
template <class T>
Var<T> weighted_sum(const RnnResult<T>& r) {
  ag::Tape<T>& tape = r.output.tape();
  Rng rng(99);
  Var<T> loss = ag::sum(r.output * tape.constant(random_tensor<T>(r.output.shape(), rng, 1.0)));
  for (const auto* states : {&r.final_state.h, &r.final_state.c})
    for (const Var<T>& s : *states)
      loss = loss + ag::sum(s * tape.constant(random_tensor<T>(s.shape(), rng, 1.0)));
  return loss;
}

enum class Initial { kZeros, kGiven, kLearned };

struct ComposedCase {
  const char* name;
  int layers;
  bool bidirectional;
  std::vector<index_t> lengths;
  Initial initial;
  bool residual = false;
};

constexpr index_t kT = 5, kB = 3, kI = 3, kH = 4;

const std::vector<ComposedCase> kComposedCases = {
    {"1 layer, varying lengths", 1, false, {5, 2, 4}, Initial::kGiven},
    {"bidirectional, varying lengths, a zero length", 1, true, {3, 5, 0}, Initial::kGiven},
    {"2 layers, varying lengths", 2, false, {5, 1, 3}, Initial::kGiven},
    {"2 layers bidirectional, varying lengths", 2, true, {4, 5, 2}, Initial::kGiven},
    {"2 layers bidirectional, full lengths, zero initial state", 2, true, {}, Initial::kZeros},
    {"bidirectional, learned initial state", 1, true, {5, 3, 4}, Initial::kLearned},
    {"3 layers bidirectional, residual, varying lengths", 3, true, {4, 5, 2}, Initial::kGiven, true},
    {"2 layers, residual, full lengths", 2, false, {}, Initial::kZeros, true},
};

template <class T>
void check_fused_against_composed(CellKind cell, const ComposedCase& c) {
  SCOPED_TRACE(std::string(nn::cell_name(cell)) + " / " + c.name +
               (std::is_same_v<T, double> ? " / double" : " / float"));
  RnnOptions o = make_options(cell, kI, kH, c.layers, c.bidirectional);
  o.learn_initial_state = c.initial == Initial::kLearned;
  o.residual = c.residual;
  Model<T> s(o, kT, kB, c.initial == Initial::kGiven);
  const double tol = tolerance<T>();

  struct Outcome {
    std::vector<Tensor<T>> values;  // output, then every h_n, then every c_n
    std::vector<Tensor<T>> grads;   // one per table entry
  };
  const auto run = [&](bool fused) {
    s.params.zero_grad();
    ag::Tape<T> tape;
    const RnnResult<T> r = fused ? s.rnn.forward(s.x(tape), c.lengths, s.initial(tape))
                                 : composed_forward(s.rnn, s.x(tape), c.lengths, s.initial(tape));
    tape.backward(weighted_sum(r));
    Outcome out;
    out.values.push_back(r.output.value().clone());
    for (const Var<T>& h : r.final_state.h) out.values.push_back(h.value().clone());
    for (const Var<T>& cn : r.final_state.c) out.values.push_back(cn.value().clone());
    for (int id = 0; id < s.params.size(); ++id) out.grads.push_back(s.params.grad(id).clone());
    return out;
  };
  const Outcome fused = run(true), composed = run(false);

  const size_t entries = static_cast<size_t>(c.layers * s.rnn.directions());
  ASSERT_EQ(fused.values.size(), 1 + entries * (nn::has_cell_state(cell) ? 2 : 1));
  ASSERT_EQ(composed.values.size(), fused.values.size());
  for (size_t k = 0; k < fused.values.size(); ++k)
    EXPECT_TRUE(all_close(fused.values[k], composed.values[k], tol, tol))
        << (k == 0 ? std::string("output") : "final state " + std::to_string(k - 1));
  for (int id = 0; id < s.params.size(); ++id) {
    const Tensor<T>& g = fused.grads[static_cast<size_t>(id)];
    EXPECT_TRUE(all_close(g, composed.grads[static_cast<size_t>(id)], tol, tol))
        << "gradient of " << s.params.entry(id).name;
    double norm = 0;
    for (index_t i = 0; i < g.numel(); ++i) norm += std::abs(static_cast<double>(g[i]));
    EXPECT_GT(norm, 0.0) << "gradient of " << s.params.entry(id).name << " is all zero: the check is vacuous";
  }
}

class RnnLayer : public ::testing::TestWithParam<CellKind> {};

TEST_P(RnnLayer, FusedMatchesComposedInDouble) {
  for (const ComposedCase& c : kComposedCases) check_fused_against_composed<double>(GetParam(), c);
}

TEST_P(RnnLayer, FusedMatchesComposedInFloat) {
  for (const ComposedCase& c : kComposedCases) check_fused_against_composed<float>(GetParam(), c);
}

// ---- b. inference path vs training path ---------------------------------------------------------

TEST_P(RnnLayer, InferenceMatchesTrainingPath) {
  const std::vector<index_t> lengths{5, 2, 0};
  for (const bool residual : {false, true}) {
    SCOPED_TRACE(residual ? "residual, 3 layers" : "2 layers");
    RnnOptions o = make_options(GetParam(), kI, kH, residual ? 3 : 2, true);
    o.residual = residual;
    Model<float> s(o, kT, kB, true);
    ag::Tape<float> tape;
    const RnnResult<float> trained = s.rnn.forward(s.x(tape), lengths, s.initial(tape));
    ASSERT_TRUE(trained.output.requires_grad());
    RnnResult<float> inferred;
    {
      ag::NoGrad<float> no_grad(tape);
      inferred = s.rnn.forward(s.x(tape), lengths, s.initial(tape));
    }
    ASSERT_FALSE(inferred.output.requires_grad());
    EXPECT_TRUE(all_close(inferred.output.value(), trained.output.value(), kFloatTolerance, kFloatTolerance));
    for (size_t e = 0; e < trained.final_state.h.size(); ++e)
      EXPECT_TRUE(all_close(inferred.final_state.h[e].value(), trained.final_state.h[e].value(),
                            kFloatTolerance, kFloatTolerance))
          << "h_n " << e;
    ASSERT_EQ(inferred.final_state.c.size(), trained.final_state.c.size());
    for (size_t e = 0; e < trained.final_state.c.size(); ++e)
      EXPECT_TRUE(all_close(inferred.final_state.c[e].value(), trained.final_state.c[e].value(),
                            kFloatTolerance, kFloatTolerance))
          << "c_n " << e;
  }
}

// Without gradients each direction's scan writes its half of the layer's output in place, and
// final_state() keeps no output of the last layer. The reference runs every (layer, direction)
// through ag::scan_layer and concatenates, as the tape path does: the same kernels, so the same
// bits, with given or learned initial states and lengths sorted longest first (finished rows
// skipped) or not.
TEST_P(RnnLayer, InferenceWritesEachDirectionInPlace) {
  const CellKind cell = GetParam();
  for (const bool learned : {false, true})
    for (const std::vector<index_t>& lengths :
         {std::vector<index_t>{5, 3, 0}, std::vector<index_t>{2, 5, 4}}) {
      SCOPED_TRACE(std::string(learned ? "learned" : "given") + " initial state, lengths " +
                   std::to_string(lengths[0]) + " " + std::to_string(lengths[1]) + " " +
                   std::to_string(lengths[2]));
      RnnOptions o = make_options(cell, kI, kH, 2, true);
      o.learn_initial_state = learned;
      Model<float> s(o, kT, kB, !learned);
      ag::Tape<float> tape;
      ag::NoGrad<float> no_grad(tape);
      const RnnState<float> initial = s.initial(tape);  // empty with a learned state
      const RnnResult<float> r = s.rnn.forward(s.x(tape), lengths, initial);

      const auto learned_state = [&](int id) {
        return ag::add_bias(tape.constant(Tensor<float>(Shape{kB, kH})), ag::param(tape, s.params, id));
      };
      Var<float> input = s.x(tape);
      std::vector<Var<float>> h_n, c_n;
      for (int l = 0; l < 2; ++l) {
        std::vector<Var<float>> halves;
        for (int dir = 0; dir < 2; ++dir) {
          const auto& p = s.rnn.layer(l, dir);
          const auto e = static_cast<size_t>(l * 2 + dir);
          ag::ScanLayerWeights<float> w;
          w.W_ih = ag::param(tape, s.params, p.W_ih);
          w.W_hh = ag::param(tape, s.params, p.W_hh);
          w.b_ih = ag::param(tape, s.params, p.b_ih);
          w.b_hh = ag::param(tape, s.params, p.b_hh);
          if (p.W_hy >= 0) {
            w.W_hy = ag::param(tape, s.params, p.W_hy);
            w.b_hy = ag::param(tape, s.params, p.b_hy);
          }
          Var<float> h0, c0;
          if (learned) {
            h0 = learned_state(p.h0);
            if (p.c0 >= 0) c0 = learned_state(p.c0);
          } else {
            h0 = initial.h[e];
            if (!initial.c.empty()) c0 = initial.c[e];
          }
          const ag::ScanLayerResult<float> one = ag::scan_layer(
              cell, dir == 0 ? nn::Direction::kForward : nn::Direction::kReverse, input, w, lengths, h0, c0);
          halves.push_back(one.y);
          h_n.push_back(one.h_n);
          if (one.c_n.defined()) c_n.push_back(one.c_n);
        }
        input = ag::concat(halves, 2);
      }
      EXPECT_EQ(r.output.value().to_vector(), input.value().to_vector());
      ASSERT_EQ(r.final_state.h.size(), h_n.size());
      ASSERT_EQ(r.final_state.c.size(), c_n.size());
      for (size_t e = 0; e < h_n.size(); ++e)
        EXPECT_EQ(r.final_state.h[e].value().to_vector(), h_n[e].value().to_vector()) << "h_n " << e;
      for (size_t e = 0; e < c_n.size(); ++e)
        EXPECT_EQ(r.final_state.c[e].value().to_vector(), c_n[e].value().to_vector()) << "c_n " << e;
      // The final states alone (the last layer keeps no output): the same bits.
      const RnnState<float> finals = s.rnn.final_state(s.x(tape), lengths, initial);
      ASSERT_EQ(finals.h.size(), h_n.size());
      ASSERT_EQ(finals.c.size(), c_n.size());
      for (size_t e = 0; e < h_n.size(); ++e)
        EXPECT_EQ(finals.h[e].value().to_vector(), h_n[e].value().to_vector()) << "final_state h " << e;
      for (size_t e = 0; e < c_n.size(); ++e)
        EXPECT_EQ(finals.c[e].value().to_vector(), c_n[e].value().to_vector()) << "final_state c " << e;
    }
}

// In training final_state() keeps no output of the last layer and passes no gradient of one back:
// the gradients of a loss on the final states are those through forward()'s (where the unused
// outputs send back zeros), for every weight, the input and the initial states.
TEST_P(RnnLayer, FinalStateAloneHasTheGradientsOfTheWholeForward) {
  const std::vector<index_t> lengths{5, 2, 0};
  Model<double> s(make_options(GetParam(), kI, kH, 2, true), kT, kB, true);
  const auto gradients = [&](bool alone) {
    s.params.zero_grad();
    ag::Tape<double> tape;
    const RnnState<double> finals = alone ? s.rnn.final_state(s.x(tape), lengths, s.initial(tape))
                                          : s.rnn.forward(s.x(tape), lengths, s.initial(tape)).final_state;
    // Σ_e (e + 1) · Σ h_e (and c_e): each entry weighs differently.
    std::vector<Var<double>> terms;
    for (size_t e = 0; e < finals.h.size(); ++e)
      terms.push_back(ag::scale(ag::sum(finals.h[e]), double(e + 1)));
    for (size_t e = 0; e < finals.c.size(); ++e)
      terms.push_back(ag::scale(ag::sum(finals.c[e]), double(e + 2)));
    Var<double> loss = terms[0];
    for (size_t i = 1; i < terms.size(); ++i) loss = ag::add(loss, terms[i]);
    tape.backward(loss);
    return s.params.flat_grads().to_vector();
  };
  const std::vector<double> whole = gradients(false);
  EXPECT_EQ(gradients(true), whole);
  EXPECT_GT(std::count_if(whole.begin(), whole.end(), [](double g) { return g != 0.0; }), 0);
}

// ---- d. variable lengths ------------------------------------------------------------------------

// Both paths (training and NoGrad), 2 bidirectional layers.
TEST_P(RnnLayer, PaddedStepsOutputExactZeroAndLengthZeroKeepsInitialState) {
  const std::vector<index_t> lengths{5, 2, 0, 4};
  const index_t B = 4;
  Model<float> s(make_options(GetParam(), kI, kH, 2, true), kT, B, true);
  for (bool grad : {true, false}) {
    SCOPED_TRACE(grad ? "training path" : "inference path");
    ag::Tape<float> tape;
    tape.set_grad_enabled(grad);
    const RnnState<float> initial = s.initial(tape);
    const RnnResult<float> r = s.rnn.forward(s.x(tape), lengths, initial);
    const Tensor<float>& y = r.output.value();
    index_t nonzero = 0;
    for (index_t t = 0; t < kT; ++t)
      for (index_t b = 0; b < B; ++b)
        for (index_t j = 0; j < 2 * kH; ++j) {
          const float v = at(y, t, b)[j];
          if (t >= lengths[static_cast<size_t>(b)]) {
            EXPECT_EQ(v, 0.0f) << "padded output t=" << t << " b=" << b << " j=" << j;
          } else {
            nonzero += v != 0.0f;
          }
        }
    EXPECT_GT(nonzero, 0);
    // Row 2 has length 0: every layer's final state is its initial state, bit for bit.
    for (const auto& [finals, starts] :
         {std::pair{&r.final_state.h, &initial.h}, std::pair{&r.final_state.c, &initial.c}})
      for (size_t e = 0; e < finals->size(); ++e)
        for (index_t j = 0; j < kH; ++j)
          EXPECT_EQ((*finals)[e].value()[2 * kH + j], (*starts)[e].value()[2 * kH + j])
              << "entry " << e << " j=" << j;
  }
}

// A sequence of length L inside a padded batch ends in the state (and gives the outputs) of the same
// sequence run alone with T = L: both directions, two layers.
TEST_P(RnnLayer, PaddedSequenceMatchesSequenceRunAlone) {
  const std::vector<index_t> lengths{3, 5, 1};
  Model<float> s(make_options(GetParam(), kI, kH, 2, true), kT, kB, false);
  ag::Tape<float> tape;
  ag::NoGrad<float> no_grad(tape);
  const Var<float> x = s.x(tape);
  const RnnResult<float> batch = s.rnn.forward(x, lengths);
  for (index_t b = 0; b < kB; ++b) {
    SCOPED_TRACE("row " + std::to_string(b));
    const index_t L = lengths[static_cast<size_t>(b)];
    Tensor<float> alone_x(Shape{L, 1, kI});
    for (index_t t = 0; t < L; ++t)
      std::copy(at(x.value(), t, b), at(x.value(), t, b) + kI, alone_x.data() + t * kI);
    const RnnResult<float> alone = s.rnn.forward(tape.constant(alone_x));
    for (index_t t = 0; t < L; ++t)
      EXPECT_TRUE(all_close(at(batch.output.value(), t, b), at(alone.output.value(), t, 0), 2 * kH,
                            kFloatTolerance, kFloatTolerance))
          << "output at t=" << t;
    for (const auto& [batched, single] : {std::pair{&batch.final_state.h, &alone.final_state.h},
                                          std::pair{&batch.final_state.c, &alone.final_state.c}})
      for (size_t e = 0; e < batched->size(); ++e)
        EXPECT_TRUE(all_close((*batched)[e].value().data() + b * kH, (*single)[e].value().data(), kH,
                              kFloatTolerance, kFloatTolerance))
            << "final state entry " << e << " (layer " << e / 2 << (e % 2 ? ", reverse)" : ", forward)");
  }
}

TEST_P(RnnLayer, BadLengthsThrowNamingThem) {
  Model<float> s(make_options(GetParam(), kI, kH, 1, true), kT, kB, false);
  ag::Tape<float> tape;
  const Var<float> x = s.x(tape);
  EXPECT_TRUE(throws_error_with([&] { s.rnn.forward(x, {5, 6, 1}); }, {"lengths[1] = 6", "T = 5"}));
  EXPECT_TRUE(throws_error_with([&] { s.rnn.forward(x, {-1, 2, 1}); }, {"lengths[0] = -1", "T = 5"}));
  EXPECT_TRUE(throws_error_with([&] { s.rnn.forward(x, {5, 5}); }, {"2 lengths for a batch of 3"}));
  ag::NoGrad<float> no_grad(tape);
  EXPECT_TRUE(throws_error_with([&] { s.rnn.forward(x, {5, 1, 7}); }, {"lengths[2] = 7"}));
}

// ---- e. init schemes and parameter names ----------------------------------------------------------

// Model with I = 3, H = 8 over its own table, initialized with `init`.
struct InitSetup {
  InitSetup(CellKind cell, const RnnInitOptions& init, int layers = 2, bool bidirectional = true)
      : rnn(params, make_options(cell, 3, kHidden, layers, bidirectional)) {
    params.freeze();
    Rng rng(21);
    rnn.init(rng, init);
  }
  Tensor<float> value(const std::string& name) const { return params.value(params.id("rnn." + name)); }

  static constexpr index_t kHidden = 8;
  nn::ParameterTable<float> params;
  Rnn<float> rnn;
};

// Every (layer, direction) suffix of a 2-layer bidirectional model.
const std::vector<std::string> kSuffixes = {"_l0", "_l0_reverse", "_l1", "_l1_reverse"};

::testing::AssertionResult within(const Tensor<float>& t, double bound) {
  float lo = t[0], hi = t[0];
  for (index_t i = 0; i < t.numel(); ++i) {
    if (!(std::abs(t[i]) <= bound))
      return ::testing::AssertionFailure() << "element " << i << " = " << t[i] << " is outside ±" << bound;
    lo = std::min(lo, t[i]);
    hi = std::max(hi, t[i]);
  }
  if (lo == hi) return ::testing::AssertionFailure() << "all " << t.numel() << " elements equal " << lo;
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult all_zero(const Tensor<float>& t) {
  for (index_t i = 0; i < t.numel(); ++i)
    if (t[i] != 0.0f) return ::testing::AssertionFailure() << "element " << i << " = " << t[i];
  return ::testing::AssertionSuccess();
}

// Bᵀ B for each (H, H) row block B of W, against I (orthonormal columns) or B itself against I.
::testing::AssertionResult blocks_match(const Tensor<float>& W, index_t H, bool gram) {
  for (index_t g = 0; g < W.dim(0) / H; ++g) {
    std::vector<double> got(static_cast<size_t>(H * H)), identity(static_cast<size_t>(H * H));
    for (index_t i = 0; i < H; ++i)
      for (index_t j = 0; j < H; ++j) {
        double v = 0;
        if (gram)
          for (index_t k = 0; k < H; ++k)
            v += double(W[(g * H + k) * H + i]) * double(W[(g * H + k) * H + j]);
        else
          v = W[(g * H + i) * H + j];
        got[static_cast<size_t>(i * H + j)] = v;
        identity[static_cast<size_t>(i * H + j)] = i == j ? 1.0 : 0.0;
      }
    ::testing::AssertionResult r = all_close(got, identity, gram ? 1e-5 : 0.0, 0.0);
    if (!r) return r << " in gate block " << g;
  }
  return ::testing::AssertionSuccess();
}

TEST_P(RnnLayer, PyTorchInitIsUniformWithinOneOverSqrtH) {
  const InitSetup s(GetParam(), {});
  const double bound = 1.0 / std::sqrt(double(InitSetup::kHidden));
  for (const auto& e : s.params.entries())
    EXPECT_TRUE(within(s.params.value(s.params.id(e.name)), bound)) << e.name;
}

TEST_P(RnnLayer, OrthogonalInitGivesOrthonormalGateBlocksAndZeroBiases) {
  const InitSetup s(GetParam(), {RnnInit::kOrthogonal, {}});
  const double bound = 1.0 / std::sqrt(double(InitSetup::kHidden));
  const bool jordan = nn::has_output_projection(GetParam());
  for (const std::string& k : kSuffixes) {
    SCOPED_TRACE(k);
    EXPECT_TRUE(blocks_match(s.value("weight_hh" + k), InitSetup::kHidden, true));
    EXPECT_TRUE(within(s.value("weight_ih" + k), bound));
    EXPECT_TRUE(all_zero(s.value("bias_ih" + k)));
    EXPECT_TRUE(all_zero(s.value("bias_hh" + k)));
    if (jordan) {
      EXPECT_TRUE(blocks_match(s.value("weight_hy" + k), InitSetup::kHidden, true));
      EXPECT_TRUE(all_zero(s.value("bias_hy" + k)));
    }
  }
}

TEST_P(RnnLayer, IdentityInitGivesIdentityBlocksAndSmallInputWeights) {
  const InitSetup s(GetParam(), {RnnInit::kIdentity, {}});
  const bool jordan = nn::has_output_projection(GetParam());
  for (const std::string& k : kSuffixes) {
    SCOPED_TRACE(k);
    EXPECT_TRUE(blocks_match(s.value("weight_hh" + k), InitSetup::kHidden, false));
    EXPECT_TRUE(within(s.value("weight_ih" + k), 0.01));
    EXPECT_TRUE(all_zero(s.value("bias_ih" + k)));
    EXPECT_TRUE(all_zero(s.value("bias_hh" + k)));
    if (jordan) {
      EXPECT_TRUE(blocks_match(s.value("weight_hy" + k), InitSetup::kHidden, false));
      EXPECT_TRUE(all_zero(s.value("bias_hy" + k)));
    }
  }
}

TEST(RnnInit, LstmForgetBiasOpensTheForgetGate) {
  const index_t H = InitSetup::kHidden;
  for (RnnInit scheme : {RnnInit::kPyTorch, RnnInit::kOrthogonal}) {
    const InitSetup s(CellKind::kLstm, {scheme, 1.0});
    for (const std::string& k : kSuffixes) {
      SCOPED_TRACE(k + (scheme == RnnInit::kPyTorch ? " pytorch" : " orthogonal"));
      const Tensor<float> b_ih = s.value("bias_ih" + k), b_hh = s.value("bias_hh" + k);
      index_t other_nonzero = 0;
      for (index_t j = 0; j < 4 * H; ++j) {
        if (j >= H && j < 2 * H) {
          EXPECT_EQ(b_ih[j], 1.0f) << "bias_ih[" << j << "]";
          EXPECT_EQ(b_hh[j], 0.0f) << "bias_hh[" << j << "]";
        } else {
          other_nonzero += (b_ih[j] != 0.0f) + (b_hh[j] != 0.0f);
        }
      }
      // The other gates keep the scheme's values: random for PyTorch's, zero for orthogonal.
      EXPECT_EQ(other_nonzero, scheme == RnnInit::kPyTorch ? 6 * H : 0);
    }
  }
  // No forget gate elsewhere: the option changes nothing.
  const InitSetup with(CellKind::kGru, {RnnInit::kPyTorch, 1.0}), without(CellKind::kGru, {});
  EXPECT_TRUE(all_close(with.params.flat_values(), without.params.flat_values(), 0.0, 0.0));
}

std::vector<std::pair<std::string, Shape>> names_and_shapes(const nn::ParameterTable<float>& params) {
  std::vector<std::pair<std::string, Shape>> out;
  for (const auto& e : params.entries()) out.emplace_back(e.name, e.shape);
  return out;
}

std::string describe(const std::vector<std::pair<std::string, Shape>>& list) {
  std::string s;
  for (const auto& [name, shape] : list) s += "\n  " + name + " " + shape.str();
  return s;
}

TEST(RnnParameters, NamesAndShapesArePyTorchs) {
  using List = std::vector<std::pair<std::string, Shape>>;
  const auto names = [](RnnOptions o) {
    nn::ParameterTable<float> params;
    const Rnn<float> rnn(params, o);
    return names_and_shapes(params);
  };
  const List lstm = names(make_options(CellKind::kLstm, 3, 4, 2, true));
  const List expected_lstm = {
      {"rnn.weight_ih_l0", Shape{16, 3}},
      {"rnn.weight_hh_l0", Shape{16, 4}},
      {"rnn.bias_ih_l0", Shape{16}},
      {"rnn.bias_hh_l0", Shape{16}},
      {"rnn.weight_ih_l0_reverse", Shape{16, 3}},
      {"rnn.weight_hh_l0_reverse", Shape{16, 4}},
      {"rnn.bias_ih_l0_reverse", Shape{16}},
      {"rnn.bias_hh_l0_reverse", Shape{16}},
      {"rnn.weight_ih_l1", Shape{16, 8}},
      {"rnn.weight_hh_l1", Shape{16, 4}},
      {"rnn.bias_ih_l1", Shape{16}},
      {"rnn.bias_hh_l1", Shape{16}},
      {"rnn.weight_ih_l1_reverse", Shape{16, 8}},
      {"rnn.weight_hh_l1_reverse", Shape{16, 4}},
      {"rnn.bias_ih_l1_reverse", Shape{16}},
      {"rnn.bias_hh_l1_reverse", Shape{16}},
  };
  EXPECT_EQ(lstm, expected_lstm) << "got" << describe(lstm);

  const List jordan = names(make_options(CellKind::kJordan, 3, 4, 1, false));
  const List expected_jordan = {{"rnn.weight_ih_l0", Shape{4, 3}}, {"rnn.weight_hh_l0", Shape{4, 4}},
                                {"rnn.bias_ih_l0", Shape{4}},      {"rnn.bias_hh_l0", Shape{4}},
                                {"rnn.weight_hy_l0", Shape{4, 4}}, {"rnn.bias_hy_l0", Shape{4}}};
  EXPECT_EQ(jordan, expected_jordan) << "got" << describe(jordan);

  RnnOptions learned = make_options(CellKind::kLstm, 3, 4, 1, true);
  learned.learn_initial_state = true;
  const List lstm_learned = names(learned);
  const List expected_lstm_learned = {{"rnn.weight_ih_l0", Shape{16, 3}},
                                      {"rnn.weight_hh_l0", Shape{16, 4}},
                                      {"rnn.bias_ih_l0", Shape{16}},
                                      {"rnn.bias_hh_l0", Shape{16}},
                                      {"rnn.initial_h_l0", Shape{4}},
                                      {"rnn.initial_c_l0", Shape{4}},
                                      {"rnn.weight_ih_l0_reverse", Shape{16, 3}},
                                      {"rnn.weight_hh_l0_reverse", Shape{16, 4}},
                                      {"rnn.bias_ih_l0_reverse", Shape{16}},
                                      {"rnn.bias_hh_l0_reverse", Shape{16}},
                                      {"rnn.initial_h_l0_reverse", Shape{4}},
                                      {"rnn.initial_c_l0_reverse", Shape{4}}};
  EXPECT_EQ(lstm_learned, expected_lstm_learned) << "got" << describe(lstm_learned);

  learned.cell = CellKind::kGru;
  learned.bidirectional = false;
  const List gru_learned = names(learned);
  const List expected_gru_learned = {{"rnn.weight_ih_l0", Shape{12, 3}},
                                     {"rnn.weight_hh_l0", Shape{12, 4}},
                                     {"rnn.bias_ih_l0", Shape{12}},
                                     {"rnn.bias_hh_l0", Shape{12}},
                                     {"rnn.initial_h_l0", Shape{4}}};
  EXPECT_EQ(gru_learned, expected_gru_learned) << "got" << describe(gru_learned);
}

TEST(RnnInit, LearnedInitialStateStartsAtZero) {
  nn::ParameterTable<float> params;
  RnnOptions o = make_options(CellKind::kLstm, 3, 4, 2, false);
  o.learn_initial_state = true;
  const Rnn<float> rnn(params, o);
  params.freeze();
  params.flat_values().fill(0.5f);
  Rng rng(3);
  rnn.init(rng);
  for (const char* name : {"initial_h_l0", "initial_c_l0", "initial_h_l1", "initial_c_l1"})
    EXPECT_TRUE(all_zero(params.value(params.id(std::string("rnn.") + name)))) << name;
  EXPECT_TRUE(within(params.value(params.id("rnn.weight_hh_l1")), 0.5)) << "the weights are initialized too";
}

// ---- f. dropout between layers --------------------------------------------------------------------

// A 2-layer ReLU model whose output *is* the dropout mask between its layers: layer 0 has zero
// weights and bias_ih = 1, so it outputs relu(1) = 1 at every step; layer 1 has W_ih = identity on
// its direction's block of the input, everything else 0, so output[t] = relu(mask[t] ⊙ 1) = mask[t].
struct MaskProbe {
  static constexpr index_t kSteps = 6, kBatch = 4, kHidden = 8;
  explicit MaskProbe(DropoutMode mode, bool bidirectional = true, double p = 0.5) {
    RnnOptions o = make_options(CellKind::kRnnRelu, 3, kHidden, 2, bidirectional);
    o.dropout = p;
    o.dropout_mode = mode;
    rnn = std::make_unique<Rnn<float>>(params, o);
    params.freeze();
    for (int dir = 0; dir < rnn->directions(); ++dir) {
      params.value(rnn->layer(0, dir).b_ih).fill(1.0f);
      Tensor<float> W = params.value(rnn->layer(1, dir).W_ih);  // (H, D·H)
      for (index_t j = 0; j < kHidden; ++j) W.at({j, dir * kHidden + j}) = 1.0f;
    }
  }
  Tensor<float> output(bool training, Rng* rng) const {
    ag::Tape<float> tape;
    Rng x_rng(4);
    return rnn
        ->forward(tape.constant(random_tensor<float>(Shape{kSteps, kBatch, 3}, x_rng)), {}, {}, training, rng)
        .output.value()
        .clone();
  }

  nn::ParameterTable<float> params;
  std::unique_ptr<Rnn<float>> rnn;
};

// Every entry is 0 or 1/(1 − p); returns the fraction of zeros.
double check_mask_values(const Tensor<float>& mask, double p) {
  const float keep = static_cast<float>(1.0 / (1.0 - p));
  index_t zeros = 0;
  for (index_t i = 0; i < mask.numel(); ++i) {
    if (mask[i] == 0.0f)
      ++zeros;
    else
      EXPECT_NEAR(mask[i], keep, 1e-6) << "mask element " << i;
  }
  return double(zeros) / double(mask.numel());
}

TEST(RnnDropout, PerSequenceMaskIsTheSameAtEveryStep) {
  const MaskProbe probe(DropoutMode::kPerSequence);
  Rng rng(8);
  const Tensor<float> mask = probe.output(true, &rng);
  const double zeros = check_mask_values(mask, 0.5);
  EXPECT_GT(zeros, 0.25);
  EXPECT_LT(zeros, 0.75);
  const index_t width = MaskProbe::kBatch * 2 * MaskProbe::kHidden;
  for (index_t t = 1; t < MaskProbe::kSteps; ++t)
    EXPECT_TRUE(all_close(mask.data() + t * width, mask.data(), width, 0.0, 0.0))
        << "step " << t << " vs step 0";
  // The next forward draws a new mask.
  EXPECT_FALSE(all_close(probe.output(true, &rng), mask, 0.0, 0.0));
}

TEST(RnnDropout, PerStepMasksDifferAcrossSteps) {
  const MaskProbe probe(DropoutMode::kPerStep);
  Rng rng(8);
  const Tensor<float> mask = probe.output(true, &rng);
  const double zeros = check_mask_values(mask, 0.5);
  EXPECT_GT(zeros, 0.3);
  EXPECT_LT(zeros, 0.7);
  const index_t width = MaskProbe::kBatch * 2 * MaskProbe::kHidden;
  for (index_t t = 1; t < MaskProbe::kSteps; ++t)
    EXPECT_FALSE(all_close(mask.data() + t * width, mask.data(), width, 0.0, 0.0))
        << "step " << t << " repeats step 0";
}

TEST(RnnDropout, OffWhenNotTrainingAndAfterTheTopLayer) {
  // The probe without dropout outputs exactly 1 everywhere.
  const MaskProbe probe(DropoutMode::kPerSequence);
  Rng rng(8);
  EXPECT_TRUE(all_close(probe.output(false, &rng), Tensor<float>::full(Shape{6, 4, 16}, 1.0f), 0.0, 0.0));
  EXPECT_TRUE(all_close(probe.output(false, nullptr), Tensor<float>::full(Shape{6, 4, 16}, 1.0f), 0.0, 0.0));

  // A random LSTM with dropout 0.5, not training, equals the same weights with dropout 0, bit for bit;
  // so does a 1-layer model training with dropout (there is no layer boundary to drop at).
  for (int layers : {2, 1}) {
    SCOPED_TRACE(std::to_string(layers) + " layers");
    RnnOptions o = make_options(CellKind::kLstm, 3, 5, layers, true);
    Model<float> plain(o, kT, kB, false);
    o.dropout = 0.5;
    Model<float> dropped(o, kT, kB, false);
    ASSERT_TRUE(all_close(dropped.params.flat_values(), plain.params.flat_values(), 0.0, 0.0));
    ag::Tape<float> tape;
    const Tensor<float> expected = plain.rnn.forward(plain.x(tape)).output.value();
    Rng dropout_rng(1);
    const bool training = layers == 1;
    EXPECT_TRUE(all_close(dropped.rnn.forward(dropped.x(tape), {}, {}, training, &dropout_rng).output.value(),
                          expected, 0.0, 0.0));
  }
}

TEST(RnnDropout, TrainingWithoutRngThrows) {
  const MaskProbe probe(DropoutMode::kPerStep, false);
  EXPECT_TRUE(throws_error_with([&] { probe.output(true, nullptr); }, {"dropout needs an Rng"}));
}

// ---- g. shape errors ----------------------------------------------------------------------------

TEST_P(RnnLayer, WrongShapesThrowNamingTheShape) {
  const CellKind cell = GetParam();
  Model<float> s(make_options(cell, kI, kH, 2, false), kT, kB, false);
  ag::Tape<float> tape;
  const auto constant = [&](const Shape& shape) { return tape.constant(Tensor<float>(shape)); };
  const Var<float> x = s.x(tape);
  EXPECT_TRUE(throws_error_with([&] { s.rnn.forward(constant(Shape{kT, kB})); }, {"(T, B, 3)", "(5, 3)"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        s.rnn.forward(constant(Shape{kT, kB, 4}));
      },
      {"(T, B, 3)", "(5, 3, 4)"}));
  EXPECT_TRUE(throws_error_with([&] { s.rnn.forward(Var<float>()); }, {"(T, B, 3)", "none"}));
  const auto states = [&](size_t n, const Shape& shape) {
    return std::vector<Var<float>>(n, constant(shape));
  };
  EXPECT_TRUE(throws_error_with(
      [&] {
        s.rnn.forward(x, {}, {states(2, Shape{2, kH}), {}});
      },
      {"initial h", "(2, 4)", "expected (3, 4)"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        s.rnn.forward(x, {}, {states(1, Shape{kB, kH}), {}});
      },
      {"1 initial h for 2 layers"}));
  if (nn::has_cell_state(cell)) {
    EXPECT_TRUE(throws_error_with(
        [&] {
          s.rnn.forward(x, {}, {states(2, Shape{kB, kH}), states(2, Shape{kB, 5})});
        },
        {"initial c", "(3, 5)", "expected (3, 4)"}));
  } else {
    EXPECT_TRUE(throws_error_with(
        [&] {
          s.rnn.forward(x, {}, {states(2, Shape{kB, kH}), states(2, Shape{kB, kH})});
        },
        {"2 initial c", "only the LSTM"}));
  }
}

TEST(RnnLayerOptions, InvalidOptionsThrowNamingTheValue) {
  nn::ParameterTable<float> params;
  EXPECT_TRUE(throws_error_with([&] { Rnn<float>(params, make_options(CellKind::kGru, 3, 0, 1, false)); },
                                {"hidden_size (0)"}));
  EXPECT_TRUE(throws_error_with([&] { Rnn<float>(params, make_options(CellKind::kGru, 3, 4, 0, false)); },
                                {"num_layers must be at least 1, got 0"}));
  RnnOptions o = make_options(CellKind::kLstm, 3, 4, 2, false);
  o.dropout = 1.0;
  EXPECT_TRUE(throws_error_with([&] { Rnn<float>(params, o); }, {"dropout must be in [0, 1), got 1"}));
}

INSTANTIATE_TEST_SUITE_P(AllCells, RnnLayer, ::testing::ValuesIn(kAllCells), cell_name);

}  // namespace
}  // namespace recur::layers
