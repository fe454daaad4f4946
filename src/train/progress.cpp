#include "recur/train/progress.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <ostream>
#include <utility>
#include <vector>

#include "recur/common.h"

namespace recur::train {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kFallbackColumns = 100;
constexpr int kBarWidth = 22;  // fixed, so the bar does not jump as the text changes length
constexpr int kMinBarWidth = 10;
constexpr std::string_view kNone = "\u2014";  // "—"

double steady_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// Display columns of UTF-8 text, counting one per code point (the status line is ASCII plus "—").
int columns_of(std::string_view s) {
  int n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// The longest prefix of `s` that fits in `columns`, never splitting a UTF-8 sequence.
std::string_view fit(std::string_view s, int columns) {
  int n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && n++ == columns) return s.substr(0, i);
  }
  return s;
}

}  // namespace

ProgressReporter::ProgressReporter(ProgressOptions options, std::FILE* out, SecondsClock clock)
    : ProgressReporter(
          options,
          [out](std::string_view s) {
            // Progress output is best effort: a closed stderr must not stop training.
            std::fwrite(s.data(), 1, s.size(), out);
            std::fflush(out);
          },
          options.mode == ProgressOptions::Mode::kTerminal ||
              (options.mode == ProgressOptions::Mode::kAuto && out != nullptr && isatty(fileno(out))),
          out != nullptr ? fileno(out) : -1, std::move(clock)) {
  RECUR_CHECK(out != nullptr, "ProgressReporter: the output FILE* is null");
}

ProgressReporter::ProgressReporter(ProgressOptions options, std::ostream& out, SecondsClock clock)
    : ProgressReporter(
          options,
          [&out](std::string_view s) {
            out.write(s.data(), static_cast<std::streamsize>(s.size()));
            out.flush();
          },
          options.mode == ProgressOptions::Mode::kTerminal, -1, std::move(clock)) {}

ProgressReporter::ProgressReporter(ProgressOptions options, Sink sink, bool terminal, int fd,
                                   SecondsClock clock)
    : options_(options), sink_(std::move(sink)), terminal_(terminal), fd_(fd), clock_(std::move(clock)) {
  RECUR_CHECK(options_.log_every >= 1,
              fmt::format("ProgressOptions::log_every must be >= 1, got {}", options_.log_every));
  RECUR_CHECK(
      options_.loss_smoothing >= 0 && options_.loss_smoothing < 1,
      fmt::format("ProgressOptions::loss_smoothing must be in [0, 1), got {}", options_.loss_smoothing));
  RECUR_CHECK(options_.rate_window_s > 0,
              fmt::format("ProgressOptions::rate_window_s must be > 0, got {}", options_.rate_window_s));
  RECUR_CHECK(options_.total_iterations >= 0 && options_.total_epochs >= 0 && options_.columns >= 0,
              fmt::format("ProgressOptions: total_iterations ({}), total_epochs ({}) and columns ({}) must "
                          "not be negative",
                          options_.total_iterations, options_.total_epochs, options_.columns));
  if (!clock_) clock_ = steady_seconds;
}

ProgressReporter::~ProgressReporter() {
  try {
    if (line_visible_) sink_("\n");
  } catch (...) {  // a stream set to throw: nothing useful to do in a destructor
  }
}

void ProgressReporter::update(const ProgressStep& step) {
  const double now = clock_();
  if (!have_step_) {
    have_step_ = true;
    first_time_ = older_time_ = newer_time_ = now;
    first_iteration_ = step.iteration;
    older_tokens_ = newer_tokens_ = step.tokens;
  } else if (now - newer_time_ >= options_.rate_window_s) {
    // Slide the window: the rate now spans between one and two windows.
    older_time_ = newer_time_;
    older_tokens_ = newer_tokens_;
    newer_time_ = now;
    newer_tokens_ = step.tokens;
  }
  now_ = now;
  step_ = step;
  const double beta = options_.loss_smoothing;
  ema_ = beta * ema_ + (1 - beta) * step.loss;
  ema_weight_ = beta * ema_weight_ + (1 - beta);

  if (terminal_) {
    const bool last = options_.total_iterations > 0 && step.iteration >= options_.total_iterations;
    if (!line_visible_ || last || now - last_draw_ >= options_.redraw_interval_s) draw();
  } else if (step.iteration % options_.log_every == 0) {
    print_log_line();
  }
}

void ProgressReporter::set_val_loss(double val_loss) {
  val_loss_ = val_loss;
  have_val_ = true;
  if (terminal_ && have_step_) draw();
}

void ProgressReporter::message(std::string_view text) {
  std::string out;
  if (terminal_ && line_visible_) out += "\r\x1b[K";
  out += text;
  out += '\n';
  sink_(out);
  line_visible_ = false;
  if (terminal_ && have_step_) draw();
}

void ProgressReporter::finish() {
  if (!have_step_) return;
  if (terminal_) {
    if (!line_visible_) return;  // finished already (or a message() was the last output)
    draw();
    sink_("\n");
    line_visible_ = false;
  } else if (last_logged_ != step_.iteration) {
    print_log_line();
  }
}

double ProgressReporter::smoothed_loss() const {
  return have_step_ ? ema_ / ema_weight_ : kNaN;
}

double ProgressReporter::tokens_per_second() const {
  const double dt = now_ - older_time_;
  if (!have_step_ || !(dt > 0)) return kNaN;
  return static_cast<double>(step_.tokens - older_tokens_) / dt;
}

double ProgressReporter::eta_seconds() const {
  const long done = step_.iteration - first_iteration_;
  if (!have_step_ || options_.total_iterations <= 0 || done <= 0) return kNaN;
  const double per_iteration = (now_ - first_time_) / static_cast<double>(done);
  return std::max(0L, options_.total_iterations - step_.iteration) * per_iteration;
}

std::vector<ProgressReporter::Field> ProgressReporter::fields() const {
  std::vector<Field> f;
  std::string epoch = fmt::format("epoch {:.2f}", step_.epoch);
  // A whole number of epochs as such (50), a fraction (--max-iters) at the epoch's own precision.
  if (options_.total_epochs > 0)
    epoch += options_.total_epochs == std::floor(options_.total_epochs)
                 ? fmt::format("/{:g}", options_.total_epochs)
                 : fmt::format("/{:.2f}", options_.total_epochs);
  f.push_back({std::move(epoch), Field::kEpoch});
  std::string iteration = fmt::format("it {}", step_.iteration);
  if (options_.total_iterations > 0) iteration += fmt::format("/{}", options_.total_iterations);
  f.push_back({std::move(iteration), Field::kIteration});
  f.push_back({fmt::format("loss {:.4f}", smoothed_loss()), Field::kLoss});
  f.push_back({have_val_ ? fmt::format("val {:.4f}", val_loss_) : fmt::format("val {}", kNone), Field::kVal});
  f.push_back({fmt::format("{} tok/s", format_rate(tokens_per_second())), Field::kRate});
  if (options_.total_iterations > 0)
    f.push_back({fmt::format("ETA {}", format_duration(eta_seconds())), Field::kEta});
  return f;
}

std::string ProgressReporter::status_text() const {
  std::string s;
  for (const Field& field : fields()) s.append(s.empty() ? "" : "  ").append(field.text);
  return s;
}

std::string ProgressReporter::format_duration(double seconds) {
  if (!(seconds >= 0) || !std::isfinite(seconds)) return std::string(kNone);
  const auto total = static_cast<long long>(std::llround(seconds));
  return fmt::format("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60);
}

std::string ProgressReporter::format_rate(double per_second) {
  if (!std::isfinite(per_second)) return std::string(kNone);
  const double a = std::abs(per_second);
  double scale = 1;
  const char* suffix = "";
  if (a >= 999.5e9) {
    scale = 1e12, suffix = "T";
  } else if (a >= 999.5e6) {
    scale = 1e9, suffix = "G";
  } else if (a >= 999.5e3) {
    scale = 1e6, suffix = "M";
  } else if (a >= 999.5) {
    scale = 1e3, suffix = "k";
  }
  const double v = per_second / scale;
  const double av = std::abs(v);
  // Three significant digits, without switching to exponent notation.
  const int decimals = av >= 99.95 ? 0 : av >= 9.995 ? 1 : 2;
  return fmt::format("{:.{}f}{}", v, decimals, suffix);
}

int ProgressReporter::line_columns() const {
  int columns = options_.columns;
  if (columns == 0) {
    columns = kFallbackColumns;
    winsize ws{};
    if (fd_ >= 0 && ioctl(fd_, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) columns = ws.ws_col;
  }
  // One column short: writing the last column makes some terminals wrap, and "\r" would then
  // return to the wrong line.
  return std::max(1, columns - 1);
}

std::string ProgressReporter::bar(int width) const {
  const double fraction = std::clamp(
      static_cast<double>(step_.iteration) / static_cast<double>(options_.total_iterations), 0.0, 1.0);
  const int inner = width - 2;
  const int filled = static_cast<int>(fraction * inner);
  std::string s = "[";
  s.append(static_cast<size_t>(filled), '#').append(static_cast<size_t>(inner - filled), '.') += ']';
  return s;
}

// The status at the terminal's width: whole fields, the least useful dropped first (in the order of
// Field::Rank), and a bar of kMinBarWidth to kBarWidth columns when there is room for it. Only a
// width too narrow for the loss alone cuts the line.
void ProgressReporter::draw() {
  const int columns = line_columns();
  std::vector<Field> shown = fields();
  if (options_.total_iterations > 0) {
    const double fraction =
        static_cast<double>(step_.iteration) / static_cast<double>(options_.total_iterations);
    shown.push_back({"", Field::kBar});
    shown.push_back({fmt::format("{:.0f}%", std::clamp(fraction, 0.0, 1.0) * 100), Field::kPercent});
  }
  // Two spaces between fields, one after the bar; the bar counted at its narrowest.
  auto width = [&shown] {
    int w = 0;
    for (size_t i = 0; i < shown.size(); ++i) {
      if (i > 0) w += shown[i - 1].rank == Field::kBar ? 1 : 2;
      w += shown[i].rank == Field::kBar ? kMinBarWidth : columns_of(shown[i].text);
    }
    return w;
  };
  for (int rank = 0; rank < Field::kLoss && width() > columns; ++rank)
    std::erase_if(shown, [rank](const Field& field) { return field.rank == rank; });
  const int bar_width = std::min(kBarWidth, kMinBarWidth + std::max(0, columns - width()));

  std::string line;
  for (size_t i = 0; i < shown.size(); ++i) {
    if (i > 0) line += shown[i - 1].rank == Field::kBar ? " " : "  ";
    line += shown[i].rank == Field::kBar ? bar(bar_width) : shown[i].text;
  }
  std::string out = "\r";
  out.append(fit(line, columns)).append("\x1b[K");
  sink_(out);
  line_visible_ = true;
  last_draw_ = now_;
}

void ProgressReporter::print_log_line() {
  std::string line = status_text();
  if (options_.total_iterations > 0) {
    const double fraction =
        static_cast<double>(step_.iteration) / static_cast<double>(options_.total_iterations);
    line += fmt::format("  ({:.1f}%)", std::clamp(fraction, 0.0, 1.0) * 100);
  }
  sink_(line + "\n");
  last_logged_ = step_.iteration;
}

}  // namespace recur::train
