#include "recur/layers/linear.h"

#include <fmt/format.h>

#include <cmath>

#include "recur/autograd/functions.h"
#include "recur/init.h"

namespace recur::layers {

template <class T>
Linear<T>::Linear(nn::ParameterTable<T>& params, const std::string& prefix, index_t in_features,
                  index_t out_features, bool bias)
    : params_(&params), in_(in_features), out_(out_features) {
  RECUR_CHECK(in_ >= 1 && out_ >= 1,
              fmt::format("linear {}: {} in and {} out features (need at least 1 each)", prefix, in_, out_));
  weight_ = params.add(prefix + "weight", Shape{out_, in_});
  if (bias) bias_ = params.add(prefix + "bias", Shape{out_});
}

template <class T>
Linear<T> Linear<T>::tied(nn::ParameterTable<T>& params, const std::string& prefix, int weight_id,
                          bool bias) {
  const auto& shared = params.entry(weight_id);
  RECUR_CHECK(shared.shape.rank() == 2, fmt::format("linear {}: the tied weight {} must be a matrix, is {}",
                                                    prefix, shared.name, shared.shape.str()));
  Linear l;
  l.params_ = &params;
  l.out_ = shared.shape[0];
  l.in_ = shared.shape[1];
  l.weight_ = weight_id;
  l.tied_ = true;
  if (bias) l.bias_ = params.add(prefix + "bias", Shape{l.out_});
  return l;
}

template <class T>
void Linear<T>::init(Rng& rng) const {
  const T k = T(1) / std::sqrt(T(in_));
  if (!tied_) {
    Tensor<T> w = params_->value(weight_);
    init::uniform(w, -k, k, rng);
  }
  if (bias_ >= 0) {
    Tensor<T> b = params_->value(bias_);
    init::uniform(b, -k, k, rng);
  }
}

template <class T>
ag::Var<T> Linear<T>::forward(const ag::Var<T>& x) const {
  ag::Tape<T>& tape = x.tape();
  return ag::linear(x, ag::param(tape, *params_, weight_),
                    bias_ >= 0 ? ag::param(tape, *params_, bias_) : ag::Var<T>());
}

template class Linear<float>;
template class Linear<double>;

}  // namespace recur::layers
