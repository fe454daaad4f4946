// Basic types and the error type every recur API throws.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace recur {

using index_t = std::int64_t;  // every dimension and element count

// Thrown for bad input (wrong shape, bad file, out-of-range id). The message names the culprit.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// RECUR_CHECK(cond, msg): throws recur::Error with the location and msg when cond is false.
// msg is any expression convertible to std::string; it is only evaluated on failure.
#define RECUR_CHECK(cond, msg)                                                              \
  do {                                                                                      \
    if (!(cond)) ::recur::detail::throw_error(__FILE__, __LINE__, #cond, std::string(msg)); \
  } while (0)

namespace detail {
[[noreturn]] void throw_error(const char* file, int line, const char* cond, const std::string& msg);
}  // namespace detail

}  // namespace recur
