#include "recur/data/ngram.h"

#include <fmt/format.h>

#include <cmath>

#include "recur/common.h"

namespace recur::data {

NgramFloors ngram_floors(const std::vector<std::int32_t>& train, const std::vector<std::int32_t>& held_out,
                         std::int32_t V) {
  RECUR_CHECK(V >= 1 && held_out.size() >= 2,
              fmt::format("n-gram floors need a vocabulary and 2 held-out tokens (V = {}, {} tokens)", V,
                          held_out.size()));
  const auto v = static_cast<size_t>(V);
  std::vector<double> unigram(v, 0.0), first(v, 0.0), pair(v * v, 0.0);
  for (size_t i = 0; i < train.size(); ++i) {
    const auto a = static_cast<size_t>(train[i]);
    unigram[a] += 1;
    if (i + 1 < train.size()) {
      first[a] += 1;
      pair[a * v + static_cast<size_t>(train[i + 1])] += 1;
    }
  }
  const double n = static_cast<double>(train.size());
  NgramFloors f;
  for (std::int32_t t : held_out) f.unigram -= std::log((unigram[static_cast<size_t>(t)] + 1) / (n + V));
  f.unigram /= static_cast<double>(held_out.size());
  for (size_t i = 0; i + 1 < held_out.size(); ++i) {
    const auto a = static_cast<size_t>(held_out[i]), b = static_cast<size_t>(held_out[i + 1]);
    f.bigram -= std::log((pair[a * v + b] + 1) / (first[a] + V));
  }
  f.bigram /= static_cast<double>(held_out.size() - 1);
  return f;
}

}  // namespace recur::data
