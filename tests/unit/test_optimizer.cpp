// ParameterTable layout and aliasing; Sgd / Adagrad / RmsProp / Adam / AdamW steps against
// hand-written references of their torch.optim counterparts and hand-computed scalars; names,
// options and their errors; state() / load_state(): bit-identical resume and its validation;
// clip_grad_norm.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "recur/nn/parameters.h"
#include "recur/rng.h"
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

// torch.optim.Adagrad, written out per element (t = step, 1-based):
//   g = grad + wd·θ;  s += g²;  θ -= lr / (1 + (t-1)·lr_decay) · g / (sqrt(s) + eps)
struct AdagradReference {
  train::AdagradOptions o;
  std::vector<double> s;
  int t = 0;
  void step(std::vector<double>& theta, const std::vector<double>& grad) {
    ++t;
    if (s.empty()) s.assign(theta.size(), o.initial_accumulator_value);
    const double clr = o.lr / (1 + (t - 1) * o.lr_decay);
    for (size_t i = 0; i < theta.size(); ++i) {
      const double g = grad[i] + o.weight_decay * theta[i];
      s[i] += g * g;
      theta[i] -= clr * g / (std::sqrt(s[i]) + o.eps);
    }
  }
};

// torch.optim.RMSprop, written out per element:
//   g = grad + wd·θ;  v = α·v + (1-α)·g²;  centered: a = α·a + (1-α)·g, d = sqrt(v - a²) + eps,
//   else d = sqrt(v) + eps;  μ > 0: b = μ·b + g/d (b from 0), θ -= lr·b;  else θ -= lr·g/d
struct RmsPropReference {
  train::RmsPropOptions o;
  std::vector<double> v, a, b;
  void step(std::vector<double>& theta, const std::vector<double>& grad) {
    if (v.empty()) v.assign(theta.size(), 0.0), a.assign(theta.size(), 0.0), b.assign(theta.size(), 0.0);
    for (size_t i = 0; i < theta.size(); ++i) {
      const double g = grad[i] + o.weight_decay * theta[i];
      v[i] = o.alpha * v[i] + (1 - o.alpha) * g * g;
      double d = 0;
      if (o.centered) {
        a[i] = o.alpha * a[i] + (1 - o.alpha) * g;
        d = std::sqrt(v[i] - a[i] * a[i]) + o.eps;
      } else {
        d = std::sqrt(v[i]) + o.eps;
      }
      if (o.momentum > 0) {
        b[i] = o.momentum * b[i] + g / d;
        theta[i] -= o.lr * b[i];
      } else {
        theta[i] -= o.lr * g / d;
      }
    }
  }
};

// torch.optim.AdamW: θ *= 1 - lr·wd, then Adam on the raw gradient.
struct AdamWReference {
  train::AdamWOptions o;
  AdamReference adam{{.lr = o.lr, .beta1 = o.beta1, .beta2 = o.beta2, .eps = o.eps}, {}, {}, 0};
  void step(std::vector<double>& theta, const std::vector<double>& grad) {
    for (double& x : theta) x *= 1 - o.lr * o.weight_decay;
    adam.step(theta, grad);
  }
};

// Runs `Optimizer` and `Reference` side by side on the fixture for `steps` steps.
template <class Optimizer, class Reference, class Options>
void check_against(const Options& options, Reference ref, int steps) {
  Fixture f;
  Optimizer opt(f.params, options);
  std::vector<double> theta = f.values();
  for (int t = 1; t <= steps; ++t) {
    f.set_grads(t);
    ref.step(theta, f.grads());
    opt.step();
    EXPECT_TRUE(all_close(f.values(), theta, kStepTol, kStepTol)) << opt.describe() << " after step " << t;
  }
  EXPECT_EQ(opt.steps(), steps);
}

TEST(Adagrad, MatchesReference) {
  for (const int steps : {1, 4}) {
    SCOPED_TRACE(std::to_string(steps) + " steps");
    for (const train::AdagradOptions& o : std::vector<train::AdagradOptions>{
             {},
             {.lr = 0.1, .lr_decay = 0.3},
             {.lr = 0.05, .weight_decay = 0.2, .initial_accumulator_value = 0.5},
             {.lr = 0.1,
             .lr_decay = 0.1,
             .weight_decay = 0.05,
             .initial_accumulator_value = 0.2,
             .eps = 1e-3}})
      check_against<train::Adagrad<double>>(o, AdagradReference{o, {}, 0}, steps);
  }
}

// Tables large enough that the updates are split over threads (above 2 × 2^15 parameters, with a
// ragged end): every element must still follow the reference, on 1 and on 2 threads.
constexpr index_t kLargeTable = 70001;

template <class Optimizer, class Options, class Reference>
void check_large_table(const Options& options, Reference ref, int threads) {
  ::recur::testing::ThreadCountGuard guard(threads);
  ParameterTable<double> params;
  params.add("w", Shape{kLargeTable - 1});
  params.add("b", Shape{1});
  params.freeze();
  Rng rng(99);
  double* theta = params.flat_values().data();
  double* grad = params.flat_grads().data();
  for (index_t i = 0; i < kLargeTable; ++i) theta[i] = rng.uniform<double>(-1, 1);
  std::vector<double> expected(theta, theta + kLargeTable);
  Optimizer opt(params, options);
  for (int t = 1; t <= 3; ++t) {
    for (index_t i = 0; i < kLargeTable; ++i) grad[i] = rng.uniform<double>(-1, 1);
    ref.step(expected, std::vector<double>(grad, grad + kLargeTable));
    opt.step();
    ASSERT_TRUE(all_close(std::vector<double>(theta, theta + kLargeTable), expected, kStepTol, kStepTol))
        << opt.describe() << " on " << threads << " thread(s), after step " << t;
  }
}

TEST(Optimizers, LargeTablesFollowTheReferenceOnAnyThreadCount) {
  for (int threads : {1, 2}) {
    const train::SgdOptions sgd{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.1, .nesterov = true};
    check_large_table<train::Sgd<double>>(sgd, SgdReference{sgd, {}, 0}, threads);
    const train::AdagradOptions adagrad{.lr = 0.1, .lr_decay = 0.1, .weight_decay = 0.05};
    check_large_table<train::Adagrad<double>>(adagrad, AdagradReference{adagrad, {}, 0}, threads);
    const train::RmsPropOptions rms{.lr = 0.01, .momentum = 0.5, .centered = true};
    check_large_table<train::RmsProp<double>>(rms, RmsPropReference{rms, {}, {}, {}}, threads);
    const train::AdamOptions adam{.lr = 0.01, .weight_decay = 0.1};
    check_large_table<train::Adam<double>>(adam, AdamReference{adam, {}, {}, 0}, threads);
    const train::AdamWOptions adamw{.lr = 0.01, .weight_decay = 0.2};
    check_large_table<train::AdamW<double>>(adamw, AdamWReference{adamw}, threads);
  }
}

TEST(Adagrad, HandComputedScalar) {
  // θ = 1, constant gradient 0.5, lr 0.1: s = 0.25, 0.5, 0.75, steps 0.05·(1/0.5 + 1/sqrt(0.5) +
  // 1/sqrt(0.75)).
  auto run = [](const train::AdagradOptions& o, int steps) {
    ParameterTable<double> p;
    p.add("x", Shape{1});
    p.freeze();
    p.value(0)[0] = 1.0;
    p.grad(0)[0] = 0.5;
    train::Adagrad<double> opt(p, o);
    for (int i = 0; i < steps; ++i) opt.step();
    return p.value(0)[0];
  };
  EXPECT_NEAR(run({.lr = 0.1}, 1), 0.90000000002, kStepTol);  // 1 - 0.1 · 0.5 / (0.5 + 1e-10)
  EXPECT_NEAR(run({.lr = 0.1}, 3), 0.7715542949990494, kStepTol);
  // lr_decay 0.5: rates 0.1, 0.1/1.5, 0.1/2
  EXPECT_NEAR(run({.lr = 0.1, .lr_decay = 0.5}, 3), 0.8239920344914157, kStepTol);
  EXPECT_NEAR(run({.lr = 0.1, .weight_decay = 0.1, .initial_accumulator_value = 0.1}, 3), 0.7913450709111272,
              kStepTol);
}

TEST(RmsProp, MatchesReference) {
  for (const int steps : {1, 4}) {
    SCOPED_TRACE(std::to_string(steps) + " steps");
    for (const train::RmsPropOptions& o : std::vector<train::RmsPropOptions>{
             {},
             {.lr = 0.001, .alpha = 0.9},
             {.lr = 0.01, .momentum = 0.9},
             {.lr = 0.01, .centered = true},
             {.lr = 0.02, .alpha = 0.8, .eps = 1e-4, .weight_decay = 0.1, .momentum = 0.5, .centered = true}})
      check_against<train::RmsProp<double>>(o, RmsPropReference{o, {}, {}, {}}, steps);
  }
}

TEST(RmsProp, HandComputedScalar) {
  // θ = 1, constant gradient 0.5, lr 0.01, α 0.99. No bias correction: v = 0.0025 after one step,
  // so the first step is lr · g / sqrt(0.01 g²) = 10·lr.
  auto run = [](const train::RmsPropOptions& o, int steps) {
    ParameterTable<double> p;
    p.add("x", Shape{1});
    p.freeze();
    p.value(0)[0] = 1.0;
    p.grad(0)[0] = 0.5;
    train::RmsProp<double> opt(p, o);
    for (int i = 0; i < steps; ++i) opt.step();
    return p.value(0)[0];
  };
  EXPECT_NEAR(run({}, 1), 0.900000019999996, kStepTol);  // 1 - 0.01 · 0.5 / (0.05 + 1e-8)
  // v = 0.0025, 0.004975, 0.00742525: steps 0.01 · 0.5 · (1/0.05 + 1/0.0705337 + 1/0.0861699)
  EXPECT_NEAR(run({}, 3), 0.7710870078067141, kStepTol);
  EXPECT_NEAR(run({.momentum = 0.9}, 3), 0.536287742601182, kStepTol);
  // centered: a = 0.005, 0.00995, ...; d = sqrt(v - a²): 0.049749, ...
  EXPECT_NEAR(run({.centered = true}, 3), 0.7689858036009652, kStepTol);
  EXPECT_NEAR(run({.weight_decay = 0.1, .momentum = 0.5, .centered = true}, 3), 0.6598551573782298, kStepTol);
}

TEST(RmsProp, CenteredVarianceIsClampedAtZero) {
  // v - a² ≥ 0 in exact arithmetic, but rounding can make it a tiny negative number (float, α 0.95,
  // a constant gradient 1.1: after 260 steps without FMA), whose sqrt is NaN in PyTorch. recur
  // clamps at 0. Set up such a state directly: with g = 0 and α = 0.5 the step makes
  // v - a² = 0.5·v - 0.25·a² = 0.25·(1 - (1 + 2⁻²⁰)²) < 0 from v = 0.5, a = 1 + 2⁻²⁰.
  ParameterTable<double> p;
  p.add("x", Shape{1});
  p.freeze();
  p.value(0)[0] = 1.0;
  train::RmsProp<double> opt(p, {.lr = 0.1, .alpha = 0.5, .eps = 1e-8, .momentum = 0.5, .centered = true});
  const double a0 = 1.0 + std::ldexp(1.0, -20);
  opt.load_state({{"square_avg", Tensor<double>(Shape{1}, {0.5})},
                  {"momentum_buffer", Tensor<double>(Shape{1}, {2.0})},
                  {"grad_avg", Tensor<double>(Shape{1}, {a0})}},
                 3);
  opt.step();  // b = 0.5·2 + 0/(0 + eps) = 1, θ = 1 - 0.1·1
  EXPECT_EQ(p.value(0)[0], 0.9);
  const auto state = opt.state();
  EXPECT_LT(state[0].second[0] - state[2].second[0] * state[2].second[0], 0.0);
}

TEST(AdamW, MatchesReference) {
  for (const int steps : {1, 4}) {
    SCOPED_TRACE(std::to_string(steps) + " steps");
    for (const train::AdamWOptions& o :
         std::vector<train::AdamWOptions>{{},
                                          {.lr = 0.01, .weight_decay = 0.0},
                                          {.lr = 0.05, .beta1 = 0.8, .beta2 = 0.95, .weight_decay = 0.3}})
      check_against<train::AdamW<double>>(o, AdamWReference{o}, steps);
  }
}

TEST(AdamW, DecayIsDecoupledFromTheMoments) {
  // One step at lr 0.1, wd 0.5 on θ = 1, g = 0.5: θ·(1 - 0.05) - 0.1·0.5/(0.5 + 1e-8) = 0.85. Adam's
  // L2 decay would instead fold 0.5·θ into g and still step by lr·sign(g): 0.9.
  ParameterTable<double> p;
  p.add("x", Shape{1});
  p.freeze();
  p.value(0)[0] = 1.0;
  p.grad(0)[0] = 0.5;
  train::AdamW<double> adamw(p, {.lr = 0.1, .weight_decay = 0.5});
  adamw.step();
  EXPECT_NEAR(p.value(0)[0], 0.850000002, kStepTol);
  adamw.step();
  adamw.step();
  EXPECT_NEAR(p.value(0)[0], 0.5721250057050005, kStepTol);
  // The moments never see the decay: they are those of the raw gradient.
  const auto state = adamw.state();
  EXPECT_NEAR(state[0].second[0], 0.5 * (1 - std::pow(0.9, 3)), kStepTol);     // exp_avg
  EXPECT_NEAR(state[1].second[0], 0.25 * (1 - std::pow(0.999, 3)), kStepTol);  // exp_avg_sq
  // Without decay AdamW is Adam, bit for bit.
  Fixture a, b;
  train::AdamW<double> w(a.params, {.lr = 0.01, .weight_decay = 0.0});
  train::Adam<double> plain(b.params, {.lr = 0.01});
  for (int t = 1; t <= 3; ++t) {
    a.set_grads(t);
    b.set_grads(t);
    w.step();
    plain.step();
  }
  EXPECT_EQ(a.values(), b.values());
}

TEST(Optimizers, PyTorchDefaults) {
  EXPECT_EQ(train::AdagradOptions{}.lr, 1e-2);
  EXPECT_EQ(train::AdagradOptions{}.eps, 1e-10);
  EXPECT_EQ(train::RmsPropOptions{}.lr, 1e-2);
  EXPECT_EQ(train::RmsPropOptions{}.alpha, 0.99);
  EXPECT_EQ(train::RmsPropOptions{}.eps, 1e-8);
  EXPECT_EQ(train::AdamWOptions{}.lr, 1e-3);
  EXPECT_EQ(train::AdamWOptions{}.weight_decay, 1e-2);
  EXPECT_EQ(train::AdamOptions{}.weight_decay, 0.0);
}

// ---- names, options, make_optimizer ---------------------------------------------------------------

TEST(Optimizers, NamesAndDescriptions) {
  Fixture f;
  const std::vector<std::pair<train::OptimizerOptions, std::string>> cases = {
      {train::SgdOptions{.lr = 0.5, .momentum = 0.9, .nesterov = true},
       "sgd(lr=0.5, momentum=0.9, weight_decay=0, nesterov=1)"},
      {train::AdagradOptions{},
       "adagrad(lr=0.01, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10)"},
      {train::RmsPropOptions{.centered = true},
       "rmsprop(lr=0.01, alpha=0.99, eps=1e-08, weight_decay=0, momentum=0, centered=1)"},
      {train::AdamOptions{}, "adam(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0)"},
      {train::AdamWOptions{}, "adamw(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0.01)"},
  };
  for (const auto& [options, description] : cases) {
    auto opt = train::make_optimizer(f.params, options);
    EXPECT_EQ(opt->describe(), description);
    EXPECT_EQ(description.rfind(opt->name() + "(", 0), 0u) << opt->name();
    EXPECT_EQ(opt->hyperparameters().front().first, "lr");
    EXPECT_EQ(opt->hyperparameters().front().second, double(opt->learning_rate()));
  }
  // "lr" reports the current rate, as a schedule set it.
  train::Adam<double> adam(f.params, {});
  adam.set_learning_rate(0.25);
  EXPECT_EQ(adam.describe().substr(0, 13), "adam(lr=0.25,");
  // A float optimizer shows its settings as given, not as the floats' exact values.
  nn::ParameterTable<float> floats;
  floats.add("w", Shape{2});
  floats.freeze();
  EXPECT_EQ(train::make_optimizer(floats, train::RmsPropOptions{.lr = 2e-3, .alpha = 0.95})->describe(),
            "rmsprop(lr=0.002, alpha=0.95, eps=1e-08, weight_decay=0, momentum=0, centered=0)");
  EXPECT_THROW(adam.set_learning_rate(-1.0), Error);
  EXPECT_THROW(adam.set_learning_rate(std::nan("")), Error);
  adam.set_learning_rate(0.0);  // the end of a cosine schedule with eta_min = 0
  EXPECT_EQ(adam.learning_rate(), 0.0);
}

TEST(Optimizers, InvalidOptionsNameTheOption) {
  using ::recur::testing::throws_error_with;
  Fixture f;
  auto make = [&f](const train::OptimizerOptions& o) {
    return [&f, o] { train::make_optimizer(f.params, o); };
  };
  EXPECT_TRUE(throws_error_with(make(train::SgdOptions{.lr = 0}), {"Sgd", "lr = 0", "> 0"}));
  EXPECT_TRUE(throws_error_with(make(train::SgdOptions{.nesterov = true}), {"Sgd", "momentum", "nesterov"}));
  EXPECT_TRUE(throws_error_with(make(train::AdagradOptions{.lr_decay = -1}), {"Adagrad", "lr_decay = -1"}));
  EXPECT_TRUE(throws_error_with(make(train::AdagradOptions{.initial_accumulator_value = -0.5}),
                                {"initial_accumulator_value = -0.5"}));
  EXPECT_TRUE(throws_error_with(make(train::RmsPropOptions{.alpha = 1.5}), {"RmsProp", "alpha = 1.5"}));
  EXPECT_TRUE(throws_error_with(make(train::RmsPropOptions{.momentum = -0.1}), {"RmsProp", "momentum"}));
  EXPECT_TRUE(throws_error_with(make(train::AdamOptions{.beta2 = 1.0}), {"Adam", "beta2 = 1"}));
  EXPECT_TRUE(throws_error_with(make(train::AdamWOptions{.weight_decay = -0.01}), {"AdamW", "weight_decay"}));
  ParameterTable<double> unfrozen;
  unfrozen.add("x", Shape{2});
  EXPECT_TRUE(throws_error_with([&] { train::Adam<double> a(unfrozen, {}); }, {"frozen"}));
}

// ---- state and resume ----------------------------------------------------------------------------

// One configuration of every optimizer, each with all of its state buffers in use.
std::vector<train::OptimizerOptions> resume_configs() {
  return {train::SgdOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01},
          train::SgdOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true},
          train::SgdOptions{.lr = 0.1},
          train::AdagradOptions{
              .lr = 0.1, .lr_decay = 0.2, .weight_decay = 0.01, .initial_accumulator_value = 0.1},
          train::RmsPropOptions{.lr = 0.01, .momentum = 0.9, .centered = true},
          train::RmsPropOptions{.lr = 0.01},
          train::AdamOptions{.lr = 0.01, .weight_decay = 0.01},
          train::AdamWOptions{.lr = 0.01}};
}

// A table with padding between entries (offsets 0 and 16 for float) and step-dependent gradients.
template <class T>
std::unique_ptr<ParameterTable<T>> resume_table() {
  auto p = std::make_unique<ParameterTable<T>>();
  p->add("w", Shape{3, 4});
  p->add("b", Shape{5});
  p->freeze();
  Tensor<T> v = p->flat_values();
  for (index_t i = 0; i < v.numel(); ++i) v[i] = static_cast<T>(std::sin(0.7 * double(i) + 0.3));
  return p;
}

template <class T>
void set_resume_grads(ParameterTable<T>& p, int t) {
  for (int id = 0; id < p.size(); ++id) {
    Tensor<T> g = p.grad(id);
    for (index_t i = 0; i < g.numel(); ++i)
      g[i] = static_cast<T>(std::cos(1.3 * double(i) + 0.9 * t + id) * (1.0 + 0.25 * t));
  }
}

// n straight steps vs k steps, state() → a fresh optimizer on a copy of the values → n - k steps.
template <class T>
void check_resume(const train::OptimizerOptions& options, int k, int n) {
  auto straight = resume_table<T>();
  auto opt = train::make_optimizer(*straight, options);
  SCOPED_TRACE(opt->describe() + ", resumed after " + std::to_string(k) + " of " + std::to_string(n));
  for (int t = 1; t <= n; ++t) {
    set_resume_grads(*straight, t);
    opt->step();
  }

  auto first = resume_table<T>();
  train::OptimizerState<T> saved;
  long saved_steps = 0;
  {
    auto a = train::make_optimizer(*first, options);
    for (int t = 1; t <= k; ++t) {
      set_resume_grads(*first, t);
      a->step();
    }
    saved = a->state();
    saved_steps = a->steps();
    for (const auto& [name, tensor] : saved) EXPECT_EQ(tensor.shape(), Shape({first->numel()})) << name;
  }  // the first optimizer is gone; only the copies remain
  auto resumed = resume_table<T>();
  std::copy(first->flat_values().data(), first->flat_values().data() + first->numel(),
            resumed->flat_values().data());
  auto b = train::make_optimizer(*resumed, options);
  b->load_state(saved, saved_steps);
  EXPECT_EQ(b->steps(), k);
  for (int t = k + 1; t <= n; ++t) {
    set_resume_grads(*resumed, t);
    b->step();
  }
  EXPECT_EQ(b->steps(), n);
  const std::vector<T> want = straight->flat_values().to_vector(), got = resumed->flat_values().to_vector();
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(T)), 0)
      << all_close(got, want, 0.0, 0.0).message();
  const auto state_a = opt->state(), state_b = b->state();
  ASSERT_EQ(state_a.size(), state_b.size());
  for (size_t s = 0; s < state_a.size(); ++s) {
    EXPECT_EQ(state_a[s].first, state_b[s].first);
    EXPECT_EQ(state_a[s].second.to_vector(), state_b[s].second.to_vector()) << state_a[s].first;
  }
}

TEST(OptimizerState, ResumeIsBitIdentical) {
  for (const auto& options : resume_configs()) {
    for (const int k : {0, 1, 3}) {
      check_resume<double>(options, k, 6);
      check_resume<float>(options, k, 6);
    }
  }
}

TEST(OptimizerState, ResumeWithoutTheStateDiverges) {
  // The check above can fail: a fresh optimizer that continues from the same values, without the
  // state, ends elsewhere (for every optimizer with state; plain SGD has none).
  for (const auto& options : resume_configs()) {
    auto straight = resume_table<double>(), cold = resume_table<double>();
    auto a = train::make_optimizer(*straight, options);
    if (a->state().empty()) continue;
    for (int t = 1; t <= 3; ++t) {
      set_resume_grads(*straight, t);
      set_resume_grads(*cold, t);
      a->step();
    }
    auto b = train::make_optimizer(*cold, options);
    std::copy(straight->flat_values().data(), straight->flat_values().data() + straight->numel(),
              cold->flat_values().data());
    set_resume_grads(*straight, 4);
    set_resume_grads(*cold, 4);
    a->step();
    b->step();
    EXPECT_NE(straight->flat_values().to_vector(), cold->flat_values().to_vector()) << a->describe();
  }
}

TEST(OptimizerState, StepCountMattersForSgdMomentumAndAdam) {
  // Restoring the buffers but not the count replays the first-step rules: SGD sets b = g again,
  // Adam's bias corrections restart. Both change the next step.
  for (const train::OptimizerOptions& options :
       {train::OptimizerOptions{train::SgdOptions{.lr = 0.1, .momentum = 0.9}},
        train::OptimizerOptions{train::AdamOptions{.lr = 0.01}},
        train::OptimizerOptions{train::AdagradOptions{.lr = 0.1, .lr_decay = 0.5}}}) {
    auto p = resume_table<double>(), q = resume_table<double>();
    auto a = train::make_optimizer(*p, options);
    set_resume_grads(*p, 1);
    a->step();
    auto b = train::make_optimizer(*q, options);
    std::copy(p->flat_values().data(), p->flat_values().data() + p->numel(), q->flat_values().data());
    b->load_state(a->state(), 0);  // wrong count
    set_resume_grads(*p, 2);
    set_resume_grads(*q, 2);
    a->step();
    b->step();
    EXPECT_NE(p->flat_values().to_vector(), q->flat_values().to_vector()) << a->describe();
  }
}

TEST(OptimizerState, NamesFollowPyTorch) {
  Fixture f;
  auto names = [&f](const train::OptimizerOptions& o) {
    std::vector<std::string> out;
    for (const auto& entry : train::make_optimizer(f.params, o)->state()) out.push_back(entry.first);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names(train::SgdOptions{}), V{});
  EXPECT_EQ(names(train::SgdOptions{.momentum = 0.9}), V{"momentum_buffer"});
  EXPECT_EQ(names(train::AdagradOptions{}), V{"sum"});
  EXPECT_EQ(names(train::RmsPropOptions{}), V{"square_avg"});
  EXPECT_EQ(names(train::RmsPropOptions{.momentum = 0.5, .centered = true}),
            (V{"square_avg", "momentum_buffer", "grad_avg"}));
  EXPECT_EQ(names(train::AdamOptions{}), (V{"exp_avg", "exp_avg_sq"}));
  EXPECT_EQ(names(train::AdamWOptions{}), (V{"exp_avg", "exp_avg_sq"}));
  // Before any step: Adagrad's sum holds initial_accumulator_value everywhere, the rest zeros.
  train::Adagrad<double> ada(f.params, {.initial_accumulator_value = 0.3});
  EXPECT_EQ(ada.state()[0].second.to_vector(),
            std::vector<double>(static_cast<size_t>(f.params.numel()), 0.3));
}

TEST(OptimizerState, StateIsACopy) {
  Fixture f;
  train::Adam<double> adam(f.params, {});
  f.set_grads(1);
  adam.step();
  auto state = adam.state();
  const double m0 = state[0].second[0];
  state[0].second[0] = 123.0;  // must not reach the optimizer
  EXPECT_EQ(adam.state()[0].second[0], m0);
}

TEST(OptimizerState, LoadStateValidatesAndChangesNothingOnError) {
  using ::recur::testing::throws_error_with;
  Fixture f;
  train::RmsProp<double> opt(f.params, {.momentum = 0.9, .centered = true});
  f.set_grads(1);
  opt.step();
  const auto good = opt.state();
  const index_t n = f.params.numel();
  auto with = [&good](auto edit) {
    auto s = good;
    edit(s);
    return s;
  };
  // (Shape::str writes rank 1 as "(n,)".)
  const std::string need = "need (" + std::to_string(n) + ",)";
  const std::string short_by_one = "(" + std::to_string(n - 1) + ",)";
  const std::vector<std::pair<train::OptimizerState<double>, std::vector<std::string>>> bad = {
      {with([](auto& s) { s.pop_back(); }), {"rmsprop::load_state", "missing state 'grad_avg'"}},
      {with([](auto& s) { s[1].first = "exp_avg"; }),
       {"unexpected state 'exp_avg'", "rmsprop keeps: square_avg, momentum_buffer, grad_avg"}},
      {with([](auto& s) { s.push_back(s[0]); }), {"state 'square_avg' given twice"}},
      {with([n](auto& s) { s[2].second = Tensor<double>(Shape{n - 1}); }),
       {"state 'grad_avg' has shape " + short_by_one, need}},
      {with([n](auto& s) {
         s[0].second = Tensor<double>(Shape{1, n});
       }),
       {"'square_avg' has shape (1, ", need}},
      {with([](auto& s) { s[0].second = Tensor<double>(); }), {"'square_avg' has shape ()"}},
  };
  // Poison values that must not land in the optimizer when the load fails.
  for (const auto& [state, parts] : bad) {
    auto poisoned = state;
    for (auto& entry : poisoned) {
      if (entry.second.empty()) continue;
      entry.second = entry.second.clone();  // (copies of a Tensor share its storage)
      entry.second.fill(99.0);
    }
    std::string message;
    try {
      opt.load_state(poisoned, 7);
    } catch (const Error& e) {
      message = e.what();
    }
    ASSERT_FALSE(message.empty()) << "did not throw for " << parts.front();
    for (const std::string& part : parts)
      EXPECT_NE(message.find(part), std::string::npos) << "\"" << part << "\" not in: " << message;
  }
  EXPECT_TRUE(throws_error_with([&] { opt.load_state(good, -1); }, {"step count must be >= 0"}));
  EXPECT_EQ(opt.steps(), 1);
  const auto after = opt.state();
  for (size_t s = 0; s < good.size(); ++s) EXPECT_EQ(after[s].second.to_vector(), good[s].second.to_vector());
  // Any order is accepted.
  auto reversed = good;
  std::reverse(reversed.begin(), reversed.end());
  opt.load_state(reversed, 5);
  EXPECT_EQ(opt.steps(), 5);
  // An optimizer without state takes only an empty state.
  train::Sgd<double> sgd(f.params, {});
  sgd.load_state({}, 3);
  EXPECT_EQ(sgd.steps(), 3);
  EXPECT_TRUE(
      throws_error_with([&] { sgd.load_state(good, 3); }, {"unexpected state 'square_avg'", "no state"}));
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

TEST(ClipGradNorm, LargeTablesGiveTheSameBitsOnAnyThreadCount) {
  // Above the chunk size (2^14) many times over, with a ragged last chunk: the norm matches a plain
  // double sum and is bit-identical for 1 and 2 threads, and so are the clipped gradients.
  auto clipped = [](int threads, double& norm) {
    ::recur::testing::ThreadCountGuard guard(threads);
    ParameterTable<float> p;
    p.add("w", Shape{kLargeTable});
    p.freeze();
    Rng rng(7);
    float* g = p.flat_grads().data();
    double plain = 0;
    for (index_t i = 0; i < kLargeTable; ++i) {
      g[i] = rng.uniform<float>(-1, 1);
      plain += double(g[i]) * double(g[i]);
    }
    const std::vector<float> before(g, g + kLargeTable);
    norm = double(train::grad_norm(p));
    EXPECT_NEAR(norm, std::sqrt(plain), 1e-12 * std::sqrt(plain));
    train::clip_grad_norm(p, 1.0f);
    const double factor = 1.0 / (norm + 1e-6);
    for (index_t i = 0; i < kLargeTable; ++i)
      EXPECT_EQ(g[i], static_cast<float>(double(before[static_cast<size_t>(i)]) * factor)) << "element " << i;
    return std::vector<float>(g, g + kLargeTable);
  };
  double norm1 = 0, norm2 = 0;
  const std::vector<float> one = clipped(1, norm1), two = clipped(2, norm2);
  EXPECT_EQ(std::memcmp(&norm1, &norm2, sizeof(double)), 0);
  EXPECT_EQ(one, two);
}

}  // namespace
}  // namespace recur
