#include "recur/autograd/crf.h"

#include <fmt/format.h>

#include "recur/ops/crf.h"

namespace recur::ag {

namespace {

ops::CrfShape crf_shape(const char* op, const Shape& emissions, const Shape& transitions, const Shape& start,
                        const Shape& end, size_t lengths) {
  RECUR_CHECK(emissions.rank() == 3,
              fmt::format("{}: emissions must be (T, B, K), got {}", op, emissions.str()));
  const ops::CrfShape s{emissions[0], emissions[1], emissions[2]};
  RECUR_CHECK(
      transitions == Shape({s.K, s.K}) && start == Shape({s.K}) && end == Shape({s.K}),
      fmt::format("{}: for {} tags, transitions must be ({}, {}) and start and end ({}); got {}, {}, {}", op,
                  s.K, s.K, s.K, s.K, transitions.str(), start.str(), end.str()));
  RECUR_CHECK(static_cast<index_t>(lengths) == s.B,
              fmt::format("{}: {} lengths for a batch of {}", op, lengths, s.B));
  return s;
}

}  // namespace

template <class T>
Var<T> crf_nll(const Var<T>& emissions, const Var<T>& transitions, const Var<T>& start, const Var<T>& end,
               std::vector<std::int32_t> tags, std::vector<index_t> lengths) {
  const ops::CrfShape s = crf_shape("crf_nll", emissions.shape(), transitions.shape(), start.shape(),
                                    end.shape(), lengths.size());
  RECUR_CHECK(static_cast<index_t>(tags.size()) == s.T * s.B,
              fmt::format("crf_nll: {} tags for (T {}, B {})", tags.size(), s.T, s.B));
  ops::CrfForwardState state;
  Tensor<T> y(Shape{1});
  y[0] = static_cast<T>(ops::crf_nll_forward(emissions.value().data(), transitions.value().data(),
                                             start.value().data(), end.value().data(), tags.data(),
                                             lengths.data(), s, state));
  return emissions.tape().record(
      std::move(y), std::vector<Var<T>>{emissions, transitions, start, end},
      [ie = emissions.id(), ia = transitions.id(), is = start.id(), iend = end.id(), E = emissions.value(),
       A = transitions.value(), tags = std::move(tags), lengths = std::move(lengths), s,
       state = std::move(state)](Tape<T>& tape, const Tensor<T>& dy) {
        ops::crf_nll_backward(E.data(), A.data(), tags.data(), lengths.data(), s, state, double(dy[0]),
                              tape.grad_ptr(ie), tape.grad_ptr(ia), tape.grad_ptr(is), tape.grad_ptr(iend));
      });
}

template <class T>
std::vector<std::int32_t> crf_decode(const Tensor<T>& emissions, const Tensor<T>& transitions,
                                     const Tensor<T>& start, const Tensor<T>& end,
                                     const std::vector<index_t>& lengths) {
  const ops::CrfShape s = crf_shape("crf_decode", emissions.shape(), transitions.shape(), start.shape(),
                                    end.shape(), lengths.size());
  std::vector<std::int32_t> tags(static_cast<size_t>(s.T * s.B));
  ops::crf_viterbi(emissions.data(), transitions.data(), start.data(), end.data(), lengths.data(), s,
                   tags.data());
  return tags;
}

#define RECUR_INSTANTIATE_CRF_AG(T)                                                                      \
  template Var<T> crf_nll<T>(const Var<T>&, const Var<T>&, const Var<T>&, const Var<T>&,                 \
                             std::vector<std::int32_t>, std::vector<index_t>);                           \
  template std::vector<std::int32_t> crf_decode<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, \
                                                   const Tensor<T>&, const std::vector<index_t>&);
RECUR_INSTANTIATE_CRF_AG(float)
RECUR_INSTANTIATE_CRF_AG(double)

}  // namespace recur::ag
