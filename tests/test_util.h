// Shared test helpers: element-wise comparison that reports the worst element, its index, and the
// tolerance, so a failure says where and by how much.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "recur/ops/gemm.h"
#include "recur/rng.h"
#include "recur/tensor.h"
#include "recur/threads.h"

namespace recur::testing {

// Machine epsilon of T as a double (1.19e-7 for float, 2.2e-16 for double).
template <class T>
constexpr double eps_of() {
  return static_cast<double>(std::numeric_limits<T>::epsilon());
}

// The message of the recur::Error that f() throws ("" when it throws nothing).
template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Passes iff f() throws recur::Error whose message contains every one of `parts`.
template <class F>
::testing::AssertionResult throws_error_with(F&& f, std::initializer_list<std::string_view> parts) {
  try {
    f();
  } catch (const Error& e) {
    const std::string message = e.what();
    for (std::string_view part : parts)
      if (message.find(part) == std::string::npos)
        return ::testing::AssertionFailure()
               << "message \"" << message << "\" does not mention \"" << part << "\"";
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-recur exception: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

// Sets recur's thread count for a scope and restores it at exit, even when an assertion fails.
class ThreadCountGuard {
 public:
  explicit ThreadCountGuard(int n) : saved_(num_threads()) { set_num_threads(n); }
  ~ThreadCountGuard() { set_num_threads(saved_); }
  ThreadCountGuard(const ThreadCountGuard&) = delete;
  ThreadCountGuard& operator=(const ThreadCountGuard&) = delete;

 private:
  int saved_;
};

// A row-major (rows, cols) matrix of U(-1, 1) values stored with leading dimension ld ≥ cols; the
// padding holds `pad_value`.
template <class T>
std::vector<T> random_matrix(Rng& rng, index_t rows, index_t cols, index_t ld, T pad_value) {
  std::vector<T> m(static_cast<size_t>(std::max<index_t>(rows * ld, 1)), pad_value);
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j) m[static_cast<size_t>(i * ld + j)] = rng.uniform<T>(T(-1), T(1));
  return m;
}

inline const char* trans_name(Trans t) {
  return t == Trans::kYes ? "T" : "N";
}

// Passes iff |actual_i - expected_i| <= atol + rtol · |expected_i| for every i.
template <class A, class E>
::testing::AssertionResult all_close(const A* actual, const E* expected, index_t n, double atol,
                                     double rtol) {
  double worst_ratio = -1, worst_error = 0, worst_allowed = 0;
  index_t worst = -1;
  for (index_t i = 0; i < n; ++i) {
    const double a = static_cast<double>(actual[i]), e = static_cast<double>(expected[i]);
    const double error = std::abs(a - e), allowed = atol + rtol * std::abs(e);
    double ratio = allowed > 0 ? error / allowed : (error == 0 ? 0.0 : INFINITY);  // NaN error: INFINITY
    if (a == e || (std::isnan(a) && std::isnan(e))) ratio = 0;  // equal, including equal infinities
    if (std::isnan(ratio)) ratio = INFINITY;                    // one side NaN or inf
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      worst = i;
      worst_error = error;
      worst_allowed = allowed;
    }
  }
  const bool ok = worst_ratio <= 1;
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "max error " << worst_error << " at index " << worst << " (actual "
         << static_cast<double>(actual[worst]) << ", expected " << static_cast<double>(expected[worst])
         << "), tolerance " << worst_allowed << " = atol " << atol << " + rtol " << rtol << " * |expected|";
}

template <class A, class E>
::testing::AssertionResult all_close(const std::vector<A>& actual, const std::vector<E>& expected,
                                     double atol, double rtol) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "sizes differ: " << actual.size() << " vs " << expected.size();
  return all_close(actual.data(), expected.data(), static_cast<index_t>(actual.size()), atol, rtol);
}

template <class A, class E>
::testing::AssertionResult all_close(const Tensor<A>& actual, const Tensor<E>& expected, double atol,
                                     double rtol) {
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure()
           << "shapes differ: " << actual.shape().str() << " vs " << expected.shape().str();
  return all_close(actual.data(), expected.data(), actual.numel(), atol, rtol);
}

}  // namespace recur::testing
