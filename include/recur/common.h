// Basic types and the error type every recur API throws.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace recur {

using index_t = std::int64_t;  // every dimension and element count

// Thrown for bad input (wrong shape, bad file, out-of-range id). The message names the culprit.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The message of a JSON library exception for a user: without its tag ("[json.exception.
// parse_error.101] "), and at most `max` bytes (more ends in "…"): "parse error at line 1, column 6:
// syntax error while parsing value - unexpected end of input; …".
inline std::string json_error_text(std::string_view what, size_t max = 200) {
  if (what.rfind("[json.exception.", 0) == 0) {
    const size_t end = what.find("] ");
    if (end != std::string_view::npos) what.remove_prefix(end + 2);
  }
  return what.size() <= max ? std::string(what) : std::string(what.substr(0, max)) + "…";
}

// RECUR_CHECK(cond, msg): an internal invariant or an API precondition; throws recur::Error with
// msg, the source location and the condition when cond is false.
// RECUR_REQUIRE(cond, msg): a condition a user's input can break (a file, a flag, a config value);
// throws recur::Error with msg alone, which must name the input and say what is wrong.
// msg is any expression convertible to std::string; it is only evaluated on failure.
#define RECUR_CHECK(cond, msg)                                                              \
  do {                                                                                      \
    if (!(cond)) ::recur::detail::throw_error(__FILE__, __LINE__, #cond, std::string(msg)); \
  } while (0)
#define RECUR_REQUIRE(cond, msg)                         \
  do {                                                   \
    if (!(cond)) throw ::recur::Error(std::string(msg)); \
  } while (0)

namespace detail {
[[noreturn]] void throw_error(const char* file, int line, const char* cond, const std::string& msg);
}  // namespace detail

}  // namespace recur
