#include "recur/autograd/functions.h"

#include <fmt/format.h>
#include <array>

#include "recur/ops/elementwise.h"
#include "recur/ops/embedding.h"
#include "recur/ops/gemm.h"
#include "recur/ops/linear.h"
#include "recur/ops/reduce.h"
#include "recur/ops/shape_ops.h"
#include "recur/ops/softmax.h"

namespace recur::ag {

namespace {

template <class T>
void require_same_shape(const char* op, const Var<T>& a, const Var<T>& b) {
  RECUR_CHECK(a.shape() == b.shape(),
              fmt::format("{}: shapes {} and {} differ", op, a.shape().str(), b.shape().str()));
}

template <class T>
Var<T> record(const Var<T>& any_input, Tensor<T> value, std::initializer_list<Var<T>> inputs,
              typename Tape<T>::Backward backward) {
  return any_input.tape().record(std::move(value), std::span<const Var<T>>(inputs.begin(), inputs.size()),
                                 std::move(backward));
}

const Shape kScalarShape{1};

}  // namespace

template <class T>
Var<T> add(const Var<T>& a, const Var<T>& b) {
  require_same_shape("add", a, b);
  Tensor<T> y(a.shape());
  ops::add_forward(a.value().data(), b.value().data(), y.data(), y.numel());
  return record(a, std::move(y), {a, b}, [ia = a.id(), ib = b.id()](Tape<T>& tape, const Tensor<T>& dy) {
    ops::accumulate(dy.data(), T(1), tape.grad_ptr(ia), dy.numel());
    ops::accumulate(dy.data(), T(1), tape.grad_ptr(ib), dy.numel());
  });
}

template <class T>
Var<T> sub(const Var<T>& a, const Var<T>& b) {
  require_same_shape("sub", a, b);
  Tensor<T> y(a.shape());
  ops::sub_forward(a.value().data(), b.value().data(), y.data(), y.numel());
  return record(a, std::move(y), {a, b}, [ia = a.id(), ib = b.id()](Tape<T>& tape, const Tensor<T>& dy) {
    ops::accumulate(dy.data(), T(1), tape.grad_ptr(ia), dy.numel());
    ops::accumulate(dy.data(), T(-1), tape.grad_ptr(ib), dy.numel());
  });
}

template <class T>
Var<T> mul(const Var<T>& a, const Var<T>& b) {
  require_same_shape("mul", a, b);
  Tensor<T> y(a.shape());
  ops::mul_forward(a.value().data(), b.value().data(), y.data(), y.numel());
  return record(
      a, std::move(y), {a, b},
      [ia = a.id(), ib = b.id(), av = a.value(), bv = b.value()](Tape<T>& tape, const Tensor<T>& dy) {
        ops::mul_backward(av.data(), bv.data(), dy.data(), tape.grad_ptr(ia), tape.grad_ptr(ib), dy.numel());
      });
}

template <class T>
Var<T> scale(const Var<T>& x, T c) {
  Tensor<T> y(x.shape());
  ops::scale_forward(x.value().data(), c, y.data(), y.numel());
  return record(x, std::move(y), {x}, [ix = x.id(), c](Tape<T>& tape, const Tensor<T>& dy) {
    ops::accumulate(dy.data(), c, tape.grad_ptr(ix), dy.numel());
  });
}

// tanh / sigmoid / relu: the backward needs only the output y.
#define RECUR_DEFINE_ACTIVATION(NAME)                                                              \
  template <class T>                                                                               \
  Var<T> NAME(const Var<T>& x) {                                                                   \
    Tensor<T> y(x.shape());                                                                        \
    ops::NAME##_forward(x.value().data(), y.data(), y.numel());                                    \
    Tensor<T> saved = y;                                                                           \
    return record(x, std::move(y), {x}, [ix = x.id(), saved](Tape<T>& tape, const Tensor<T>& dy) { \
      ops::NAME##_backward(saved.data(), dy.data(), tape.grad_ptr(ix), dy.numel());                \
    });                                                                                            \
  }
RECUR_DEFINE_ACTIVATION(tanh)
RECUR_DEFINE_ACTIVATION(sigmoid)
RECUR_DEFINE_ACTIVATION(relu)
#undef RECUR_DEFINE_ACTIVATION

template <class T>
Var<T> add_bias(const Var<T>& x, const Var<T>& bias) {
  const index_t C = bias.value().numel();
  RECUR_CHECK(bias.shape().rank() == 1 && x.shape().rank() >= 1 && x.shape()[-1] == C,
              fmt::format("add_bias: bias {} does not match the last dim of {}", bias.shape().str(),
                          x.shape().str()));
  const index_t N = x.value().numel() / std::max<index_t>(C, 1);
  Tensor<T> y(x.shape());
  ops::add_bias_forward(x.value().data(), bias.value().data(), y.data(), N, C);
  return record(x, std::move(y), {x, bias},
                [ix = x.id(), ib = bias.id(), N, C](Tape<T>& tape, const Tensor<T>& dy) {
                  ops::add_bias_backward(dy.data(), tape.grad_ptr(ix), tape.grad_ptr(ib), N, C);
                });
}

template <class T>
Var<T> matmul(const Var<T>& a, const Var<T>& b) {
  RECUR_CHECK(a.shape().rank() == 2 && b.shape().rank() == 2 && a.shape()[1] == b.shape()[0],
              fmt::format("matmul: cannot multiply {} by {}", a.shape().str(), b.shape().str()));
  const index_t M = a.shape()[0], K = a.shape()[1], N = b.shape()[1];
  Tensor<T> y(Shape{M, N});
  gemm(Trans::kNo, Trans::kNo, M, N, K, T(1), a.value().data(), K, b.value().data(), N, T(0), y.data(), N);
  // da (M,K) += dy · bᵀ ;  db (K,N) += aᵀ · dy
  return record(a, std::move(y), {a, b},
                [ia = a.id(), ib = b.id(), av = a.value(), bv = b.value(), M, K, N](Tape<T>& tape,
                                                                                    const Tensor<T>& dy) {
                  if (T* da = tape.grad_ptr(ia))
                    gemm(Trans::kNo, Trans::kYes, M, K, N, T(1), dy.data(), N, bv.data(), N, T(1), da, K);
                  if (T* db = tape.grad_ptr(ib))
                    gemm(Trans::kYes, Trans::kNo, K, N, M, T(1), av.data(), K, dy.data(), N, T(1), db, N);
                });
}

template <class T>
Var<T> linear(const Var<T>& x, const Var<T>& W, const Var<T>& b) {
  RECUR_CHECK(W.shape().rank() == 2 && x.shape().rank() >= 1 && x.shape()[-1] == W.shape()[1],
              fmt::format("linear: input {} does not match weight {} (want (..., I) and (O, I))",
                          x.shape().str(), W.shape().str()));
  const index_t O = W.shape()[0], I = W.shape()[1], N = x.shape().outer(-1);  // rows, even when I = 0
  if (b.defined())
    RECUR_CHECK(b.shape() == Shape({O}), fmt::format("linear: bias {} should be ({},)", b.shape().str(), O));
  std::vector<index_t> dims = x.shape().dims();
  dims.back() = O;
  Tensor<T> y{Shape(dims)};
  ops::linear_forward(x.value().data(), W.value().data(), b.defined() ? b.value().data() : nullptr, y.data(),
                      N, I, O);
  auto backward = [ix = x.id(), iW = W.id(), ib = b.defined() ? b.id() : -1, xv = x.value(), Wv = W.value(),
                   N, I, O](Tape<T>& tape, const Tensor<T>& dy) {
    ops::linear_backward(xv.data(), Wv.data(), dy.data(), tape.grad_ptr(ix), tape.grad_ptr(iW),
                         ib >= 0 ? tape.grad_ptr(ib) : nullptr, N, I, O);
  };
  if (b.defined()) return record(x, std::move(y), {x, W, b}, std::move(backward));
  return record(x, std::move(y), {x, W}, std::move(backward));
}

template <class T>
Var<T> reshape(const Var<T>& x, const Shape& shape) {
  Tensor<T> y = x.value().view(shape);
  return record(x, std::move(y), {x}, [ix = x.id()](Tape<T>& tape, const Tensor<T>& dy) {
    ops::accumulate(dy.data(), T(1), tape.grad_ptr(ix), dy.numel());
  });
}

template <class T>
Var<T> concat(const std::vector<Var<T>>& xs, int axis) {
  RECUR_CHECK(!xs.empty(), "concat of no tensors");
  const Shape& first = xs[0].shape();
  const int a = first.normalize_axis(axis);
  std::vector<index_t> dims = first.dims();
  dims[a] = 0;
  std::vector<index_t> widths;
  std::vector<const T*> srcs;
  std::vector<std::int32_t> ids;
  for (const Var<T>& x : xs) {
    const Shape& s = x.shape();
    bool compatible = s.rank() == first.rank();
    for (int d = 0; compatible && d < s.rank(); ++d) compatible = d == a || s[d] == first[d];
    RECUR_CHECK(compatible,
                fmt::format("concat on axis {}: shape {} does not match {}", axis, s.str(), first.str()));
    dims[a] += s[a];
    widths.push_back(s[a] * s.inner(a));
    srcs.push_back(x.value().data());
    ids.push_back(x.id());
  }
  const index_t outer = first.outer(a);
  Tensor<T> y = Tensor<T>::uninitialized(Shape(dims));  // every element is copied in
  ops::concat_forward<T>(srcs, widths, outer, y.data());
  return xs[0].tape().record(std::move(y), xs, [ids, widths, outer](Tape<T>& tape, const Tensor<T>& dy) {
    std::vector<T*> grads;
    for (std::int32_t id : ids) grads.push_back(tape.grad_ptr(id));
    ops::concat_backward<T>(dy.data(), grads, widths, outer);
  });
}

template <class T>
Var<T> slice(const Var<T>& x, int axis, index_t start, index_t length) {
  const Shape& s = x.shape();
  const int a = s.normalize_axis(axis);
  RECUR_CHECK(start >= 0 && length >= 0 && start <= s[a] && length <= s[a] - start,
              fmt::format("slice of start {} and length {} is out of range on axis {} of {}", start, length,
                          axis, s.str()));
  std::vector<index_t> dims = s.dims();
  dims[a] = length;
  const index_t outer = s.outer(a), inner = s.inner(a);
  Tensor<T> y;
  if (outer == 1 && inner > 0 && length > 0) {
    // Contiguous rows: a view of x's storage, no copy (values on the tape are never written again).
    y = x.value().view(Shape{s[a], inner}).narrow(start, length).view(Shape(dims));
  } else {
    y = Tensor<T>::uninitialized(Shape(dims));
    ops::slice_forward(x.value().data(), outer, s[a] * inner, start * inner, length * inner, y.data());
  }
  return record(x, std::move(y), {x},
                [ix = x.id(), outer, in_width = s[a] * inner, offset = start * inner, width = length * inner](
                    Tape<T>& tape, const Tensor<T>& dy) {
                  ops::slice_backward(dy.data(), outer, in_width, offset, width, tape.grad_ptr(ix));
                });
}

template <class T>
std::vector<Var<T>> split(const Var<T>& x, int axis, const std::vector<index_t>& sizes) {
  index_t total = 0;
  for (index_t size : sizes) {
    RECUR_CHECK(size >= 0 && !__builtin_add_overflow(total, size, &total),
                fmt::format("split of {} on axis {}: size {} is negative or the sizes overflow",
                            x.shape().str(), axis, size));
  }
  RECUR_CHECK(total == x.shape()[axis], fmt::format("split: sizes add up to {} but axis {} of {} has {}",
                                                    total, axis, x.shape().str(), x.shape()[axis]));
  std::vector<Var<T>> parts;
  index_t start = 0;
  for (index_t size : sizes) {
    parts.push_back(slice(x, axis, start, size));
    start += size;
  }
  return parts;
}

template <class T>
Var<T> embedding(const Var<T>& table, std::vector<std::int32_t> ids) {
  RECUR_CHECK(table.shape().rank() == 2, "embedding: table must be (V, E), got " + table.shape().str());
  const index_t V = table.shape()[0], E = table.shape()[1], N = static_cast<index_t>(ids.size());
  Tensor<T> y = Tensor<T>::uninitialized(Shape{N, E});  // every row is copied in
  ops::embedding_forward(table.value().data(), ids.data(), y.data(), N, V, E);
  return record(table, std::move(y), {table},
                [it = table.id(), ids = std::move(ids), N, E](Tape<T>& tape, const Tensor<T>& dy) {
                  ops::embedding_backward(ids.data(), dy.data(), tape.grad_ptr(it), N, E);
                });
}

template <class T>
Var<T> softmax(const Var<T>& x) {
  const index_t C = x.shape()[-1], N = x.value().numel() / std::max<index_t>(C, 1);
  Tensor<T> y(x.shape());
  ops::softmax_forward(x.value().data(), y.data(), N, C);
  Tensor<T> saved = y;
  return record(x, std::move(y), {x}, [ix = x.id(), saved, N, C](Tape<T>& tape, const Tensor<T>& dy) {
    ops::softmax_backward(saved.data(), dy.data(), tape.grad_ptr(ix), N, C);
  });
}

template <class T>
Var<T> log_softmax(const Var<T>& x) {
  const index_t C = x.shape()[-1], N = x.value().numel() / std::max<index_t>(C, 1);
  Tensor<T> y(x.shape());
  ops::log_softmax_forward(x.value().data(), y.data(), N, C);
  Tensor<T> saved = y;
  return record(x, std::move(y), {x}, [ix = x.id(), saved, N, C](Tape<T>& tape, const Tensor<T>& dy) {
    ops::log_softmax_backward(saved.data(), dy.data(), tape.grad_ptr(ix), N, C);
  });
}

template <class T>
Var<T> cross_entropy(const Var<T>& logits, std::vector<std::int32_t> targets,
                     const ops::CrossEntropyOptions& options, std::vector<T> mask) {
  RECUR_CHECK(logits.shape().rank() == 2,
              "cross_entropy: logits must be (N, C), got " + logits.shape().str());
  const index_t N = logits.shape()[0], C = logits.shape()[1];
  RECUR_CHECK(static_cast<index_t>(targets.size()) == N,
              fmt::format("cross_entropy: {} targets for {} rows of logits", targets.size(), N));
  RECUR_CHECK(mask.empty() || static_cast<index_t>(mask.size()) == N,
              fmt::format("cross_entropy: mask has {} entries for {} rows", mask.size(), N));
  Tensor<T> log_probs(logits.shape());
  const T* mask_ptr = mask.empty() ? nullptr : mask.data();
  Tensor<T> y;
  if (options.reduction == ops::Reduction::kNone) {
    y = Tensor<T>(Shape{N});
    ops::cross_entropy_forward(logits.value().data(), targets.data(), mask_ptr, N, C, options,
                               log_probs.data(), y.data());
  } else {
    y = Tensor<T>(kScalarShape);
    y[0] = ops::cross_entropy_forward(logits.value().data(), targets.data(), mask_ptr, N, C, options,
                                      log_probs.data(), static_cast<T*>(nullptr));
  }
  return record(logits, std::move(y), {logits},
                [il = logits.id(), log_probs, targets = std::move(targets), mask = std::move(mask), options,
                 N, C](Tape<T>& tape, const Tensor<T>& dy) {
                  ops::cross_entropy_backward(log_probs.data(), targets.data(),
                                              mask.empty() ? nullptr : mask.data(), N, C, options, dy.data(),
                                              tape.grad_ptr(il));
                });
}

template <class T>
Var<T> mse(const Var<T>& pred, const Var<T>& target, ops::Reduction reduction) {
  require_same_shape("mse", pred, target);
  const index_t n = pred.value().numel();
  Tensor<T> y;
  if (reduction == ops::Reduction::kNone) {
    y = Tensor<T>(pred.shape());
    ops::mse_forward(pred.value().data(), target.value().data(), n, reduction, y.data());
  } else {
    y = Tensor<T>(kScalarShape);
    y[0] =
        ops::mse_forward(pred.value().data(), target.value().data(), n, reduction, static_cast<T*>(nullptr));
  }
  return record(pred, std::move(y), {pred, target},
                [ip = pred.id(), it = target.id(), pv = pred.value(), tv = target.value(), n, reduction](
                    Tape<T>& tape, const Tensor<T>& dy) {
                  ops::mse_backward(pv.data(), tv.data(), n, reduction, dy.data(), tape.grad_ptr(ip),
                                    tape.grad_ptr(it));
                });
}

template <class T>
Var<T> dropout_with_mask(const Var<T>& x, const Tensor<T>& mask) {
  RECUR_CHECK(mask.shape() == x.shape(),
              fmt::format("dropout: mask {} does not match input {}", mask.shape().str(), x.shape().str()));
  Tensor<T> y = Tensor<T>::uninitialized(x.shape());  // every element is written
  ops::dropout_forward(x.value().data(), mask.data(), y.data(), y.numel());
  return record(x, std::move(y), {x}, [ix = x.id(), mask](Tape<T>& tape, const Tensor<T>& dy) {
    ops::dropout_backward(mask.data(), dy.data(), tape.grad_ptr(ix), dy.numel());
  });
}

template <class T>
Var<T> dropout(const Var<T>& x, T p, Rng& rng, bool training) {
  if (!training || p == T(0)) return x;
  Tensor<T> mask = Tensor<T>::uninitialized(x.shape());  // every element is drawn
  ops::dropout_mask(rng, p, mask.data(), mask.numel());
  return dropout_with_mask(x, mask);
}

template <class T>
Var<T> sum(const Var<T>& x) {
  Tensor<T> y(kScalarShape);
  y[0] = ops::sum_forward(x.value().data(), x.value().numel());
  return record(x, std::move(y), {x},
                [ix = x.id(), n = x.value().numel()](Tape<T>& tape, const Tensor<T>& dy) {
                  ops::sum_backward(dy[0], tape.grad_ptr(ix), n);
                });
}

template <class T>
Var<T> mean(const Var<T>& x) {
  Tensor<T> y(kScalarShape);
  y[0] = ops::mean_forward(x.value().data(), x.value().numel());
  return record(x, std::move(y), {x},
                [ix = x.id(), n = x.value().numel()](Tape<T>& tape, const Tensor<T>& dy) {
                  ops::mean_backward(dy[0], tape.grad_ptr(ix), n);
                });
}

#define RECUR_INSTANTIATE_FUNCTIONS(T)                                                    \
  template Var<T> add<T>(const Var<T>&, const Var<T>&);                                   \
  template Var<T> sub<T>(const Var<T>&, const Var<T>&);                                   \
  template Var<T> mul<T>(const Var<T>&, const Var<T>&);                                   \
  template Var<T> scale<T>(const Var<T>&, T);                                             \
  template Var<T> tanh<T>(const Var<T>&);                                                 \
  template Var<T> sigmoid<T>(const Var<T>&);                                              \
  template Var<T> relu<T>(const Var<T>&);                                                 \
  template Var<T> add_bias<T>(const Var<T>&, const Var<T>&);                              \
  template Var<T> matmul<T>(const Var<T>&, const Var<T>&);                                \
  template Var<T> linear<T>(const Var<T>&, const Var<T>&, const Var<T>&);                 \
  template Var<T> reshape<T>(const Var<T>&, const Shape&);                                \
  template Var<T> concat<T>(const std::vector<Var<T>>&, int);                             \
  template Var<T> slice<T>(const Var<T>&, int, index_t, index_t);                         \
  template std::vector<Var<T>> split<T>(const Var<T>&, int, const std::vector<index_t>&); \
  template Var<T> embedding<T>(const Var<T>&, std::vector<std::int32_t>);                 \
  template Var<T> softmax<T>(const Var<T>&);                                              \
  template Var<T> log_softmax<T>(const Var<T>&);                                          \
  template Var<T> cross_entropy<T>(const Var<T>&, std::vector<std::int32_t>,              \
                                   const ops::CrossEntropyOptions&, std::vector<T>);      \
  template Var<T> mse<T>(const Var<T>&, const Var<T>&, ops::Reduction);                   \
  template Var<T> dropout<T>(const Var<T>&, T, Rng&, bool);                               \
  template Var<T> dropout_with_mask<T>(const Var<T>&, const Tensor<T>&);                  \
  template Var<T> sum<T>(const Var<T>&);                                                  \
  template Var<T> mean<T>(const Var<T>&);
RECUR_INSTANTIATE_FUNCTIONS(float)
RECUR_INSTANTIATE_FUNCTIONS(double)

}  // namespace recur::ag
