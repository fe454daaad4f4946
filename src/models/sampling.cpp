#include "recur/models/sampling.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace recur::models {

void validate(const SamplingOptions& o) {
  RECUR_REQUIRE(
      o.temperature > 0.0 && std::isfinite(o.temperature),
      fmt::format("--temperature must be positive and finite (--argmax for greedy decoding), got {}",
                  o.temperature));
  RECUR_REQUIRE(o.top_k >= 0, fmt::format("--top-k must be ≥ 0 (0 keeps all tokens), got {}", o.top_k));
  RECUR_REQUIRE(o.top_p > 0.0 && o.top_p <= 1.0, fmt::format("--top-p must be in (0, 1], got {}", o.top_p));
}

template <class T>
std::int32_t sample_token(const T* logits, index_t V, const SamplingOptions& o, Rng& rng) {
  validate(o);
  RECUR_CHECK(V >= 1, "sampling from an empty vocabulary");
  for (index_t i = 0; i < V; ++i)
    RECUR_CHECK(std::isfinite(static_cast<double>(logits[i])),
                fmt::format("sampling: logit {} of token {} is not finite (a diverged model?)",
                            static_cast<double>(logits[i]), i));
  if (o.argmax) return static_cast<std::int32_t>(std::max_element(logits, logits + V) - logits);
  // Candidates sorted by probability, most likely first (lower id first among equals).
  std::vector<std::int32_t> order(static_cast<size_t>(V));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::int32_t a, std::int32_t b) { return logits[a] > logits[b]; });
  size_t keep = order.size();
  if (o.top_k > 0) keep = std::min(keep, static_cast<size_t>(o.top_k));
  const double top = static_cast<double>(logits[order[0]]);
  std::vector<double> p(keep);
  double total = 0;
  for (size_t i = 0; i < keep; ++i)
    total += p[i] = std::exp((static_cast<double>(logits[order[i]]) - top) / o.temperature);
  if (o.top_p < 1.0) {
    double mass = 0;
    size_t n = 0;
    while (n < keep && mass < o.top_p * total) mass += p[n++];
    keep = std::max<size_t>(n, 1);
    total = 0;
    for (size_t i = 0; i < keep; ++i) total += p[i];
  }
  const double u = rng.uniform_double() * total;
  double cumulative = 0;
  for (size_t i = 0; i < keep; ++i) {
    cumulative += p[i];
    if (u < cumulative) return order[i];
  }
  return order[keep - 1];  // u rounded up to the total
}

template std::int32_t sample_token<float>(const float*, index_t, const SamplingOptions&, Rng&);
template std::int32_t sample_token<double>(const double*, index_t, const SamplingOptions&, Rng&);

}  // namespace recur::models
