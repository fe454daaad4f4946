// LossPlot: an SVG line chart of train and val loss against tokens seen, written by hand (no
// dependencies) so a run directory always holds a picture of the run that any browser opens.
//
//   LossPlot plot("char-rnn on tiny-shakespeare");
//   plot.add_train(tokens, loss);            // every iteration (cheap: two doubles)
//   plot.add_val(tokens, val_loss);          // every evaluation
//   plot.add_reference_line(3.35, "unigram");  // drawn dashed, labelled "unigram 3.35"
//   plot.write_svg(run_dir / "loss.svg");    // at every evaluation, with the whole history
//
// What it draws, and the choices behind it:
// - train: a polyline of at most max_train_points points; longer histories are cut into equal runs
//   of consecutive points and each run is replaced by its mean (tokens and loss), which also
//   smooths the per-batch noise. val: a polyline with a marker at every point.
// - x axis: tokens seen, from 0 (or the smallest value, if negative) to a rounded maximum, with SI
//   tick labels (10k, 1.2M). y axis: loss (nats/char).
// - y range: from the lowest loss to min(highest loss, q + (q - lowest) / 2), where q is the 95th
//   percentile of the plotted losses (train after averaging, and val), so the first few spiky
//   iterations do not flatten the rest of the curve; points above are drawn on the top edge.
//   Reference lines at or below the highest loss are included in the range and drawn; higher ones
//   (levels the run never reached) are left out. The range is padded and rounded to tick steps.
// - Non-finite losses (a diverged step) are not drawn; svg() draws any data without throwing.
// - The file is written to a temporary file in the same directory and renamed over `path`, so a
//   reader (a browser refreshing the file) never sees half a chart.
// Cost: O(number of points) per svg(); about 10 ms for 1e5 train points.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace recur::train {

struct PlotPoint {
  double tokens = 0;
  double loss = 0;
  bool operator==(const PlotPoint&) const = default;
};

class LossPlot {
 public:
  static constexpr std::size_t kDefaultMaxTrainPoints = 2000;
  static constexpr double kWidth = 800, kHeight = 480;  // the SVG's viewBox is 0 0 kWidth kHeight

  // max_train_points >= 2.
  explicit LossPlot(std::string title, std::size_t max_train_points = kDefaultMaxTrainPoints);

  // `tokens` must be finite; `loss` may be anything (non-finite values are kept but not drawn).
  void add_train(double tokens, double loss);
  void add_val(double tokens, double loss);
  // A horizontal dashed line at loss `value` labelled "<label> <value to 2 decimals>".
  void add_reference_line(double value, std::string label);

  const std::vector<PlotPoint>& train() const { return train_; }
  const std::vector<PlotPoint>& val() const { return val_; }

  // The whole SVG document.
  std::string svg() const;
  // Writes svg() to `path` atomically (temporary file in the same directory, then rename).
  void write_svg(const std::filesystem::path& path) const;

  // The y axis range (low, high) that svg() would draw now.
  std::pair<double, double> y_range() const;

  // At most max_points points: consecutive runs of ceil(n / max_points) points replaced by their
  // means; `points` unchanged when it has at most max_points points. max_points >= 1.
  static std::vector<PlotPoint> downsample(std::span<const PlotPoint> points, std::size_t max_points);
  // Axis labels for token counts: "0", "500", "10k", "1.25M", "3G".
  static std::string format_tokens(double tokens);

 private:
  struct Layout;
  Layout layout() const;

  std::string title_;
  std::size_t max_train_points_;
  std::vector<PlotPoint> train_, val_;
  std::vector<std::pair<double, std::string>> references_;
};

}  // namespace recur::train
