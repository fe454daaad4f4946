#include "recur/train/loss_plot.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "recur/common.h"

namespace recur::train {
namespace {

// Plot area inside the kWidth × kHeight canvas.
constexpr double kLeft = 72, kRight = 24, kTop = 44, kBottom = 56;
constexpr int kTargetTicks = 6;
constexpr int kMaxTicks = 40;  // a guard; nice steps give 4–12
constexpr const char* kTrainColor = "#1f77b4";
constexpr const char* kValColor = "#d62728";

// A "nice" step (1, 2 or 5 × 10^k) that cuts `span` into about `target` parts.
double nice_step(double span, int target) {
  const double raw = span / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / magnitude;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
}

// Escapes text for XML content and attribute values; drops control characters XML 1.0 forbids.
std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n' || c == '\r') out += c;
    }
  }
  return out;
}

std::vector<PlotPoint> finite_points(const std::vector<PlotPoint>& points) {
  std::vector<PlotPoint> out;
  out.reserve(points.size());
  for (const PlotPoint& p : points)
    if (std::isfinite(p.loss)) out.push_back(p);
  return out;
}

}  // namespace

struct LossPlot::Layout {
  std::vector<PlotPoint> train, val;                       // what is drawn: finite, train downsampled
  std::vector<std::pair<double, std::string>> references;  // the ones inside the range
  double x0 = 0, x1 = 1, x_step = 0.2;                     // x axis range and tick step
  double y0 = 0, y1 = 1, y_step = 0.2;

  double px(double tokens) const { return kLeft + (tokens - x0) / (x1 - x0) * (kWidth - kLeft - kRight); }
  double py(double loss) const {
    const double t = std::clamp((loss - y0) / (y1 - y0), 0.0, 1.0);
    return kHeight - kBottom - t * (kHeight - kTop - kBottom);
  }
};

LossPlot::LossPlot(std::string title, std::size_t max_train_points)
    : title_(std::move(title)), max_train_points_(max_train_points) {
  RECUR_CHECK(max_train_points_ >= 2,
              fmt::format("LossPlot: max_train_points must be >= 2, got {}", max_train_points_));
}

void LossPlot::add_train(double tokens, double loss) {
  RECUR_CHECK(std::isfinite(tokens),
              fmt::format("LossPlot::add_train: tokens must be finite, got {}", tokens));
  train_.push_back({tokens, loss});
}

void LossPlot::add_val(double tokens, double loss) {
  RECUR_CHECK(std::isfinite(tokens), fmt::format("LossPlot::add_val: tokens must be finite, got {}", tokens));
  val_.push_back({tokens, loss});
}

void LossPlot::add_reference_line(double value, std::string label) {
  RECUR_CHECK(std::isfinite(value),
              fmt::format("LossPlot::add_reference_line: value must be finite, got {} ({})", value, label));
  references_.emplace_back(value, std::move(label));
}

std::vector<PlotPoint> LossPlot::downsample(std::span<const PlotPoint> points, std::size_t max_points) {
  RECUR_CHECK(max_points >= 1, "LossPlot::downsample: max_points must be >= 1");
  const std::size_t n = points.size();
  if (n <= max_points) return {points.begin(), points.end()};
  const std::size_t run = (n + max_points - 1) / max_points;
  std::vector<PlotPoint> out;
  out.reserve((n + run - 1) / run);
  for (std::size_t begin = 0; begin < n; begin += run) {
    const std::size_t end = std::min(n, begin + run);
    double tokens = 0, loss = 0;
    for (std::size_t i = begin; i < end; ++i) tokens += points[i].tokens, loss += points[i].loss;
    const auto count = static_cast<double>(end - begin);
    out.push_back({tokens / count, loss / count});
  }
  return out;
}

std::string LossPlot::format_tokens(double tokens) {
  const double a = std::abs(tokens) * (1 + 1e-9);  // 999999.9999 from 5 × 0.2e6 is 1M, not 1000k
  double scale = 1;
  const char* suffix = "";
  if (a >= 1e12) {
    scale = 1e12, suffix = "T";
  } else if (a >= 1e9) {
    scale = 1e9, suffix = "G";
  } else if (a >= 1e6) {
    scale = 1e6, suffix = "M";
  } else if (a >= 1e3) {
    scale = 1e3, suffix = "k";
  }
  double v = tokens / scale;
  if (std::abs(v) < 5e-13) v = 0;  // no "-0"
  return fmt::format("{:.4g}{}", v, suffix);
}

LossPlot::Layout LossPlot::layout() const {
  Layout l;
  l.train = downsample(finite_points(train_), max_train_points_);
  l.val = finite_points(val_);

  // x: from 0 (or below) to the largest token count, rounded up to a tick.
  double x_min = 0, x_max = 0;
  for (const auto* series : {&l.train, &l.val})
    for (const PlotPoint& p : *series) x_min = std::min(x_min, p.tokens), x_max = std::max(x_max, p.tokens);
  if (!(x_max - x_min > 0) || !std::isfinite(x_max - x_min)) x_max = x_min + 1;
  l.x_step = nice_step(x_max - x_min, kTargetTicks);
  l.x0 = std::floor(x_min / l.x_step) * l.x_step;
  l.x1 = std::ceil(x_max / l.x_step) * l.x_step;

  // y: lowest loss to a percentile-limited highest loss, widened for crossed reference lines.
  std::vector<double> losses;
  losses.reserve(l.train.size() + l.val.size());
  for (const auto* series : {&l.train, &l.val})
    for (const PlotPoint& p : *series) losses.push_back(p.loss);
  double lo = 0, hi = 1, data_max = INFINITY;
  if (!losses.empty()) {
    const auto [min_it, max_it] = std::minmax_element(losses.begin(), losses.end());
    lo = *min_it;
    data_max = *max_it;
    auto q_it = losses.begin() + static_cast<long>(0.95 * static_cast<double>(losses.size() - 1));
    std::nth_element(losses.begin(), q_it, losses.end());
    hi = std::min(data_max, *q_it + (*q_it - lo) / 2);
  }
  bool first = losses.empty();
  for (const auto& [value, label] : references_) {
    if (value > data_max) continue;
    l.references.emplace_back(value, label);
    lo = first ? value : std::min(lo, value);
    hi = first ? value : std::max(hi, value);
    first = false;
  }
  if (!(hi - lo > 0) || !std::isfinite(hi - lo)) {  // one value (or none): a unit around it
    const double mid = std::isfinite(lo) ? lo : 0;
    lo = mid - 0.5, hi = mid + 0.5;
  }
  const double pad = 0.03 * (hi - lo);
  const bool non_negative = lo >= 0;
  lo -= pad, hi += pad;
  l.y_step = nice_step(hi - lo, kTargetTicks);
  l.y0 = std::floor(lo / l.y_step) * l.y_step;
  l.y1 = std::ceil(hi / l.y_step) * l.y_step;
  if (non_negative && l.y0 < 0) l.y0 = 0;  // a loss axis need not go below 0
  return l;
}

std::pair<double, double> LossPlot::y_range() const {
  const Layout l = layout();
  return {l.y0, l.y1};
}

std::string LossPlot::svg() const {
  const Layout l = layout();
  const double left = kLeft, right = kWidth - kRight, top = kTop, bottom = kHeight - kBottom;
  std::string s;
  s.reserve(4096 + 16 * (l.train.size() + 3 * l.val.size()));
  auto out = std::back_inserter(s);

  fmt::format_to(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  fmt::format_to(
      out,
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n",
      kWidth, kHeight);
  fmt::format_to(out, "<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"white\"/>\n", kWidth, kHeight);
  fmt::format_to(out, "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"16\">{}</text>\n", left, top - 12,
                 xml_escape(title_));

  // Grid, tick marks and tick labels. Ticks are integer multiples of the step, so no drift.
  const auto first_tick = [](double from, double step) {
    return static_cast<long>(std::ceil(from / step - 1e-9));
  };
  std::string labels;
  auto label_out = std::back_inserter(labels);
  fmt::format_to(out, "<g stroke=\"#e6e6e6\" stroke-width=\"1\">\n");
  for (long k = first_tick(l.x0, l.x_step), n = 0; k * l.x_step <= l.x1 + 1e-9 * l.x_step && n < kMaxTicks;
       ++k, ++n) {
    const double x = l.px(static_cast<double>(k) * l.x_step);
    fmt::format_to(out, "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\"/>\n", x, top,
                   bottom);
    fmt::format_to(label_out,
                   "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#333\"/>\n", x,
                   bottom, bottom + 5);
    fmt::format_to(label_out, "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", x,
                   bottom + 18, format_tokens(static_cast<double>(k) * l.x_step));
  }
  const int y_decimals = std::max(0, static_cast<int>(-std::floor(std::log10(l.y_step) + 1e-9)));
  for (long k = first_tick(l.y0, l.y_step), n = 0; k * l.y_step <= l.y1 + 1e-9 * l.y_step && n < kMaxTicks;
       ++k, ++n) {
    const double value = static_cast<double>(k) * l.y_step;
    const double y = l.py(value);
    fmt::format_to(out, "<line x1=\"{0:.1f}\" y1=\"{2:.1f}\" x2=\"{1:.1f}\" y2=\"{2:.1f}\"/>\n", left, right,
                   y);
    fmt::format_to(label_out,
                   "<line x1=\"{0:.1f}\" y1=\"{2:.1f}\" x2=\"{1:.1f}\" y2=\"{2:.1f}\" stroke=\"#333\"/>\n",
                   left - 5, left, y);
    fmt::format_to(label_out, "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{:.{}f}</text>\n",
                   left - 8, y + 4, std::abs(value) < 1e-12 ? 0.0 : value, y_decimals);
  }
  fmt::format_to(out, "</g>\n<g fill=\"#333\">\n{}</g>\n", labels);
  fmt::format_to(
      out,
      "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"#333\"/>\n",
      left, top, right - left, bottom - top);
  fmt::format_to(out, "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">tokens seen</text>\n",
                 (left + right) / 2, kHeight - 14);
  fmt::format_to(out,
                 "<text x=\"18\" y=\"{0:.1f}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {0:.1f})\">"
                 "loss (nats/char)</text>\n",
                 (top + bottom) / 2);

  // Reference lines, labelled at their right end.
  for (const auto& [value, label] : l.references) {
    const double y = l.py(value);
    fmt::format_to(out,
                   "<line x1=\"{0:.1f}\" y1=\"{2:.1f}\" x2=\"{1:.1f}\" y2=\"{2:.1f}\" stroke=\"#888\" "
                   "stroke-dasharray=\"6 4\"/>\n",
                   left, right, y);
    fmt::format_to(out,
                   "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" fill=\"#666\">{} {:.2f}</text>\n",
                   right - 4, y - 4, xml_escape(label), value);
  }

  // The series: train as a line, val as a line with markers.
  const auto polyline = [&](const std::vector<PlotPoint>& points, const char* name, const char* color) {
    if (points.empty()) return;
    fmt::format_to(out, "<polyline class=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"",
                   name, color);
    for (size_t i = 0; i < points.size(); ++i)
      fmt::format_to(out, "{}{:.1f},{:.1f}", i ? " " : "", l.px(points[i].tokens), l.py(points[i].loss));
    fmt::format_to(out, "\"/>\n");
  };
  polyline(l.train, "train", kTrainColor);
  polyline(l.val, "val", kValColor);
  if (!l.val.empty()) {
    fmt::format_to(out, "<g class=\"val-markers\" fill=\"{}\">\n", kValColor);
    for (const PlotPoint& p : l.val)
      fmt::format_to(out, "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\"/>\n", l.px(p.tokens), l.py(p.loss));
    fmt::format_to(out, "</g>\n");
  }

  // Legend, in the top margin right of the title: inside the plot it would cover curves or labels.
  const double ly = top - 16;
  fmt::format_to(out, "<g class=\"legend\">\n");
  fmt::format_to(out,
                 "<line x1=\"{0:.1f}\" y1=\"{2:.1f}\" x2=\"{1:.1f}\" y2=\"{2:.1f}\" stroke=\"{3}\" "
                 "stroke-width=\"2\"/>\n",
                 right - 150, right - 126, ly, kTrainColor);
  fmt::format_to(out, "<text x=\"{:.1f}\" y=\"{:.1f}\">train</text>\n", right - 120, ly + 4);
  fmt::format_to(out,
                 "<line x1=\"{0:.1f}\" y1=\"{2:.1f}\" x2=\"{1:.1f}\" y2=\"{2:.1f}\" stroke=\"{3}\" "
                 "stroke-width=\"2\"/>\n",
                 right - 54, right - 30, ly, kValColor);
  fmt::format_to(out, "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", right - 42, ly,
                 kValColor);
  fmt::format_to(out, "<text x=\"{:.1f}\" y=\"{:.1f}\">val</text>\n", right - 24, ly + 4);
  fmt::format_to(out, "</g>\n</svg>\n");
  return s;
}

void LossPlot::write_svg(const std::filesystem::path& path) const {
  const std::string text = svg();
  std::filesystem::path tmp = path;
  tmp += fmt::format(".tmp{}", static_cast<long>(getpid()));
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  RECUR_CHECK(f != nullptr, fmt::format("cannot write loss plot {}: cannot create {}: {}", path.string(),
                                        tmp.string(), std::strerror(errno)));
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const int saved_errno = errno;
  const bool closed = std::fclose(f) == 0;
  if (!written || !closed) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw Error(fmt::format("cannot write loss plot {}: writing {} failed: {}", path.string(), tmp.string(),
                            std::strerror(written ? errno : saved_errno)));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw Error(fmt::format("cannot write loss plot {}: renaming {} failed: {}", path.string(), tmp.string(),
                            ec.message()));
  }
}

}  // namespace recur::train
