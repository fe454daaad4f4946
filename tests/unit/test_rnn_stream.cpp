// layers::RnnStream: stepping a unidirectional Rnn one step at a time gives the very bits of
// Rnn::forward under NoGrad (same batch size, same thread count), for every cell, 1 and 2 layers,
// zero and learned initial states, and row by row whatever the batch; step_rows (precomputed input
// rows) gives the bits of step; a stream is a value (copies are independent), reset() restarts it,
// repack() picks up changed weights, and misuse throws recur::Error naming what was wrong.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "recur/init.h"
#include "recur/layers/rnn_stream.h"
#include "test_util.h"

namespace recur::layers {
namespace {

using ag::Var;
using nn::CellKind;
using testing::throws_error_with;

constexpr index_t kT = 6, kI = 3, kH = 5;

// Passes iff a and b have the same shape and the same bytes; else names the first differing element.
::testing::AssertionResult bit_identical(const Tensor<float>& a, const Tensor<float>& b) {
  if (a.shape() != b.shape())
    return ::testing::AssertionFailure() << "shapes differ: " << a.shape().str() << " vs " << b.shape().str();
  if (std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(float)) == 0)
    return ::testing::AssertionSuccess();
  for (index_t i = 0;; ++i)
    if (std::memcmp(a.data() + i, b.data() + i, sizeof(float)) != 0)
      return ::testing::AssertionFailure()
             << "element " << i << " differs: " << std::hexfloat << a[i] << " vs " << b[i];
}

// A unidirectional Rnn over its own table, PyTorch-initialized; a learned initial state is set to
// nonzero values (init() zeroes it).
struct Model {
  Model(CellKind cell, int layers, bool learned, bool residual = false)
      : rnn(params, options(cell, layers, learned, residual)) {
    params.freeze();
    Rng rng(17);
    rnn.init(rng);
    for (int l = 0; l < layers; ++l)
      for (int id : {rnn.layer(l, 0).h0, rnn.layer(l, 0).c0})
        if (id >= 0) {
          Tensor<float> v = params.value(id);
          init::uniform(v, -0.9f, 0.9f, rng);
        }
  }
  static RnnOptions options(CellKind cell, int layers, bool learned, bool residual = false) {
    RnnOptions o;
    o.cell = cell;
    o.input_size = kI;
    o.hidden_size = kH;
    o.num_layers = layers;
    o.learn_initial_state = learned;
    o.residual = residual;
    return o;
  }

  nn::ParameterTable<float> params;
  Rnn<float> rnn;
};

Tensor<float> random_input(index_t batch, std::uint64_t seed = 2) {
  Tensor<float> x(Shape{kT, batch, kI});
  Rng rng(seed);
  init::uniform(x, -1.0f, 1.0f, rng);
  return x;
}

class RnnStreamTest : public ::testing::TestWithParam<CellKind> {};

TEST_P(RnnStreamTest, BitIdenticalToWholeSequenceInference) {
  const CellKind cell = GetParam();
  for (int layers : {1, 2, 3})  // 3: residual
    for (index_t batch : {1, 4})
      for (bool learned : {false, true}) {
        SCOPED_TRACE(std::to_string(layers) + " layers, batch " + std::to_string(batch) +
                     (learned ? ", learned initial state" : ", zero initial state"));
        const Model m(cell, layers, learned, /*residual=*/layers == 3);
        const Tensor<float> x = random_input(batch);
        ag::Tape<float> tape;
        ag::NoGrad<float> no_grad(tape);
        const RnnResult<float> whole = m.rnn.forward(tape.constant(x));

        RnnStream<float> stream(m.rnn, batch);
        EXPECT_EQ(stream.batch(), batch);
        for (index_t t = 0; t < kT; ++t)
          EXPECT_TRUE(bit_identical(stream.step(x.row(t)), whole.output.value().row(t))) << "step " << t;
        for (int l = 0; l < layers; ++l) {
          const auto e = static_cast<size_t>(l);
          EXPECT_TRUE(bit_identical(stream.h(l), whole.final_state.h[e].value())) << "h of layer " << l;
          if (nn::has_cell_state(cell)) {
            EXPECT_TRUE(bit_identical(stream.c(l), whole.final_state.c[e].value())) << "c of layer " << l;
          }
        }
      }
}

// Writing the stream's state (e.g. an encoder's final state) equals forward with that initial state.
TEST_P(RnnStreamTest, WrittenStateMatchesForwardFromThatState) {
  const CellKind cell = GetParam();
  const bool has_c = nn::has_cell_state(cell);
  const index_t batch = 3;
  const Model m(cell, 2, false);
  const Tensor<float> x = random_input(batch);
  RnnStream<float> stream(m.rnn, batch);
  ag::Tape<float> tape;
  ag::NoGrad<float> no_grad(tape);
  RnnState<float> initial;
  Rng rng(6);
  for (int l = 0; l < 2; ++l) {
    init::uniform(stream.h(l), -0.5f, 0.5f, rng);
    initial.h.push_back(tape.constant(stream.h(l).clone()));
    if (has_c) {
      init::uniform(stream.c(l), -0.5f, 0.5f, rng);
      initial.c.push_back(tape.constant(stream.c(l).clone()));
    }
  }
  const RnnResult<float> whole = m.rnn.forward(tape.constant(x), {}, initial);
  for (index_t t = 0; t < kT; ++t)
    EXPECT_TRUE(bit_identical(stream.step(x.row(t)), whole.output.value().row(t))) << "step " << t;
  for (int l = 0; l < 2; ++l)
    EXPECT_TRUE(bit_identical(stream.h(l), whole.final_state.h[static_cast<size_t>(l)].value()))
        << "layer " << l;
}

// Snapshot of every layer's h (and c).
std::vector<Tensor<float>> state_of(RnnStream<float>& s, int layers, bool has_c) {
  std::vector<Tensor<float>> out;
  for (int l = 0; l < layers; ++l) {
    out.push_back(s.h(l).clone());
    if (has_c) out.push_back(s.c(l).clone());
  }
  return out;
}

::testing::AssertionResult same_state(const std::vector<Tensor<float>>& a,
                                      const std::vector<Tensor<float>>& b) {
  if (a.size() != b.size())
    return ::testing::AssertionFailure() << a.size() << " vs " << b.size() << " states";
  for (size_t k = 0; k < a.size(); ++k) {
    ::testing::AssertionResult r = bit_identical(a[k], b[k]);
    if (!r) return r << " in state " << k;
  }
  return ::testing::AssertionSuccess();
}

TEST_P(RnnStreamTest, CopiesAreIndependent) {
  const CellKind cell = GetParam();
  const bool has_c = nn::has_cell_state(cell);
  const index_t batch = 2;
  const Model m(cell, 2, true);
  const Tensor<float> x = random_input(batch), other = random_input(batch, 9);

  // Reference outputs of an untouched stream over x[0 .. T).
  RnnStream<float> reference(m.rnn, batch);
  std::vector<Tensor<float>> expected;
  for (index_t t = 0; t < kT; ++t) expected.push_back(reference.step(x.row(t)).clone());

  RnnStream<float> a(m.rnn, batch);
  a.step(x.row(0));
  a.step(x.row(1));
  RnnStream<float> b = a;  // copy construction
  const std::vector<Tensor<float>> at_two = state_of(b, 2, has_c);
  ASSERT_TRUE(same_state(at_two, state_of(a, 2, has_c)));

  // Advancing the original on other input leaves the copy where it was ...
  for (index_t t = 0; t < 3; ++t) a.step(other.row(t));
  EXPECT_FALSE(same_state(state_of(a, 2, has_c), at_two)) << "the original did not advance";
  EXPECT_TRUE(same_state(state_of(b, 2, has_c), at_two)) << "advancing the original moved the copy";
  // ... and the copy continues exactly as the reference did.
  for (index_t t = 2; t < kT; ++t)
    EXPECT_TRUE(bit_identical(b.step(x.row(t)), expected[static_cast<size_t>(t)]));

  // Advancing a copy leaves the original alone; copy assignment copies too.
  RnnStream<float> c(m.rnn, batch);
  c.step(x.row(0));
  RnnStream<float> d(m.rnn, batch);
  d = c;
  const Tensor<float>& c_out = c.step(x.row(1));
  const Tensor<float>& d_out = d.step(other.row(1));
  EXPECT_NE(c_out.data(), d_out.data()) << "the copies share an output buffer";
  EXPECT_TRUE(bit_identical(c_out, expected[1]));
  EXPECT_FALSE(bit_identical(d_out, expected[1])) << "different input gave the same output";
  for (index_t t = 2; t < kT; ++t) d.step(other.row(t));
  for (index_t t = 2; t < kT; ++t)
    EXPECT_TRUE(bit_identical(c.step(x.row(t)), expected[static_cast<size_t>(t)]));
}

TEST_P(RnnStreamTest, ResetReturnsToTheInitialState) {
  const CellKind cell = GetParam();
  const bool has_c = nn::has_cell_state(cell);
  const index_t batch = 3;
  const Model m(cell, 2, true);
  const Tensor<float> x = random_input(batch);
  RnnStream<float> stream(m.rnn, batch);
  const std::vector<Tensor<float>> initial = state_of(stream, 2, has_c);
  // The learned state, broadcast over the batch.
  for (int l = 0; l < 2; ++l) {
    const Tensor<float> learned = m.params.value(m.rnn.layer(l, 0).h0);
    for (index_t b = 0; b < batch; ++b)
      for (index_t j = 0; j < kH; ++j) EXPECT_EQ(stream.h(l)[b * kH + j], learned[j]) << "layer " << l;
  }
  std::vector<Tensor<float>> first;
  for (index_t t = 0; t < kT; ++t) first.push_back(stream.step(x.row(t)).clone());
  ASSERT_FALSE(same_state(state_of(stream, 2, has_c), initial));
  stream.reset();
  EXPECT_TRUE(same_state(state_of(stream, 2, has_c), initial));
  for (index_t t = 0; t < kT; ++t)
    EXPECT_TRUE(bit_identical(stream.step(x.row(t)), first[static_cast<size_t>(t)])) << "step " << t;
}

TEST_P(RnnStreamTest, MisuseThrowsNamingTheProblem) {
  const CellKind cell = GetParam();
  nn::ParameterTable<float> params;
  RnnOptions o = Model::options(cell, 2, false);
  o.bidirectional = true;
  const Rnn<float> bidirectional(params, o);
  EXPECT_TRUE(throws_error_with([&] { RnnStream<float>(bidirectional, 1); }, {"bidirectional"}));

  const Model m(cell, 2, false);
  EXPECT_TRUE(throws_error_with([&] { RnnStream<float>(m.rnn, 0); }, {"batch must be at least 1, got 0"}));
  RnnStream<float> stream(m.rnn, 4);
  EXPECT_TRUE(throws_error_with(
      [&] {
        stream.step(Tensor<float>(Shape{4, kI + 1}));
      },
      {"(4, 3)", "got (4, 4)"}));
  EXPECT_TRUE(throws_error_with([&] { stream.step(Tensor<float>(Shape{3, kI})); }, {"(4, 3)", "got (3, 3)"}));
  EXPECT_TRUE(throws_error_with([&] { stream.step(Tensor<float>(Shape{kI})); }, {"(4, 3)", "got (3,)"}));
  EXPECT_TRUE(throws_error_with([&] { stream.h(2); }, {"layer 2 of 2"}));
  if (nn::has_cell_state(cell)) {
    EXPECT_TRUE(throws_error_with([&] { stream.c(-1); }, {"layer -1 of 2"}));
  } else {
    EXPECT_TRUE(throws_error_with([&] { stream.c(0); }, {"only the LSTM"}));
  }
}

// Packed products give each element the same bits whatever the number of rows: a stream of batch
// 1 fed row b of the input reproduces row b of a batch-4 whole-sequence inference.
TEST_P(RnnStreamTest, RowsDoNotDependOnTheBatchTheyRunIn) {
  const CellKind cell = GetParam();
  const index_t batch = 4;
  const Model m(cell, 2, true);
  const Tensor<float> x = random_input(batch);
  ag::Tape<float> tape;
  ag::NoGrad<float> no_grad(tape);
  const Tensor<float> whole = m.rnn.forward(tape.constant(x)).output.value();  // (T, 4, H)
  for (index_t b = 0; b < batch; ++b) {
    RnnStream<float> single(m.rnn, 1);
    for (index_t t = 0; t < kT; ++t) {
      const Tensor<float> x_tb = x.row(t).row(b).view(Shape{1, kI});
      EXPECT_TRUE(bit_identical(single.step(x_tb), whole.row(t).row(b).view(Shape{1, kH})))
          << "row " << b << " step " << t;
    }
  }
}

// step_rows(ids) looks the first layer's input projection up in E · W_ih_l0ᵀ: the same bits as
// step() on the rows of E; copies share the table; repack() makes both follow changed weights.
TEST_P(RnnStreamTest, StepRowsEqualsStepOnTheRows) {
  const CellKind cell = GetParam();
  const index_t batch = 3, V = 11;
  Model m(cell, 2, false);
  Tensor<float> E(Shape{V, kI});
  Rng rng(23);
  init::uniform(E, -1.0f, 1.0f, rng);
  const std::vector<std::vector<std::int32_t>> ids = {{0, 5, 10}, {3, 3, 7}, {10, 1, 2}, {4, 9, 0}};
  const auto rows_of = [&](const std::vector<std::int32_t>& step_ids) {
    Tensor<float> x(Shape{batch, kI});
    for (index_t b = 0; b < batch; ++b)
      std::copy(E.row(step_ids[static_cast<size_t>(b)]).data(),
                E.row(step_ids[static_cast<size_t>(b)]).data() + kI, x.data() + b * kI);
    return x;
  };
  RnnStream<float> by_rows(m.rnn, batch), by_input(m.rnn, batch);
  EXPECT_FALSE(by_rows.has_input_rows());
  by_rows.set_input_rows(E);
  EXPECT_TRUE(by_rows.has_input_rows());
  for (size_t t = 0; t < ids.size(); ++t)
    EXPECT_TRUE(bit_identical(by_rows.step_rows(ids[t]), by_input.step(rows_of(ids[t])))) << "step " << t;

  // Change the weights: streams keep the packed ones until repack().
  Tensor<float> w_ih = m.params.value(m.rnn.layer(0, 0).W_ih);
  for (index_t i = 0; i < w_ih.numel(); ++i) w_ih[i] *= -1.5f;
  RnnStream<float> fresh(m.rnn, batch);
  RnnStream<float> stale = by_rows;
  stale.reset();
  fresh.set_input_rows(E);
  const Tensor<float> new_out = fresh.step_rows(ids[0]).clone();
  EXPECT_FALSE(bit_identical(stale.step_rows(ids[0]), new_out)) << "the weight change had no effect";
  stale.reset();
  stale.repack();
  EXPECT_TRUE(bit_identical(stale.step_rows(ids[0]), new_out)) << "repack did not pick up the new weights";

  EXPECT_TRUE(throws_error_with([&] { by_input.step_rows(ids[0]); }, {"set_input_rows first"}));
  EXPECT_TRUE(throws_error_with([&] { by_rows.step_rows({1, 2}); }, {"2 ids for a batch of 3"}));
  EXPECT_TRUE(throws_error_with([&] { by_rows.step_rows({1, 11, 2}); }, {"id 11", "row 1", "[0, 11)"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        by_rows.set_input_rows(Tensor<float>(Shape{V, kI + 1}));
      },
      {"(V, 3)", "got (11, 4)"}));
}

// Inference projects the inputs over blocks of about 1024 rows: with B = 300 and T = 7 the blocks
// are 3, 3 and 1 steps, walked forward and in reverse (bidirectional, with lengths). It must agree
// with the training-mode forward (one BLAS GEMM for all rows) to float rounding.
TEST_P(RnnStreamTest, InferenceOverSeveralProjectionBlocksMatchesTheTrainingForward) {
  const CellKind cell = GetParam();
  const index_t T = 7, B = 300;
  nn::ParameterTable<float> params;
  RnnOptions o = Model::options(cell, 2, true);
  o.bidirectional = true;
  const Rnn<float> rnn(params, o);
  params.freeze();
  Rng rng(29);
  rnn.init(rng);
  Tensor<float> x(Shape{T, B, kI});
  init::uniform(x, -1.0f, 1.0f, rng);
  std::vector<index_t> lengths(static_cast<size_t>(B));
  for (index_t b = 0; b < B; ++b) lengths[static_cast<size_t>(b)] = b % (T + 1);
  ag::Tape<float> tape;
  const RnnResult<float> trained = rnn.forward(tape.constant(x), lengths);  // grad enabled: trace path
  ag::NoGrad<float> no_grad(tape);
  const RnnResult<float> inferred = rnn.forward(tape.constant(x), lengths);
  constexpr double kTol = 1e-5;  // float rounding of O(1) values through 2 layers
  EXPECT_TRUE(testing::all_close(inferred.output.value(), trained.output.value(), kTol, 0));
  for (size_t k = 0; k < trained.final_state.h.size(); ++k)
    EXPECT_TRUE(
        testing::all_close(inferred.final_state.h[k].value(), trained.final_state.h[k].value(), kTol, 0))
        << "h_n " << k;
}

INSTANTIATE_TEST_SUITE_P(AllCells, RnnStreamTest,
                         ::testing::Values(CellKind::kRnnTanh, CellKind::kRnnRelu, CellKind::kLstm,
                                           CellKind::kGru, CellKind::kGruResetBefore, CellKind::kJordan),
                         [](const ::testing::TestParamInfo<CellKind>& param) {
                           return std::string(nn::cell_name(param.param));
                         });

}  // namespace
}  // namespace recur::layers
