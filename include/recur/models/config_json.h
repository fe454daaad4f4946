// Reading a model config from a checkpoint's recur.config, which is input, not truth: every value
// must have the exact type and lie in the range the command line accepts, or the error names the
// file and the key. Nothing is sized from a value before it passed.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string_view>

#include "recur/common.h"

namespace recur::models {

// The ranges the CLI's flags accept, shared by configs written by hand, flags and checkpoints.
inline constexpr index_t kMaxLayers = 64;
inline constexpr index_t kMaxWidth = index_t{1} << 16;       // hidden, embedding sizes
inline constexpr index_t kMaxVocabulary = index_t{1} << 24;  // tokens
inline constexpr index_t kMaxWindow = index_t{1} << 10;      // the window model's context
inline constexpr double kMaxDropout = 0.99;

// The integer under `key` (required): a JSON integer (not 2.7, not "2") in [lo, hi].
index_t config_integer(const nlohmann::json& config, const char* key, index_t lo, index_t hi,
                       std::string_view source);
// The number under `key` in [lo, hi]; `fallback` when the key is absent and fallback is given.
double config_number(const nlohmann::json& config, const char* key, double lo, double hi,
                     std::string_view source);
double config_number(const nlohmann::json& config, const char* key, double lo, double hi,
                     std::string_view source, double fallback);
// The parsed recur.config: a JSON object, or an error naming the file.
nlohmann::json config_object(std::string_view text, std::string_view source);

}  // namespace recur::models
