// Drawing the next token from a row of logits: temperature, top-k (Fan et al. 2018), top-p /
// nucleus (Holtzman et al. 2020), or argmax. Computed in double; ties between equal
// probabilities are broken toward the lower token id, so a seed fixes the draws.
#pragma once

#include <cstdint>

#include "recur/common.h"
#include "recur/rng.h"

namespace recur::models {

struct SamplingOptions {
  double temperature = 1.0;  // > 0; divides the logits
  int top_k = 0;             // keep the k most likely tokens; 0 keeps all
  double top_p = 1.0;        // keep the smallest set of most likely tokens with mass ≥ top_p; in (0, 1]
  bool argmax = false;       // always the most likely token (ignores the rest)
};

void validate(const SamplingOptions& options);

// logits: (V)
template <class T>
std::int32_t sample_token(const T* logits, index_t V, const SamplingOptions& options, Rng& rng);

}  // namespace recur::models
