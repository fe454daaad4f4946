// The floors a language model must beat: add-one (Laplace) unigram and bigram models fitted
// on training tokens, scored on held-out tokens as mean negative log-likelihood in nats. On
// tiny-shakespeare with nanoGPT's split (first 90% / last 10%) these are 3.347 and 2.482.
#pragma once

#include <cstdint>
#include <vector>

namespace recur::data {

struct NgramFloors {
  double unigram = 0;
  double bigram = 0;
};

// train, held_out: token ids in [0, V); held_out needs at least 2 tokens.
NgramFloors ngram_floors(const std::vector<std::int32_t>& train, const std::vector<std::int32_t>& held_out,
                         std::int32_t V);

}  // namespace recur::data
