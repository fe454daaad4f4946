// ProgressReporter: the training status for a person watching, in one of two forms.
//
//   terminal  one line that overwrites itself ("\r" + line + ESC[K), fitted to the terminal width
//             by dropping whole fields, least useful first (at 80 columns, the iteration count):
//               epoch 1.37/50  it 1234/50000  loss 1.4321  val 1.5012  12.3k tok/s  ETA 1:02:03  [##....] 2%
//             message() clears the line, prints its text on a line of its own and redraws the status,
//             so log output never tears the bar; finish() draws the last status and ends the line.
//   log       (output not a terminal: a file, a pipe, CI) the same fields as plain lines, one every
//             log_every iterations, plus one at finish() for the last iteration if it was not printed.
//
// The caller supplies every number (iteration, epoch, tokens, loss, val loss). The reporter measures
// only time, on a steady clock it owns (injectable for tests), for two derived fields:
//   tok/s  tokens over a sliding window of rate_window_s to 2·rate_window_s seconds;
//   ETA    remaining iterations at the average pace since the first update() — evaluation pauses
//          and checkpoints included, so it is honest about the whole run. The first update() is the
//          baseline (setup and a slow first iteration do not count), so a resumed run works as is.
// The displayed train loss is an exponential moving average with Adam's bias correction, so it
// starts at the first loss rather than near zero.
//
// Not thread-safe: call it from the training loop only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace recur::train {

// Monotonic seconds from an arbitrary origin. The default reads std::chrono::steady_clock.
using SecondsClock = std::function<double()>;

struct ProgressOptions {
  enum class Mode { kAuto, kTerminal, kLog };
  // kAuto: kTerminal when the output is a FILE* for which isatty() holds, otherwise kLog.
  Mode mode = Mode::kAuto;
  long total_iterations = 0;       // 0 = unknown: no "/total", bar or ETA
  double total_epochs = 0;         // 0 = unknown: the epoch is shown without "/total"
  long log_every = 100;            // log mode: one line when iteration % log_every == 0 (>= 1)
  double redraw_interval_s = 0.1;  // terminal mode: update() redraws at most this often
  int columns = 0;               // terminal mode: line width; 0 = the terminal's (ioctl TIOCGWINSZ), else 100
  double loss_smoothing = 0.98;  // EMA factor in [0, 1) for the shown train loss; 0 = last loss
  double rate_window_s = 5.0;    // tok/s is measured over the last 1–2 windows (> 0)
};

// One training iteration, as the caller counts it.
struct ProgressStep {
  long iteration = 0;       // iterations done, counting from the start of the run (1 after the first)
  double epoch = 0;         // epochs done, fractional (1.37 = 37 % into the second epoch)
  std::int64_t tokens = 0;  // tokens seen since the start of the run
  double loss = 0;          // this iteration's train loss
};

class ProgressReporter {
 public:
  // Writes to `out` (stderr by default), which must outlive the reporter.
  explicit ProgressReporter(ProgressOptions options = {}, std::FILE* out = stderr, SecondsClock clock = {});
  // Writes to a stream (kAuto means kLog here: a stream has no terminal to ask).
  ProgressReporter(ProgressOptions options, std::ostream& out, SecondsClock clock = {});
  // Ends a visible status line with a newline, so a later prompt does not land on it.
  ~ProgressReporter();
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  void update(const ProgressStep& step);
  // The loss of the latest evaluation; shown from now on (terminal mode redraws at once).
  void set_val_loss(double val_loss);
  // Prints `text` as a full line (a trailing newline is added) without corrupting the status line.
  void message(std::string_view text);
  // Terminal: draws the final status and ends the line. Log: prints the last step if it was not
  // printed yet. Idempotent until the next update().
  void finish();

  bool terminal() const { return terminal_; }
  double smoothed_loss() const;      // NaN before the first update()
  double tokens_per_second() const;  // NaN until time has passed since the first update()
  double eta_seconds() const;        // NaN when unknown (no total, or no pace yet)
  // The fields of the current status as one line, without control characters or bar.
  std::string status_text() const;

  // "1:02:03" (h:mm:ss; hours grow as needed); "—" for NaN or negative values.
  static std::string format_duration(double seconds);
  // "850", "12.3k", "1.23M", "4.56G": three significant digits with an SI suffix.
  static std::string format_rate(double per_second);

 private:
  using Sink = std::function<void(std::string_view)>;
  ProgressReporter(ProgressOptions options, Sink sink, bool terminal, int fd, SecondsClock clock);

  // One field of the status line. Its rank orders the fields a narrow terminal drops, least
  // useful first; the loss is never dropped.
  struct Field {
    enum Rank { kIteration, kRate, kBar, kVal, kEta, kPercent, kEpoch, kLoss };
    std::string text;  // empty for the bar, which is drawn to the width left over
    Rank rank;
  };
  std::vector<Field> fields() const;  // the status fields in display order, without bar or percentage

  void draw();               // terminal: redraw the status line now
  void print_log_line();     // log: one status line
  int line_columns() const;  // usable terminal columns for the status line
  std::string bar(int width) const;

  ProgressOptions options_;
  Sink sink_;
  bool terminal_ = false;
  int fd_ = -1;  // for TIOCGWINSZ; -1 for streams
  SecondsClock clock_;

  bool have_step_ = false;
  ProgressStep step_;
  double ema_ = 0;         // uncorrected EMA of the loss
  double ema_weight_ = 0;  // 1 - β^n: the bias correction
  double val_loss_ = -1;   // < 0: none yet
  bool have_val_ = false;

  double first_time_ = 0;  // baseline for the ETA: the first update()
  long first_iteration_ = 0;
  double now_ = 0;  // time of the latest update()
  // Two anchors for the windowed token rate: the rate runs from older_ to now.
  double older_time_ = 0, newer_time_ = 0;
  std::int64_t older_tokens_ = 0, newer_tokens_ = 0;

  bool line_visible_ = false;  // terminal: a status line is on screen without its newline
  double last_draw_ = 0;
  long last_logged_ = -1;  // log: the iteration of the last printed line
};

}  // namespace recur::train
