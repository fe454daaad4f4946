#include "recur/data/ngram.h"

#include <fmt/format.h>

#include "recur/common.h"

namespace recur::data {

void detail::check_floor_inputs(std::int32_t V, std::int64_t held_out) {
  RECUR_CHECK(
      V >= 1 && held_out >= 2,
      fmt::format("n-gram floors need a vocabulary and 2 held-out tokens (V = {}, {} tokens)", V, held_out));
}

NgramFloors ngram_floors(const std::vector<std::int32_t>& train, const std::vector<std::int32_t>& held_out,
                         std::int32_t V) {
  return ngram_floors<std::vector<std::int32_t>, std::vector<std::int32_t>>(train, held_out, V);
}

}  // namespace recur::data
