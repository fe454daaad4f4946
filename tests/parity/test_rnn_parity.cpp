// Parity of layers::Rnn with PyTorch 1.13's nn.RNN (tanh, relu), nn.LSTM and nn.GRU: float64 goldens
// from tools/make_goldens.py (rnn_file), 8 cases per cell: {1, 2 layers} × {uni, bidirectional} ×
// {equal lengths, packed variable lengths}. Each case sets the golden parameters, x and h0 (c0), runs
// the forward with the case's lengths, backpropagates
//   loss = Σ output ⊙ d_output + Σ_e h_n[e] ⊙ d_h_n[e] (+ Σ_e c_n[e] ⊙ d_c_n[e])
// and compares output, h_n, c_n, the loss, every parameter gradient, dx, dh0 and dc0, in double and
// in float. Equal-length cases run twice: with the explicit lengths and with none (meaning all T).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "golden_file.h"
#include "recur/autograd/functions.h"
#include "recur/layers/rnn.h"
#include "recur/nn/cell_kind.h"
#include "test_util.h"

namespace recur {
namespace {

// Ordered: the golden's params keep PyTorch's state_dict order, which the table must reproduce.
using parity::json;
using recur::testing::all_close;

// Double reproduces PyTorch's float64 up to summation order (as in test_pytorch_parity.cpp); the
// worst error over all cases was 1.8e-15 when written.
constexpr double kDoubleAtol = 1e-12, kDoubleRtol = 1e-10;
// Float: the requirement is 1e-5 absolute on every float32 output and gradient, with no relative
// slack; the worst error over all cases was 6.4e-7 when written.
constexpr double kFloatAtol = 1e-5, kFloatRtol = 0.0;

const std::vector<std::string> kModes = {"rnn_tanh", "rnn_relu", "lstm", "gru"};

template <class T>
struct Tolerance;
template <>
struct Tolerance<double> {
  static constexpr double atol = kDoubleAtol, rtol = kDoubleRtol;
};
template <>
struct Tolerance<float> {
  static constexpr double atol = kFloatAtol, rtol = kFloatRtol;
};

const json& golden(const std::string& mode) {
  return parity::load(mode);
}

using parity::shape_of;
using parity::tensor;

template <class T>
::testing::AssertionResult matches(const Tensor<T>& actual, const Tensor<double>& expected) {
  if (actual.empty()) return ::testing::AssertionFailure() << "no value (gradient never reached?)";
  return all_close(actual, expected, Tolerance<T>::atol, Tolerance<T>::rtol);
}

// The name of case (layers, bidirectional, packed), as rnn_case in tools/make_goldens.py writes it.
std::string case_name(const std::string& mode, int layers, bool bidirectional, bool packed) {
  return mode + "_" + std::to_string(layers) + "l_" + (bidirectional ? "bi" : "uni") + "_" +
         (packed ? "packed" : "equal");
}

struct RnnCase {
  std::string mode;
  int layers;
  bool bidirectional;
  bool packed;
  std::string name() const { return case_name(mode, layers, bidirectional, packed); }
};

// Failures print the case's name rather than its bytes.
void PrintTo(const RnnCase& rc, std::ostream* os) {
  *os << rc.name();
}

std::vector<RnnCase> all_cases() {
  std::vector<RnnCase> cases;
  for (const std::string& mode : kModes)
    for (int layers : {1, 2})
      for (bool bidirectional : {false, true})
        for (bool packed : {false, true}) cases.push_back({mode, layers, bidirectional, packed});
  return cases;
}

const json& find_case(const RnnCase& rc) {
  for (const json& c : golden(rc.mode).at("cases"))
    if (c.at("name") == rc.name()) return c;
  throw Error("golden " + rc.mode + ".json has no case " + rc.name());
}

// One forward and backward of the case; `lengths` is what forward() is given (the case's lengths,
// or empty for all T).
// State entry e in PyTorch's h_n order, e.g. "h_n[3] (layer 1 reverse)".
std::string state_entry(const char* what, size_t e, bool bidirectional) {
  const size_t D = bidirectional ? 2 : 1;
  return std::string(what) + "[" + std::to_string(e) + "] (layer " + std::to_string(e / D) +
         (e % D == 1 ? " reverse)" : " forward)");
}

template <class T>
void run_case(const json& c, const std::vector<index_t>& lengths) {
  const std::string mode = c.at("mode");
  const bool lstm = mode == "lstm";
  layers::RnnOptions options;
  options.cell = nn::parse_cell_kind(mode);
  options.input_size = c.at("input_size");
  options.hidden_size = c.at("hidden_size");
  options.num_layers = c.at("num_layers");
  options.bidirectional = c.at("bidirectional");
  const size_t entries = static_cast<size_t>(options.num_layers * (options.bidirectional ? 2 : 1));

  nn::ParameterTable<T> params;
  const layers::Rnn<T> rnn(params, options);
  params.freeze();

  // The table holds exactly the golden's parameters, in state_dict order, with the same shapes.
  const json& golden_params = c.at("params");
  std::vector<std::string> golden_names, table_names;
  for (const auto& item : golden_params.items()) golden_names.push_back("rnn." + item.key());
  for (const auto& entry : params.entries()) table_names.push_back(entry.name);
  ASSERT_EQ(table_names, golden_names);
  for (const auto& item : golden_params.items()) {
    const std::string name = "rnn." + item.key();
    Tensor<T> value = params.value(params.id(name));
    ASSERT_EQ(value.shape(), shape_of(item.value())) << name;
    const Tensor<T> g = tensor<T>(item.value());
    std::copy_n(g.data(), g.numel(), value.data());
  }

  ag::Tape<T> tape;
  const ag::Var<T> x = tape.variable(tensor<T>(c.at("x")));
  const Tensor<T> h0 = tensor<T>(c.at("h0"));
  ASSERT_EQ(static_cast<size_t>(h0.dim(0)), entries);
  layers::RnnState<T> initial;
  for (size_t e = 0; e < entries; ++e) {
    initial.h.push_back(tape.variable(h0.row(static_cast<index_t>(e)).clone()));
    if (lstm) initial.c.push_back(tape.variable(tensor<T>(c.at("c0")).row(static_cast<index_t>(e)).clone()));
  }

  const layers::RnnResult<T> r = rnn.forward(x, lengths, initial);
  ASSERT_EQ(r.final_state.h.size(), entries);
  ASSERT_EQ(r.final_state.c.size(), lstm ? entries : 0);

  // loss = Σ output ⊙ d_output + Σ_e h_n[e] ⊙ d_h_n[e] (+ the same for c_n)
  const auto dot = [&](const ag::Var<T>& y, Tensor<T> dy) {
    return ag::sum(y * tape.constant(std::move(dy)));
  };
  std::vector<ag::Var<T>> terms{dot(r.output, tensor<T>(c.at("d_output")))};
  const Tensor<T> d_h_n = tensor<T>(c.at("d_h_n"));
  for (size_t e = 0; e < entries; ++e)
    terms.push_back(dot(r.final_state.h[e], d_h_n.row(static_cast<index_t>(e)).clone()));
  if (lstm) {
    const Tensor<T> d_c_n = tensor<T>(c.at("d_c_n"));
    for (size_t e = 0; e < entries; ++e)
      terms.push_back(dot(r.final_state.c[e], d_c_n.row(static_cast<index_t>(e)).clone()));
  }
  const ag::Var<T> loss = ag::sum(ag::concat(terms, 0));
  tape.backward(loss);

  EXPECT_TRUE(matches(r.output.value(), tensor<double>(c.at("output")))) << "output";
  const Tensor<double> h_n = tensor<double>(c.at("h_n")), dh0 = tensor<double>(c.at("dh0"));
  for (size_t e = 0; e < entries; ++e) {
    const auto i = static_cast<index_t>(e);
    EXPECT_TRUE(matches(r.final_state.h[e].value(), h_n.row(i)))
        << state_entry("h_n", e, options.bidirectional);
    EXPECT_TRUE(matches(initial.h[e].grad(), dh0.row(i))) << state_entry("dh0", e, options.bidirectional);
  }
  if (lstm) {
    const Tensor<double> c_n = tensor<double>(c.at("c_n")), dc0 = tensor<double>(c.at("dc0"));
    for (size_t e = 0; e < entries; ++e) {
      const auto i = static_cast<index_t>(e);
      EXPECT_TRUE(matches(r.final_state.c[e].value(), c_n.row(i)))
          << state_entry("c_n", e, options.bidirectional);
      EXPECT_TRUE(matches(initial.c[e].grad(), dc0.row(i))) << state_entry("dc0", e, options.bidirectional);
    }
  }
  const double want_loss = c.at("loss");
  EXPECT_NEAR(loss.item(), want_loss, Tolerance<T>::atol + Tolerance<T>::rtol * std::abs(want_loss))
      << "loss";
  for (const auto& item : c.at("grads").items()) {
    const std::string name = "rnn." + item.key();
    EXPECT_TRUE(matches(params.grad(params.id(name)), tensor<double>(item.value()))) << "grad " << name;
  }
  EXPECT_TRUE(matches(x.grad(), tensor<double>(c.at("dx")))) << "dx";
}

template <class T>
void run_case_all_ways(const RnnCase& rc) {
  const json& c = find_case(rc);
  const std::vector<index_t> lengths = c.at("lengths").get<std::vector<index_t>>();
  {
    SCOPED_TRACE("explicit lengths");
    run_case<T>(c, lengths);
  }
  if (!rc.packed) {  // all equal to T: no lengths must mean the same
    SCOPED_TRACE("no lengths (all T)");
    run_case<T>(c, {});
  }
}

class RnnParity : public ::testing::TestWithParam<RnnCase> {};

TEST_P(RnnParity, Double) {
  run_case_all_ways<double>(GetParam());
}

TEST_P(RnnParity, Float) {
  run_case_all_ways<float>(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Goldens, RnnParity, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<RnnCase>& param_info) {
                           return param_info.param.name();
                         });

// Every golden case is one of the parameterized ones above, and its shape fields are as expected.
TEST(RnnParityGoldens, EachFileHoldsExactlyTheEightCases) {
  for (const std::string& mode : kModes) {
    SCOPED_TRACE(mode);
    std::vector<std::string> names, want;
    for (const json& c : golden(mode).at("cases")) {
      names.push_back(c.at("name"));
      EXPECT_EQ(c.at("mode"), mode);
      const std::vector<index_t> lengths = c.at("lengths").get<std::vector<index_t>>();
      EXPECT_EQ(lengths.size(), c.at("B").get<size_t>()) << c.at("name");
    }
    for (const RnnCase& rc : all_cases())
      if (rc.mode == mode) want.push_back(rc.name());
    EXPECT_EQ(names, want);
  }
}

}  // namespace
}  // namespace recur
