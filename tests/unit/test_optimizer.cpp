// ParameterTable layout and aliasing; Sgd / Adam steps against hand-written references of
// torch.optim.SGD / torch.optim.Adam; clip_grad_norm.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "recur/nn/parameters.h"
#include "recur/train/optimizer.h"
#include "test_util.h"

namespace recur {
namespace {

using nn::ParameterTable;
using ::recur::testing::all_close;

// ---- ParameterTable ---------------------------------------------------------------------------------

TEST(ParameterTable, AddAndLookUp) {
  ParameterTable<double> p;
  EXPECT_EQ(p.add("rnn.weight_ih_l0", Shape{4, 3}), 0);
  EXPECT_EQ(p.add("rnn.bias_ih_l0", Shape{4}), 1);
  EXPECT_EQ(p.add("fc.weight", Shape{2, 4}), 2);
  EXPECT_EQ(p.size(), 3);
  EXPECT_FALSE(p.frozen());
  EXPECT_EQ(p.find("rnn.bias_ih_l0"), 1);
  EXPECT_EQ(p.find("nope"), -1);
  EXPECT_EQ(p.id("fc.weight"), 2);
  EXPECT_THROW(p.id("nope"), Error);
  EXPECT_EQ(p.entry(0).name, "rnn.weight_ih_l0");
  EXPECT_EQ(p.entry(2).shape, Shape({2, 4}));
  EXPECT_THROW(p.entry(3), Error);
  EXPECT_THROW(p.entry(-1), Error);

  // Names are unique.
  EXPECT_THROW(p.add("rnn.bias_ih_l0", Shape{4}), Error);
  EXPECT_THROW(p.add("fc.weight", Shape{7}), Error);  // even with another shape
  EXPECT_EQ(p.size(), 3);

  // Views exist only after freeze(); adding after it is an error.
  EXPECT_THROW(p.value(0), Error);
  p.freeze();
  EXPECT_TRUE(p.frozen());
  EXPECT_THROW(p.add("late", Shape{2}), Error);
  EXPECT_EQ(p.size(), 3);
}

template <class T>
void check_layout() {
  ParameterTable<T> p;
  const std::vector<Shape> shapes = {Shape{3}, Shape{5, 7}, Shape{1}, Shape{2, 2, 3}, Shape{0}, Shape{17}};
  for (size_t i = 0; i < shapes.size(); ++i) {
    std::string name = "p";
    name += std::to_string(i);  // (not "p" + ...: g++ 12 -O2 warns a false -Wrestrict on that)
    p.add(std::move(name), shapes[i]);
  }
  p.freeze();
  Tensor<T> values = p.flat_values(), grads = p.flat_grads();
  EXPECT_EQ(values.shape(), Shape({p.numel()}));
  EXPECT_EQ(grads.shape(), Shape({p.numel()}));
  // Freshly frozen buffers are zero.
  for (index_t i = 0; i < p.numel(); ++i) {
    ASSERT_EQ(values[i], T(0)) << i;
    ASSERT_EQ(grads[i], T(0)) << i;
  }
  index_t end_of_previous = 0;
  for (int id = 0; id < p.size(); ++id) {
    SCOPED_TRACE(p.entry(id).name);
    const index_t offset = p.entry(id).offset;
    // 64-byte aligned, in the buffer and as an address; no overlap with the previous entry.
    EXPECT_EQ(offset * index_t(sizeof(T)) % 64, 0) << "offset " << offset;
    EXPECT_GE(offset, end_of_previous);
    end_of_previous = offset + shapes[static_cast<size_t>(id)].numel();
    Tensor<T> v = p.value(id), g = p.grad(id);
    EXPECT_EQ(v.shape(), shapes[static_cast<size_t>(id)]);
    EXPECT_EQ(g.shape(), shapes[static_cast<size_t>(id)]);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v.data()) % 64, 0u);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(g.data()) % 64, 0u);
    // value()/grad() alias the flat buffers at the entry's offset.
    EXPECT_EQ(v.data(), values.data() + offset);
    EXPECT_EQ(g.data(), grads.data() + offset);
    for (index_t i = 0; i < v.numel(); ++i) {
      v[i] = T(100 * id + i);
      g[i] = T(-(100 * id + i));
    }
  }
  EXPECT_GE(p.numel(), end_of_previous);
  // Writes through the views land in the flat buffers.
  for (int id = 0; id < p.size(); ++id) {
    const index_t offset = p.entry(id).offset;
    for (index_t i = 0; i < shapes[static_cast<size_t>(id)].numel(); ++i) {
      EXPECT_EQ(values[offset + i], T(100 * id + i));
      EXPECT_EQ(grads[offset + i], T(-(100 * id + i)));
    }
  }
  // And the other way round: a write into the flat buffer shows in a fresh view.
  values[p.entry(1).offset + 3] = T(0.5);
  EXPECT_EQ(p.value(1).at({0, 3}), T(0.5));

  // zero_grad clears every gradient, leaves the values.
  p.zero_grad();
  for (index_t i = 0; i < p.numel(); ++i) ASSERT_EQ(grads[i], T(0)) << i;
  EXPECT_EQ(p.value(1).at({0, 3}), T(0.5));
  EXPECT_EQ(p.value(5)[16], T(516));
}

TEST(ParameterTable, LayoutAlignmentAndAliasingDouble) {
  check_layout<double>();
}
TEST(ParameterTable, LayoutAlignmentAndAliasingFloat) {
  check_layout<float>();
}

TEST(ParameterTable, ViewsOutliveTheTable) {
  Tensor<double> v;
  {
    ParameterTable<double> p;
    p.add("w", Shape{4});
    p.freeze();
    p.value(0).fill(2.5);
    v = p.value(0);
  }  // the table is gone; the view keeps the buffer alive (ASan checks the read)
  EXPECT_EQ(v.to_vector(), std::vector<double>(4, 2.5));
}

// ---- optimizers -------------------------------------------------------------------------------------

// The optimizer updates run a handful of double operations per element on O(1) numbers, the same
// ones as the references below but possibly in another order: a few ulps. 1e-14 absolute / relative.
constexpr double kStepTol = 1e-14;

// Two parameters (a 2x3 matrix and a 3-vector) with hand-set values.
struct Fixture {
  ParameterTable<double> params;
  int w = -1, b = -1;
  Fixture() {
    w = params.add("w", Shape{2, 3});
    b = params.add("b", Shape{3});
    params.freeze();
    const std::vector<double> w0 = {1.0, -2.0, 0.5, 0.0, 3.0, -0.25}, b0 = {0.1, -0.3, 2.0};
    std::copy(w0.begin(), w0.end(), params.value(w).data());
    std::copy(b0.begin(), b0.end(), params.value(b).data());
  }
  // Gradients for step t (1-based): they change from step to step.
  void set_grads(int t) {
    const std::vector<double> gw = {0.5, -1.0, 0.25, 2.0, 0.0, -0.75}, gb = {1.0, 0.125, -3.0};
    for (size_t i = 0; i < gw.size(); ++i)
      params.grad(w)[static_cast<index_t>(i)] = gw[i] * (1.0 + 0.5 * (t - 1));
    for (size_t i = 0; i < gb.size(); ++i) params.grad(b)[static_cast<index_t>(i)] = gb[i] / t;
  }
  std::vector<double> values() const {
    std::vector<double> out = params.value(w).to_vector();
    const std::vector<double> bv = params.value(b).to_vector();
    out.insert(out.end(), bv.begin(), bv.end());
    return out;
  }
  std::vector<double> grads() const {
    std::vector<double> out = params.grad(w).to_vector();
    const std::vector<double> bg = params.grad(b).to_vector();
    out.insert(out.end(), bg.begin(), bg.end());
    return out;
  }
};

// torch.optim.SGD, written out per element:
//   g = grad + wd·θ;  if μ: b = (t == 1 ? g : μ·b + g); g = nesterov ? g + μ·b : b;  θ -= lr·g
struct SgdReference {
  train::SgdOptions o;
  std::vector<double> buf;
  int t = 0;
  void step(std::vector<double>& theta, const std::vector<double>& grad) {
    ++t;
    if (buf.empty()) buf.assign(theta.size(), 0.0);
    for (size_t i = 0; i < theta.size(); ++i) {
      double g = grad[i] + o.weight_decay * theta[i];
      if (o.momentum != 0) {
        buf[i] = t == 1 ? g : o.momentum * buf[i] + g;
        g = o.nesterov ? g + o.momentum * buf[i] : buf[i];
      }
      theta[i] -= o.lr * g;
    }
  }
};

void check_sgd(const train::SgdOptions& options, int steps) {
  Fixture f;
  train::Sgd<double> sgd(f.params, options);
  SgdReference ref{options, {}, 0};
  std::vector<double> theta = f.values();
  for (int t = 1; t <= steps; ++t) {
    f.set_grads(t);
    ref.step(theta, f.grads());
    sgd.step();
    EXPECT_TRUE(all_close(f.values(), theta, kStepTol, kStepTol)) << "after step " << t;
  }
  EXPECT_EQ(sgd.steps(), steps);
}

TEST(Sgd, MatchesReference) {
  for (const int steps : {1, 3}) {
    SCOPED_TRACE(std::to_string(steps) + " steps");
    check_sgd({.lr = 0.1}, steps);
    check_sgd({.lr = 0.05, .momentum = 0.9}, steps);
    check_sgd({.lr = 0.05, .momentum = 0.9, .nesterov = true}, steps);
    check_sgd({.lr = 0.1, .weight_decay = 0.01}, steps);
    check_sgd({.lr = 0.02, .momentum = 0.8, .weight_decay = 0.1, .nesterov = true}, steps);
  }
}

// The same recurrences by hand on one scalar: θ = 1, constant gradient 0.5, lr = 0.1.
double sgd_scalar(const train::SgdOptions& options, int steps) {
  ParameterTable<double> p;
  p.add("x", Shape{1});
  p.freeze();
  p.value(0)[0] = 1.0;
  p.grad(0)[0] = 0.5;
  train::Sgd<double> sgd(p, options);
  for (int i = 0; i < steps; ++i) sgd.step();  // step() does not zero the gradient
  EXPECT_EQ(p.grad(0)[0], 0.5);
  return p.value(0)[0];
}

TEST(Sgd, HandComputedScalar) {
  // plain: θ -= 0.05 per step.
  EXPECT_NEAR(sgd_scalar({.lr = 0.1}, 1), 0.95, kStepTol);
  EXPECT_NEAR(sgd_scalar({.lr = 0.1}, 3), 0.85, kStepTol);
  // momentum 0.9: b = 0.5, 0.95, 1.355  ->  θ = 0.95, 0.855, 0.7195
  EXPECT_NEAR(sgd_scalar({.lr = 0.1, .momentum = 0.9}, 1), 0.95, kStepTol);
  EXPECT_NEAR(sgd_scalar({.lr = 0.1, .momentum = 0.9}, 3), 0.7195, kStepTol);
  // nesterov: g + μ·b = 0.95, 1.355, 1.7195  ->  θ = 0.905, 0.7695, 0.59755
  EXPECT_NEAR(sgd_scalar({.lr = 0.1, .momentum = 0.9, .nesterov = true}, 1), 0.905, kStepTol);
  EXPECT_NEAR(sgd_scalar({.lr = 0.1, .momentum = 0.9, .nesterov = true}, 3), 0.59755, kStepTol);
  // weight decay 0.01: g = 0.5 + 0.01·θ  ->  θ = 0.949, 0.898051, 0.847152949
  EXPECT_NEAR(sgd_scalar({.lr = 0.1, .weight_decay = 0.01}, 1), 0.949, kStepTol);
  EXPECT_NEAR(sgd_scalar({.lr = 0.1, .weight_decay = 0.01}, 3), 0.847152949, kStepTol);
}

TEST(Sgd, LearningRateScheduleTakesEffect) {
  ParameterTable<double> p;
  p.add("x", Shape{1});
  p.freeze();
  p.value(0)[0] = 1.0;
  p.grad(0)[0] = 2.0;
  train::Sgd<double> sgd(p, {.lr = 0.1});
  EXPECT_EQ(sgd.learning_rate(), 0.1);
  sgd.step();  // 1 - 0.2
  sgd.set_learning_rate(0.25);
  EXPECT_EQ(sgd.learning_rate(), 0.25);
  sgd.step();  // 0.8 - 0.5
  EXPECT_NEAR(p.value(0)[0], 0.3, kStepTol);
}

// torch.optim.Adam (amsgrad = False), written out per element:
//   g = grad + wd·θ;  m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²
//   θ -= (lr / (1 - β1ᵗ)) · m / (sqrt(v) / sqrt(1 - β2ᵗ) + eps)
struct AdamReference {
  train::AdamOptions o;
  std::vector<double> m, v;
  int t = 0;
  void step(std::vector<double>& theta, const std::vector<double>& grad) {
    ++t;
    if (m.empty()) {
      m.assign(theta.size(), 0.0);
      v.assign(theta.size(), 0.0);
    }
    const double bias1 = 1 - std::pow(o.beta1, t), bias2 = 1 - std::pow(o.beta2, t);
    for (size_t i = 0; i < theta.size(); ++i) {
      const double g = grad[i] + o.weight_decay * theta[i];
      m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
      const double denom = std::sqrt(v[i]) / std::sqrt(bias2) + o.eps;
      theta[i] -= (o.lr / bias1) * m[i] / denom;
    }
  }
};

void check_adam(const train::AdamOptions& options, int steps, double grad_scale = 1.0) {
  Fixture f;
  train::Adam<double> adam(f.params, options);
  AdamReference ref{options, {}, {}, 0};
  std::vector<double> theta = f.values();
  for (int t = 1; t <= steps; ++t) {
    f.set_grads(t);
    for (index_t i = 0; i < f.params.numel(); ++i) f.params.flat_grads()[i] *= grad_scale;
    ref.step(theta, f.grads());
    adam.step();
    EXPECT_TRUE(all_close(f.values(), theta, kStepTol, kStepTol)) << "after step " << t;
  }
  EXPECT_EQ(adam.steps(), steps);
}

TEST(Adam, MatchesReference) {
  for (const int steps : {1, 3}) {
    SCOPED_TRACE(std::to_string(steps) + " steps");
    check_adam({}, steps);  // PyTorch defaults
    check_adam({.lr = 0.01, .beta1 = 0.5, .beta2 = 0.9}, steps);
    check_adam({.lr = 0.01, .weight_decay = 0.1}, steps);
    // Tiny gradients with a large eps: the update then depends on where eps enters (after the
    // bias-corrected sqrt, as in PyTorch) and on the bias corrections.
    check_adam({.lr = 0.1, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-3}, steps, 1e-3);
  }
}

TEST(Adam, FirstStepIsLrTimesSign) {
  // After one step m̂ = g and v̂ = g², so θ moves by lr · g / (|g| + eps): lr · sign(g) up to eps.
  ParameterTable<double> p;
  p.add("x", Shape{3});
  p.freeze();
  const std::vector<double> g = {0.5, -4.0, 1e-3};
  for (int i = 0; i < 3; ++i) {
    p.value(0)[i] = 1.0;
    p.grad(0)[i] = g[static_cast<size_t>(i)];
  }
  train::Adam<double> adam(p, {.lr = 0.001});
  adam.step();
  for (int i = 0; i < 3; ++i) {
    const double gi = g[static_cast<size_t>(i)];
    EXPECT_NEAR(p.value(0)[i], 1.0 - 0.001 * gi / (std::abs(gi) + 1e-8), kStepTol) << i;
  }
  EXPECT_NEAR(p.value(0)[0], 0.99900000002, kStepTol);  // 1 - 0.001 · 0.5 / (0.5 + 1e-8)
}

// ---- clip_grad_norm ----------------------------------------------------------------------------------

TEST(ClipGradNorm, ScalesOnlyAboveMaxNorm) {
  // Gradients (3, 4) and (0, 12): global norm sqrt(9 + 16 + 144) = 13.
  auto make = [] {
    auto p = std::make_unique<ParameterTable<double>>();
    p->add("a", Shape{2});
    p->add("b", Shape{2});
    p->freeze();
    p->grad(0)[0] = 3;
    p->grad(0)[1] = 4;
    p->grad(1)[0] = 0;
    p->grad(1)[1] = 12;
    return p;
  };
  {  // norm > max_norm: scale by max_norm / (norm + 1e-6)
    auto p = make();
    EXPECT_NEAR(train::clip_grad_norm(*p, 5.0), 13.0, kStepTol);
    const double factor = 5.0 / (13.0 + 1e-6);
    EXPECT_TRUE(
        all_close(p->grad(0).to_vector(), std::vector<double>{3 * factor, 4 * factor}, 0.0, kStepTol));
    EXPECT_TRUE(all_close(p->grad(1).to_vector(), std::vector<double>{0.0, 12 * factor}, 0.0, kStepTol));
    // The new norm is just under max_norm; clipping again changes (almost) nothing.
    EXPECT_NEAR(train::clip_grad_norm(*p, 5.0), 13.0 * factor, kStepTol);
  }
  {  // norm < max_norm: gradients untouched, bit for bit
    auto p = make();
    EXPECT_NEAR(train::clip_grad_norm(*p, 20.0), 13.0, kStepTol);
    EXPECT_EQ(p->grad(0).to_vector(), (std::vector<double>{3, 4}));
    EXPECT_EQ(p->grad(1).to_vector(), (std::vector<double>{0, 12}));
  }
  {  // all-zero gradients: norm 0, nothing to scale
    ParameterTable<double> p;
    p.add("z", Shape{3});
    p.freeze();
    EXPECT_EQ(train::clip_grad_norm(p, 1.0), 0.0);
    EXPECT_EQ(p.grad(0).to_vector(), std::vector<double>(3, 0.0));
  }
}

}  // namespace
}  // namespace recur
