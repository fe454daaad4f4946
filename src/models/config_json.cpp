#include "recur/models/config_json.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

namespace recur::models {

namespace {

const nlohmann::json& required(const nlohmann::json& config, const char* key, std::string_view source) {
  const auto it = config.find(key);
  RECUR_REQUIRE(it != config.end(), fmt::format("{}: recur.config has no \"{}\"", source, key));
  return *it;
}

}  // namespace

index_t config_integer(const nlohmann::json& config, const char* key, index_t lo, index_t hi,
                       std::string_view source) {
  const nlohmann::json& v = required(config, key, source);
  // Unsigned JSON integers above 2^63 and floats (2.7, 1e9) are not exact index_t values.
  RECUR_REQUIRE(
      v.is_number_integer() && (v.is_number_unsigned() ? v.get<std::uint64_t>() <= std::uint64_t(hi) : true),
      fmt::format("{}: recur.config \"{}\" must be an integer in [{}, {}], got {}", source, key, lo, hi,
                  v.dump()));
  const auto value = v.get<std::int64_t>();
  RECUR_REQUIRE(value >= lo && value <= hi,
                fmt::format("{}: recur.config \"{}\" must be an integer in [{}, {}], got {}", source, key, lo,
                            hi, v.dump()));
  return value;
}

double config_number(const nlohmann::json& config, const char* key, double lo, double hi,
                     std::string_view source) {
  const nlohmann::json& v = required(config, key, source);
  RECUR_REQUIRE(v.is_number() && v.get<double>() >= lo && v.get<double>() <= hi,
                fmt::format("{}: recur.config \"{}\" must be a number in [{}, {}], got {}", source, key, lo,
                            hi, v.dump()));
  return v.get<double>();
}

double config_number(const nlohmann::json& config, const char* key, double lo, double hi,
                     std::string_view source, double fallback) {
  return config.contains(key) ? config_number(config, key, lo, hi, source) : fallback;
}

nlohmann::json config_object(std::string_view text, std::string_view source) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  RECUR_REQUIRE(!j.is_discarded(), fmt::format("{}: recur.config is not valid JSON", source));
  RECUR_REQUIRE(j.is_object(), fmt::format("{}: recur.config must be a JSON object", source));
  return j;
}

}  // namespace recur::models
