// Embedding<T>: a table of V vectors of width E looked up by id (PyTorch's nn.Embedding), on the tape.
//
//   ids (N) in [0, V) → (N, E)          `<prefix>weight` (V, E)
//
// The table lives in a ParameterTable the caller owns (registered by the constructor, filled by
// init() once the owner has frozen it), so another module can share it: Linear::tied makes it a
// language model's output layer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "recur/autograd/tape.h"
#include "recur/nn/parameters.h"
#include "recur/rng.h"

namespace recur::layers {

template <class T>
class Embedding {
 public:
  Embedding(nn::ParameterTable<T>& params, const std::string& prefix, index_t num_embeddings,
            index_t embedding_dim);

  // PyTorch's default: N(0, 1).
  void init(Rng& rng) const;

  // ids: N tokens in [0, V) (an id outside is an error naming it) → (N, E). The backward pass is
  // ops::embedding_backward: dtable[ids[n]] += dy[n].
  ag::Var<T> forward(ag::Tape<T>& tape, const std::vector<std::int32_t>& ids) const;

  index_t num_embeddings() const { return num_; }
  index_t embedding_dim() const { return dim_; }
  int weight_id() const { return weight_; }

 private:
  nn::ParameterTable<T>* params_;
  index_t num_, dim_;
  int weight_ = -1;
};

extern template class Embedding<float>;
extern template class Embedding<double>;

}  // namespace recur::layers
