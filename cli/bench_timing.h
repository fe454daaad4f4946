// Timing for recur bench: repetitions after a warm-up, and their median and spread.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace recur::cli {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Stats {
  double median = 0, min = 0, max = 0;
};

inline Stats stats_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v.front(), v.back()};
}

// Runs `work` (one unit of `tokens` tokens) repeatedly: one warm-up repetition, then `reps`
// repetitions of at least `min_time` seconds each. Returns tokens per second per repetition.
template <class Work>
std::vector<double> measure(int reps, double min_time, double tokens, Work&& work) {
  std::vector<double> rates;
  for (int r = -1; r < reps; ++r) {
    const auto start = Clock::now();
    long units = 0;
    do {
      work();
      ++units;
    } while (seconds_since(start) < (r < 0 ? min_time / 4 : min_time));
    if (r >= 0) rates.push_back(double(units) * tokens / seconds_since(start));
  }
  return rates;
}

// The same for work whose units differ in size: `work` returns the tokens it processed.
template <class Work>
std::vector<double> measure_varying(int reps, double min_time, Work&& work) {
  std::vector<double> rates;
  for (int r = -1; r < reps; ++r) {
    const auto start = Clock::now();
    double tokens = 0;
    do {
      tokens += work();
    } while (seconds_since(start) < (r < 0 ? min_time / 4 : min_time));
    if (r >= 0) rates.push_back(tokens / seconds_since(start));
  }
  return rates;
}

}  // namespace recur::cli
