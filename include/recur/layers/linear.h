// Linear<T>: an affine map (PyTorch's nn.Linear), on the tape.
//
//   x (N, I) → y (N, O) = x · Wᵀ + b          `<prefix>weight` (O, I), `<prefix>bias` (O)
//
// The parameters live in a ParameterTable the caller owns (registered by the constructor, filled
// by init() once the owner has frozen it), under PyTorch's state_dict names: with prefix "decoder."
// they are decoder.weight and decoder.bias. A tied layer (Linear::tied) takes another module's
// (O, I) matrix as its weight, such as an embedding table for a language model's output layer
// (Press & Wolf 2017): it registers only its bias, and both uses add into the one gradient.
#pragma once

#include <string>

#include "recur/autograd/tape.h"
#include "recur/nn/parameters.h"
#include "recur/rng.h"

namespace recur::layers {

template <class T>
class Linear {
 public:
  Linear(nn::ParameterTable<T>& params, const std::string& prefix, index_t in_features, index_t out_features,
         bool bias = true);
  // weight_id: an (out_features, in_features) parameter of the same table.
  static Linear tied(nn::ParameterTable<T>& params, const std::string& prefix, int weight_id,
                     bool bias = true);

  // PyTorch's default: the weight (unless tied), then the bias, each U(±1/√in_features).
  void init(Rng& rng) const;

  // x: (…, I) → (…, O), the leading dims flattened to N rows. The backward pass is ops::linear_backward:
  //   dx += dy · W,  dW += dyᵀ · x,  db += Σ_n dy[n]
  ag::Var<T> forward(const ag::Var<T>& x) const;

  index_t in_features() const { return in_; }
  index_t out_features() const { return out_; }
  bool is_tied() const { return tied_; }
  int weight_id() const { return weight_; }
  int bias_id() const { return bias_; }  // -1 without a bias

 private:
  Linear() = default;
  nn::ParameterTable<T>* params_ = nullptr;
  index_t in_ = 0, out_ = 0;
  int weight_ = -1, bias_ = -1;
  bool tied_ = false;
};

extern template class Linear<float>;
extern template class Linear<double>;

}  // namespace recur::layers
