#include "recur/data/ngram.h"

#include <fmt/format.h>

#include <cmath>
#include <unordered_map>

#include "recur/common.h"

namespace recur::data {

NgramFloors ngram_floors(const std::vector<std::int32_t>& train, const std::vector<std::int32_t>& held_out,
                         std::int32_t V) {
  RECUR_CHECK(V >= 1 && held_out.size() >= 2,
              fmt::format("n-gram floors need a vocabulary and 2 held-out tokens (V = {}, {} tokens)", V,
                          held_out.size()));
  const auto v = static_cast<size_t>(V);
  // Pairs in a hash map: a word vocabulary's V² table (10k² doubles = 800 MB) would not fit.
  std::vector<double> unigram(v, 0.0), first(v, 0.0);
  std::unordered_map<std::uint64_t, double> pair;
  const auto key = [v](size_t a, size_t b) { return static_cast<std::uint64_t>(a * v + b); };
  for (size_t i = 0; i < train.size(); ++i) {
    const auto a = static_cast<size_t>(train[i]);
    unigram[a] += 1;
    if (i + 1 < train.size()) {
      first[a] += 1;
      pair[key(a, static_cast<size_t>(train[i + 1]))] += 1;
    }
  }
  const double n = static_cast<double>(train.size());
  NgramFloors f;
  for (std::int32_t t : held_out) f.unigram -= std::log((unigram[static_cast<size_t>(t)] + 1) / (n + V));
  f.unigram /= static_cast<double>(held_out.size());
  for (size_t i = 0; i + 1 < held_out.size(); ++i) {
    const auto a = static_cast<size_t>(held_out[i]), b = static_cast<size_t>(held_out[i + 1]);
    const auto found = pair.find(key(a, b));
    f.bigram -= std::log(((found == pair.end() ? 0.0 : found->second) + 1) / (first[a] + V));
  }
  f.bigram /= static_cast<double>(held_out.size() - 1);
  return f;
}

}  // namespace recur::data
