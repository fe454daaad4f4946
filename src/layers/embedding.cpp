#include "recur/layers/embedding.h"

#include <fmt/format.h>

#include "recur/autograd/functions.h"
#include "recur/init.h"

namespace recur::layers {

template <class T>
Embedding<T>::Embedding(nn::ParameterTable<T>& params, const std::string& prefix, index_t num_embeddings,
                        index_t embedding_dim)
    : params_(&params), num_(num_embeddings), dim_(embedding_dim) {
  RECUR_CHECK(num_ >= 1 && dim_ >= 1,
              fmt::format("embedding {}: a table of {} x {} (need at least 1 x 1)", prefix, num_, dim_));
  weight_ = params.add(prefix + "weight", Shape{num_, dim_});
}

template <class T>
void Embedding<T>::init(Rng& rng) const {
  Tensor<T> w = params_->value(weight_);
  init::normal(w, T(0), T(1), rng);
}

template <class T>
ag::Var<T> Embedding<T>::forward(ag::Tape<T>& tape, const std::vector<std::int32_t>& ids) const {
  return ag::embedding(ag::param(tape, *params_, weight_), ids);
}

template class Embedding<float>;
template class Embedding<double>;

}  // namespace recur::layers
