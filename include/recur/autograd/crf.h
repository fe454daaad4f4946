// The linear-chain CRF (ops/crf.h) on the tape: its loss with gradients to the emissions, the
// transitions and the start and end scores, and Viterbi decoding.
#pragma once

#include <cstdint>
#include <vector>

#include "recur/autograd/tape.h"

namespace recur::ag {

// Σ_b −log p(tags of sentence b): emissions (T, B, K) time-major, transitions (K, K) [from, to],
// start and end (K); tags (T, B) (entries past a sentence's length are ignored); lengths (B), each
// in [1, T]. A scalar: divide by the number of words for a loss per word.
template <class T>
Var<T> crf_nll(const Var<T>& emissions, const Var<T>& transitions, const Var<T>& start, const Var<T>& end,
               std::vector<std::int32_t> tags, std::vector<index_t> lengths);

// The best tags (T, B) of each sentence, -1 past its length.
template <class T>
std::vector<std::int32_t> crf_decode(const Tensor<T>& emissions, const Tensor<T>& transitions,
                                     const Tensor<T>& start, const Tensor<T>& end,
                                     const std::vector<index_t>& lengths);

}  // namespace recur::ag
