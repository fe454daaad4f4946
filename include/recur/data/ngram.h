// The floors a language model must beat: add-one (Laplace) unigram and bigram models fitted
// on training tokens, scored on held-out tokens as mean negative log-likelihood in nats. On
// tiny-shakespeare with nanoGPT's split (first 90% / last 10%) these are 3.347 and 2.482.
#pragma once

#include <cmath>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace recur::data {

struct NgramFloors {
  double unigram = 0;
  double bigram = 0;
};

// train, held_out: token ids in [0, V), any sequence with size() and operator[] (a vector, or a
// split of a long stream read in place: data::SplitTokens); held_out needs at least 2 tokens.
template <class Train, class HeldOut>
NgramFloors ngram_floors(const Train& train, const HeldOut& held_out, std::int32_t V);

NgramFloors ngram_floors(const std::vector<std::int32_t>& train, const std::vector<std::int32_t>& held_out,
                         std::int32_t V);

namespace detail {
void check_floor_inputs(std::int32_t V, std::int64_t held_out);
}

template <class Train, class HeldOut>
NgramFloors ngram_floors(const Train& train, const HeldOut& held_out, std::int32_t V) {
  const auto n_train = static_cast<std::int64_t>(train.size()),
             n_held = static_cast<std::int64_t>(held_out.size());
  detail::check_floor_inputs(V, n_held);
  const auto v = static_cast<size_t>(V);
  // Pairs in a hash map: a word vocabulary's V² table (10k² doubles = 800 MB) would not fit.
  std::vector<double> unigram(v, 0.0), first(v, 0.0);
  std::unordered_map<std::uint64_t, double> pair;
  const auto key = [v](size_t a, size_t b) { return static_cast<std::uint64_t>(a * v + b); };
  size_t previous = 0;
  for (std::int64_t i = 0; i < n_train; ++i) {
    const auto a = static_cast<size_t>(train[i]);
    unigram[a] += 1;
    if (i > 0) {
      first[previous] += 1;
      pair[key(previous, a)] += 1;
    }
    previous = a;
  }
  const double n = static_cast<double>(n_train);
  NgramFloors f;
  for (std::int64_t i = 0; i < n_held; ++i)
    f.unigram -= std::log((unigram[static_cast<size_t>(held_out[i])] + 1) / (n + V));
  f.unigram /= static_cast<double>(n_held);
  for (std::int64_t i = 0; i + 1 < n_held; ++i) {
    const auto a = static_cast<size_t>(held_out[i]), b = static_cast<size_t>(held_out[i + 1]);
    const auto found = pair.find(key(a, b));
    f.bigram -= std::log(((found == pair.end() ? 0.0 : found->second) + 1) / (first[a] + V));
  }
  f.bigram /= static_cast<double>(n_held - 1);
  return f;
}

}  // namespace recur::data
