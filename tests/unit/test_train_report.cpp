// Training reports: the progress line, the metrics log and the loss plot.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "recur/train/loss_plot.h"
#include "recur/train/metrics_log.h"
#include "recur/train/progress.h"
#include "test_util.h"

namespace recur::train {
namespace {

namespace fs = std::filesystem;
using recur::testing::throws_error_with;

// ---- helpers -----------------------------------------------------------------------------------

// A fresh directory for one test, removed at the end.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::path(::testing::TempDir()) /
            (std::string("recur_report_") + info->name() + "_" + std::to_string(getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t count(const std::string& haystack, std::string_view needle) {
  size_t n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + 1))
    ++n;
  return n;
}

// ---- ProgressReporter --------------------------------------------------------------------------

TEST(Progress, LogModePrintsEveryNIterationsAndAtFinish) {
  double now = 0;
  ProgressOptions options;
  options.mode = ProgressOptions::Mode::kLog;
  options.total_iterations = 1000;
  options.total_epochs = 10;
  options.log_every = 100;
  options.loss_smoothing = 0;  // show the raw loss, so the expected text is exact
  std::ostringstream out;
  ProgressReporter progress(options, out, [&] { return now; });
  EXPECT_FALSE(progress.terminal());
  // 100 iterations per epoch, 1000 tokens and 0.5 s per iteration.
  for (long it = 1; it <= 250; ++it) {
    now = 0.5 * static_cast<double>(it);
    if (it == 150) progress.set_val_loss(2.5);
    progress.update({.iteration = it,
                     .epoch = static_cast<double>(it) / 100,
                     .tokens = 1000 * it,
                     .loss = 3.0 - 0.004 * static_cast<double>(it)});
    if (it == 99) {
      EXPECT_EQ(out.str(), "") << "nothing before the first log_every iterations";
    }
  }
  // ETA: 249 iterations took 124.5 s since the first update (0.5 s each); 750 remain.
  EXPECT_DOUBLE_EQ(progress.eta_seconds(), 375.0);
  EXPECT_DOUBLE_EQ(progress.tokens_per_second(), 2000.0);
  progress.finish();
  progress.finish();  // idempotent
  const std::vector<std::string> lines = split_lines(out.str());
  ASSERT_EQ(lines.size(), 3u) << out.str();
  EXPECT_EQ(lines[0],
            "epoch 1.00/10  it 100/1000  loss 2.6000  val \u2014  2.00k tok/s  ETA 0:07:30  (10.0%)");
  EXPECT_EQ(lines[1],
            "epoch 2.00/10  it 200/1000  loss 2.2000  val 2.5000  2.00k tok/s  ETA 0:06:40  (20.0%)");
  EXPECT_EQ(lines[2],
            "epoch 2.50/10  it 250/1000  loss 2.0000  val 2.5000  2.00k tok/s  ETA 0:06:15  (25.0%)");
  EXPECT_EQ(out.str().find('\r'), std::string::npos);
  EXPECT_EQ(out.str().find('\x1b'), std::string::npos);
}

TEST(Progress, LogModeMessagesAreLinesOfTheirOwn) {
  ProgressOptions options;
  options.mode = ProgressOptions::Mode::kLog;
  options.log_every = 2;
  std::ostringstream out;
  double now = 0;
  ProgressReporter progress(options, out, [&] { return now += 1; });
  progress.update({.iteration = 1, .epoch = 0.1, .tokens = 10, .loss = 1});
  progress.message("eval: val loss 1.2");
  progress.update({.iteration = 2, .epoch = 0.2, .tokens = 20, .loss = 1});
  const std::vector<std::string> lines = split_lines(out.str());
  ASSERT_EQ(lines.size(), 2u) << out.str();
  EXPECT_EQ(lines[0], "eval: val loss 1.2");
  // No totals: no "/total", no ETA, no percentage.
  EXPECT_EQ(lines[1], "epoch 0.20  it 2  loss 1.0000  val \u2014  10.0 tok/s");
}

// --max-iters gives a fractional number of epochs: shown at the epoch's precision (0.06/0.06), not
// as 0.0591716.
TEST(Progress, AFractionalEpochTotalIsShownAtTheEpochsPrecision) {
  ProgressOptions options;
  options.mode = ProgressOptions::Mode::kLog;
  options.log_every = 1;
  options.total_iterations = 10;
  options.total_epochs = 10.0 / 169.0;
  std::ostringstream out;
  double now = 0;
  ProgressReporter progress(options, out, [&] { return now += 1; });
  progress.update({.iteration = 10, .epoch = 10.0 / 169.0, .tokens = 100, .loss = 1});
  EXPECT_EQ(split_lines(out.str()).at(0).rfind("epoch 0.06/0.06  it 10/10", 0), 0u) << out.str();
}

TEST(Progress, TerminalModeOverwritesOneLineUntilMessageOrFinish) {
  double now = 0;
  ProgressOptions options;
  options.mode = ProgressOptions::Mode::kTerminal;
  options.total_iterations = 1000;
  options.columns = 200;
  options.redraw_interval_s = 0;
  std::ostringstream out;
  ProgressReporter progress(options, out, [&] { return now; });
  EXPECT_TRUE(progress.terminal());
  for (long it = 1; it <= 500; ++it) {
    now = 0.01 * static_cast<double>(it);
    progress.update(
        {.iteration = it, .epoch = 0.001 * static_cast<double>(it), .tokens = 64 * it, .loss = 2});
  }
  std::string text = out.str();
  EXPECT_EQ(text.find('\n'), std::string::npos) << "a newline before message()/finish()";
  EXPECT_EQ(count(text, "\r"), 500u);
  EXPECT_EQ(count(text, "\x1b[K"), 500u);
  // The last draw: the status, a 22-column bar half full, and the percentage.
  const std::string last = text.substr(text.rfind('\r'));
  EXPECT_NE(last.find("it 500/1000"), std::string::npos) << last;
  EXPECT_NE(last.find("[##########..........] 50%\x1b[K"), std::string::npos) << last;

  const size_t before = text.size();
  progress.message("checkpoint saved");
  text = out.str();
  // Clear the bar, print the message on its own line, redraw the bar (without a newline).
  EXPECT_EQ(text.substr(before, 22), "\r\x1b[Kcheckpoint saved\n\r");
  EXPECT_EQ(count(text, "\n"), 1u);
  EXPECT_NE(text.substr(before + 22).find("it 500/1000"), std::string::npos);

  progress.finish();
  text = out.str();
  EXPECT_EQ(count(text, "\n"), 2u);
  EXPECT_EQ(text.back(), '\n');
  progress.finish();
  EXPECT_EQ(out.str(), text) << "a second finish() prints nothing";
}

TEST(Progress, TerminalModeRedrawsAtMostOncePerInterval) {
  double now = 0;
  ProgressOptions options;
  options.mode = ProgressOptions::Mode::kTerminal;
  options.columns = 120;
  options.redraw_interval_s = 1.0;
  std::ostringstream out;
  ProgressReporter progress(options, out, [&] { return now; });
  for (long it = 1; it <= 20; ++it) {  // t = 0.25, 0.5, ..., 5.0
    now = 0.25 * static_cast<double>(it);
    progress.update({.iteration = it, .epoch = 0, .tokens = it, .loss = 1});
  }
  EXPECT_EQ(count(out.str(), "\r"), 5u) << "draws at t = 0.25, 1.25, 2.25, 3.25, 4.25";
  progress.set_val_loss(0.75);  // an evaluation redraws at once
  EXPECT_EQ(count(out.str(), "\r"), 6u);
  EXPECT_NE(out.str().substr(out.str().rfind('\r')).find("val 0.7500"), std::string::npos);
}

// The status drawn once at `columns`, without "\r" and "ESC[K" (asserted present).
std::string status_at(int columns) {
  ProgressOptions options;
  options.mode = ProgressOptions::Mode::kTerminal;
  options.total_iterations = 50000;
  options.total_epochs = 50;
  options.columns = columns;
  std::ostringstream out;
  double now = 0;
  ProgressReporter progress(options, out, [&] { return now += 1; });
  progress.update({.iteration = 1000, .epoch = 1.37, .tokens = 123456, .loss = 1.5});
  progress.update({.iteration = 1234, .epoch = 1.37, .tokens = 246912, .loss = 1.5});
  progress.set_val_loss(1.5012);
  const std::string text = out.str();
  const size_t last = text.rfind('\r');
  EXPECT_EQ(text.substr(text.size() - 3), "\x1b[K");
  return text.substr(last + 1, text.size() - last - 4);
}

TEST(Progress, TerminalLineDropsWholeFieldsToFitTheWidth) {
  // Wide: every field and the full 22-column bar.
  EXPECT_EQ(status_at(200),
            "epoch 1.37/50  it 1234/50000  loss 1.5000  val 1.5012  123k tok/s  ETA 0:03:28  "
            "[....................] 2%");
  // 80 columns (79 used, so the terminal never wraps): the iteration count goes, the bar stays,
  // narrowed to what is left.
  const std::string at80 = status_at(80);
  EXPECT_EQ(at80, "epoch 1.37/50  loss 1.5000  val 1.5012  123k tok/s  ETA 0:03:28  [.........] 2%");
  EXPECT_EQ(at80.size(), 79u);
  // 72: the token rate goes too.
  EXPECT_EQ(status_at(72), "epoch 1.37/50  loss 1.5000  val 1.5012  ETA 0:03:28  [.............] 2%");
  // Narrower: the bar, then the validation loss and the ETA go; what stays is whole.
  EXPECT_EQ(status_at(40), "epoch 1.37/50  loss 1.5000  2%");
  EXPECT_EQ(status_at(12), "loss 1.5000");
  // Too narrow for the loss alone: the only case that cuts.
  EXPECT_EQ(status_at(8), "loss 1.");
}

TEST(Progress, EtaAndRateFollowTheInjectedClock) {
  double now = 100;
  ProgressOptions options;
  options.mode = ProgressOptions::Mode::kLog;
  options.total_iterations = 100;
  options.rate_window_s = 5;
  std::ostringstream out;
  ProgressReporter progress(options, out, [&] { return now; });
  EXPECT_TRUE(std::isnan(progress.eta_seconds()));
  EXPECT_TRUE(std::isnan(progress.tokens_per_second()));
  // 100 tokens/s for 10 s, then 200 tokens/s; one iteration per second; the first update is the
  // baseline (a resumed run starting at iteration 40).
  const auto tokens_at = [](double t) {
    return static_cast<std::int64_t>(t <= 10 ? 100 * t : 1000 + 200 * (t - 10));
  };
  for (int t = 1; t <= 16; ++t) {
    now = 100 + t;
    progress.update({.iteration = 40 + t, .epoch = 0, .tokens = tokens_at(t), .loss = 1});
    if (t == 1) {
      EXPECT_TRUE(std::isnan(progress.eta_seconds())) << "no pace after one update";
      EXPECT_TRUE(std::isnan(progress.tokens_per_second()));
    }
    if (t == 15) {
      EXPECT_DOUBLE_EQ(progress.tokens_per_second(), 1400.0 / 9) << "window t = 6 .. 15";
    }
  }
  EXPECT_DOUBLE_EQ(progress.tokens_per_second(), 200.0) << "window t = 11 .. 16";
  EXPECT_DOUBLE_EQ(progress.eta_seconds(), 44.0) << "44 iterations left at 1 s each";
  EXPECT_EQ(ProgressReporter::format_duration(progress.eta_seconds()), "0:00:44");
}

TEST(Progress, SmoothedLossIsBiasCorrected) {
  ProgressOptions options;
  options.mode = ProgressOptions::Mode::kLog;
  options.loss_smoothing = 0.5;
  std::ostringstream out;
  ProgressReporter progress(options, out, [] { return 0.0; });
  EXPECT_TRUE(std::isnan(progress.smoothed_loss()));
  progress.update({.iteration = 1, .epoch = 0, .tokens = 0, .loss = 4});
  EXPECT_DOUBLE_EQ(progress.smoothed_loss(), 4.0);
  progress.update({.iteration = 2, .epoch = 0, .tokens = 0, .loss = 2});
  EXPECT_DOUBLE_EQ(progress.smoothed_loss(), 8.0 / 3);  // (0.25·4 + 0.5·2) / 0.75
}

TEST(Progress, Formatting) {
  EXPECT_EQ(ProgressReporter::format_duration(0), "0:00:00");
  EXPECT_EQ(ProgressReporter::format_duration(3723.4), "1:02:03");
  EXPECT_EQ(ProgressReporter::format_duration(100 * 3600 + 59.6), "100:01:00");
  EXPECT_EQ(ProgressReporter::format_duration(NAN), "\u2014");
  EXPECT_EQ(ProgressReporter::format_rate(850), "850");
  EXPECT_EQ(ProgressReporter::format_rate(5.234), "5.23");
  EXPECT_EQ(ProgressReporter::format_rate(12345), "12.3k");
  EXPECT_EQ(ProgressReporter::format_rate(999.7), "1.00k");
  EXPECT_EQ(ProgressReporter::format_rate(1.234e6), "1.23M");
  EXPECT_EQ(ProgressReporter::format_rate(NAN), "\u2014");
}

TEST(Progress, RejectsBadOptions) {
  std::ostringstream out;
  ProgressOptions options;
  options.log_every = 0;
  EXPECT_TRUE(throws_error_with([&] { ProgressReporter p(options, out); }, {"log_every", "0"}));
  options = {};
  options.loss_smoothing = 1;
  EXPECT_TRUE(throws_error_with([&] { ProgressReporter p(options, out); }, {"loss_smoothing"}));
}

// ---- MetricsLog --------------------------------------------------------------------------------

TEST(MetricsLog, AppendsOneParseableLinePerRecordAndContinuesOnReopen) {
  TempDir dir;
  double now = 10;
  {
    MetricsLog log = MetricsLog::in_run_dir(dir.path(), [&] { return now; });
    EXPECT_EQ(log.path(), dir.path() / "metrics.jsonl");
    now = 12.5;
    log.write({{"event", "train"}, {"iteration", 100}, {"loss", 1.75}, {"tokens", 51200}});
    now = 13;
    log.write({{"event", "val"}, {"iteration", 100}, {"val_loss", 1.875}});
    // Flushed at once: the file holds both lines while the log is still open.
    EXPECT_EQ(split_lines(read_file(log.path())).size(), 2u);
  }
  {
    now = 500;  // a new process: its clock has a different origin
    MetricsLog log = MetricsLog::in_run_dir(dir.path(), [&] { return now; });
    now = 504;
    log.write({{"event", "train"}, {"iteration", 101}, {"loss", NAN}});
    log.write({{"event", "marker"}, {"time_s", 1234.5}});  // the caller's time_s wins
  }
  const std::string text = read_file(dir.path() / "metrics.jsonl");
  ASSERT_EQ(text.back(), '\n');
  const std::vector<std::string> lines = split_lines(text);
  ASSERT_EQ(lines.size(), 4u) << text;
  std::vector<nlohmann::json> j;
  for (const std::string& line : lines) j.push_back(nlohmann::json::parse(line));  // throws if invalid
  EXPECT_EQ(j[0]["event"], "train");
  EXPECT_EQ(j[0]["iteration"], 100);
  EXPECT_EQ(j[0]["tokens"], 51200);
  EXPECT_EQ(j[0]["loss"], 1.75);
  EXPECT_EQ(j[0]["time_s"], 2.5);
  EXPECT_EQ(j[1]["event"], "val");
  EXPECT_EQ(j[1]["val_loss"], 1.875);
  EXPECT_EQ(j[1]["time_s"], 3.0);
  EXPECT_EQ(j[2]["iteration"], 101);
  EXPECT_TRUE(j[2]["loss"].is_null()) << "NaN is written as null";
  EXPECT_EQ(j[2]["time_s"], 7.0) << "3 s from the first session + 4 s in this one";
  EXPECT_EQ(j[3]["time_s"], 1234.5);
}

TEST(MetricsLog, RecoversFromATruncatedLastLine) {
  TempDir dir;
  const fs::path file = dir.path() / "metrics.jsonl";
  {
    std::ofstream(file) << "{\"event\":\"train\",\"time_s\":4.0}\n{\"event\":\"tra";  // crash mid-line
  }
  double now = 0;
  MetricsLog log(file, [&] { return now; });
  now = 1;
  log.write({{"event", "val"}});
  const std::vector<std::string> lines = split_lines(read_file(file));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1], "{\"event\":\"tra");
  const nlohmann::json last = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(last["event"], "val");
  EXPECT_EQ(last["time_s"], 5.0) << "continues from the last complete line";
}

TEST(MetricsLog, ErrorsNameThePath) {
  TempDir dir;
  const fs::path missing = dir.path() / "no_such_dir" / "metrics.jsonl";
  EXPECT_TRUE(throws_error_with([&] { MetricsLog log(missing); }, {missing.string(), "No such file"}));
  MetricsLog log(dir.path() / "m.jsonl");
  EXPECT_TRUE(throws_error_with(
      [&] {
        log.write(nlohmann::json::array({1, 2}));
      },
      {(dir.path() / "m.jsonl").string(), "JSON object", "array"}));
}

// ---- LossPlot ----------------------------------------------------------------------------------

// A minimal XML reader: checks well-formedness (nesting, quoting, entities) and lists elements.
struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::string text;  // the text directly inside, raw (entities not expanded)
};

bool valid_entities(std::string_view s) {
  for (size_t i = s.find('&'); i != std::string_view::npos; i = s.find('&', i + 1)) {
    const size_t semi = s.find(';', i);
    if (semi == std::string_view::npos) return false;
    const std::string_view entity = s.substr(i, semi - i + 1);
    if (entity != "&amp;" && entity != "&lt;" && entity != "&gt;" && entity != "&quot;" && entity != "&apos;")
      return false;
  }
  return true;
}

::testing::AssertionResult parse_xml(const std::string& doc, std::vector<XmlElement>& elements) {
  std::vector<size_t> open;  // indices into elements
  size_t roots = 0, pos = 0;
  const auto fail = [&](const std::string& why) {
    return ::testing::AssertionFailure() << why << " at offset " << pos << ": " << doc.substr(pos, 80);
  };
  while (pos < doc.size()) {
    const size_t lt = doc.find('<', pos);
    const std::string_view text =
        std::string_view(doc).substr(pos, lt == std::string::npos ? doc.npos : lt - pos);
    if (!valid_entities(text)) return fail("bad entity in text");
    if (!open.empty()) elements[open.back()].text += text;
    if (lt == std::string::npos) break;
    pos = lt;
    if (doc.compare(pos, 2, "<?") == 0) {
      const size_t end = doc.find("?>", pos);
      if (end == std::string::npos) return fail("unterminated <?");
      pos = end + 2;
      continue;
    }
    if (doc.compare(pos, 2, "</") == 0) {
      const size_t end = doc.find('>', pos);
      if (end == std::string::npos || open.empty()) return fail("stray end tag");
      if (doc.substr(pos + 2, end - pos - 2) != elements[open.back()].name) return fail("mismatched end tag");
      open.pop_back();
      pos = end + 1;
      continue;
    }
    XmlElement e;
    size_t i = pos + 1;
    while (i < doc.size() && (std::isalnum(static_cast<unsigned char>(doc[i])) || doc[i] == '-'))
      e.name += doc[i++];
    if (e.name.empty()) return fail("bad tag name");
    bool self_closing = false;
    for (;;) {
      while (i < doc.size() && std::isspace(static_cast<unsigned char>(doc[i]))) ++i;
      if (i >= doc.size()) return fail("unterminated tag");
      if (doc[i] == '>') break;
      if (doc.compare(i, 2, "/>") == 0) {
        self_closing = true;
        ++i;
        break;
      }
      std::string attr;
      while (i < doc.size() &&
             (std::isalnum(static_cast<unsigned char>(doc[i])) || doc[i] == '-' || doc[i] == ':'))
        attr += doc[i++];
      if (attr.empty() || doc.compare(i, 2, "=\"") != 0) return fail("bad attribute");
      const size_t close = doc.find('"', i + 2);
      if (close == std::string::npos) return fail("unterminated attribute");
      const std::string value = doc.substr(i + 2, close - i - 2);
      if (value.find('<') != std::string::npos || !valid_entities(value)) return fail("bad attribute value");
      if (!e.attributes.emplace(attr, value).second) return fail("duplicate attribute " + attr);
      i = close + 1;
    }
    if (open.empty() && ++roots > 1) return fail("second root element");
    elements.push_back(std::move(e));
    if (!self_closing) open.push_back(elements.size() - 1);
    pos = i + 1;
  }
  if (!open.empty())
    return ::testing::AssertionFailure() << "unclosed <" << elements[open.back()].name << ">";
  if (roots != 1) return ::testing::AssertionFailure() << roots << " root elements";
  return ::testing::AssertionSuccess();
}

std::vector<std::pair<double, double>> parse_points(const std::string& points) {
  std::vector<std::pair<double, double>> out;
  std::istringstream in(points);
  for (std::string pair; in >> pair;) {
    const size_t comma = pair.find(',');
    out.emplace_back(std::stod(pair.substr(0, comma)), std::stod(pair.substr(comma + 1)));
  }
  return out;
}

// Every coordinate of every element is finite and inside the viewBox.
::testing::AssertionResult coordinates_inside(const std::vector<XmlElement>& elements) {
  const auto check = [](double v, double limit, const std::string& what) -> ::testing::AssertionResult {
    if (std::isfinite(v) && v >= 0 && v <= limit) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << what << " = " << v << " is outside [0, " << limit << "]";
  };
  for (const XmlElement& e : elements) {
    for (const auto& [name, value] : e.attributes) {
      const bool is_x = name == "x" || name == "x1" || name == "x2" || name == "cx" || name == "width";
      const bool is_y = name == "y" || name == "y1" || name == "y2" || name == "cy" || name == "height";
      if (!is_x && !is_y) continue;
      if (auto r = check(std::stod(value), is_x ? LossPlot::kWidth : LossPlot::kHeight, e.name + "." + name);
          !r)
        return r;
    }
    if (e.attributes.count("points"))
      for (const auto& [x, y] : parse_points(e.attributes.at("points"))) {
        if (auto r = check(x, LossPlot::kWidth, e.name + " point x"); !r) return r;
        if (auto r = check(y, LossPlot::kHeight, e.name + " point y"); !r) return r;
      }
  }
  return ::testing::AssertionSuccess();
}

std::vector<const XmlElement*> find_all(const std::vector<XmlElement>& elements, std::string_view name) {
  std::vector<const XmlElement*> out;
  for (const XmlElement& e : elements)
    if (e.name == name) out.push_back(&e);
  return out;
}

bool has_text(const std::vector<XmlElement>& elements, std::string_view text) {
  return std::any_of(elements.begin(), elements.end(),
                     [&](const XmlElement& e) { return e.name == "text" && e.text == text; });
}

TEST(LossPlot, DownsampleAveragesEqualRuns) {
  std::vector<PlotPoint> points;
  for (int i = 0; i < 100000; ++i) points.push_back({static_cast<double>(i), 2.0 * i});
  const std::vector<PlotPoint> d = LossPlot::downsample(points, 2000);
  ASSERT_EQ(d.size(), 2000u);  // runs of 50
  EXPECT_EQ(d.front(), (PlotPoint{24.5, 49.0}));
  EXPECT_EQ(d.back(), (PlotPoint{99974.5, 199949.0}));

  const std::vector<PlotPoint> ten(points.begin(), points.begin() + 10);
  const std::vector<PlotPoint> three = LossPlot::downsample(ten, 3);  // runs of 4, 4, 2
  ASSERT_EQ(three.size(), 3u);
  EXPECT_EQ(three[0], (PlotPoint{1.5, 3.0}));
  EXPECT_EQ(three[1], (PlotPoint{5.5, 11.0}));
  EXPECT_EQ(three[2], (PlotPoint{8.5, 17.0}));
  EXPECT_EQ(LossPlot::downsample(ten, 10), ten);
  for (size_t n : {2001u, 3999u, 4001u, 12345u})
    EXPECT_LE(LossPlot::downsample(std::span(points).first(n), 2000).size(), 2000u) << n;
}

TEST(LossPlot, TokenLabels) {
  EXPECT_EQ(LossPlot::format_tokens(0), "0");
  EXPECT_EQ(LossPlot::format_tokens(500), "500");
  EXPECT_EQ(LossPlot::format_tokens(10000), "10k");
  EXPECT_EQ(LossPlot::format_tokens(250000), "250k");
  EXPECT_EQ(LossPlot::format_tokens(1.2e6), "1.2M");
  EXPECT_EQ(LossPlot::format_tokens(1.25e6), "1.25M");
  EXPECT_EQ(LossPlot::format_tokens(5 * 0.2e6), "1M");
  EXPECT_EQ(LossPlot::format_tokens(3e9), "3G");
}

TEST(LossPlot, SvgIsWellFormedWithSeriesAxesLegendAndEscapedLabels) {
  LossPlot plot("run <1> & \"co\"");
  for (int i = 1; i <= 5000; ++i)
    plot.add_train(256.0 * i, 1.5 + 3.0 / std::sqrt(static_cast<double>(i)) + 0.05 * std::sin(i));
  for (int k = 1; k <= 10; ++k) plot.add_val(128000.0 * k, 1.6 + 0.5 / k);
  plot.add_train(256.0 * 5001, NAN);  // a diverged step is not drawn
  plot.add_reference_line(3.35, "unigram");
  plot.add_reference_line(2.0, "a <b> & 'c'");
  plot.add_reference_line(9.0, "uniform");  // above every loss: left out
  const std::string svg = plot.svg();

  std::vector<XmlElement> elements;
  ASSERT_TRUE(parse_xml(svg, elements));
  EXPECT_TRUE(coordinates_inside(elements));
  EXPECT_EQ(elements.front().name, "svg");
  EXPECT_EQ(elements.front().attributes.at("viewBox"), "0 0 800 480");

  const auto polylines = find_all(elements, "polyline");
  ASSERT_EQ(polylines.size(), 2u);
  EXPECT_EQ(polylines[0]->attributes.at("class"), "train");
  EXPECT_EQ(parse_points(polylines[0]->attributes.at("points")).size(), 1667u);  // 5000 in runs of 3
  EXPECT_EQ(polylines[1]->attributes.at("class"), "val");
  EXPECT_EQ(parse_points(polylines[1]->attributes.at("points")).size(), 10u);
  EXPECT_EQ(find_all(elements, "circle").size(), 11u);  // 10 val markers + 1 in the legend

  EXPECT_TRUE(has_text(elements, "run &lt;1&gt; &amp; &quot;co&quot;"));
  EXPECT_TRUE(has_text(elements, "tokens seen"));
  EXPECT_TRUE(has_text(elements, "loss (nats/char)"));
  EXPECT_TRUE(has_text(elements, "train"));
  EXPECT_TRUE(has_text(elements, "val"));
  EXPECT_TRUE(has_text(elements, "unigram 3.35"));
  EXPECT_TRUE(has_text(elements, "a &lt;b&gt; &amp; &apos;c&apos; 2.00"));
  EXPECT_FALSE(has_text(elements, "uniform 9.00"));
  // x ticks every 200k tokens up to 1.4M (the data ends at 1.28M).
  for (const char* tick : {"0", "200k", "400k", "1M", "1.2M", "1.4M"})
    EXPECT_TRUE(has_text(elements, tick)) << tick;
  EXPECT_FALSE(has_text(elements, "1.6M"));
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

TEST(LossPlot, YRangeIgnoresEarlySpikes) {
  LossPlot plot("spiky start");
  for (int i = 0; i < 20; ++i) plot.add_train(i, 50.0);
  for (int i = 20; i < 1000; ++i) plot.add_train(i, 2.0 - 0.0005 * i);  // 1.99 .. 1.5005
  const auto [lo, hi] = plot.y_range();
  EXPECT_GE(hi, 1.99);
  EXPECT_LT(hi, 2.5) << "the spike at 50 must not set the range";
  EXPECT_LE(lo, 1.5005);
  EXPECT_GE(lo, 1.3);

  // A reference line the run has crossed widens the range to show it.
  plot.add_reference_line(3.35, "unigram");
  const auto [lo2, hi2] = plot.y_range();
  EXPECT_LE(lo2, 1.5005);
  EXPECT_GE(hi2, 3.35);
  EXPECT_LT(hi2, 4.0);

  std::vector<XmlElement> elements;
  ASSERT_TRUE(parse_xml(plot.svg(), elements));
  EXPECT_TRUE(coordinates_inside(elements)) << "the clipped spike is drawn on the top edge";
}

TEST(LossPlot, MonotoneCurveKeepsItsWholeRange) {
  LossPlot plot("steady");
  for (int i = 0; i <= 100; ++i) plot.add_train(1000.0 * i, 4.0 - 0.02 * i);  // 4 .. 2
  const auto [lo, hi] = plot.y_range();
  EXPECT_LE(lo, 2.0);
  EXPECT_GE(hi, 4.0);
  EXPECT_LE(hi, 4.5);
}

TEST(LossPlot, EmptyPlotIsStillAValidChart) {
  const LossPlot plot("nothing yet");
  std::vector<XmlElement> elements;
  ASSERT_TRUE(parse_xml(plot.svg(), elements));
  EXPECT_TRUE(coordinates_inside(elements));
  EXPECT_TRUE(find_all(elements, "polyline").empty());
  EXPECT_TRUE(has_text(elements, "tokens seen"));
}

TEST(LossPlot, WriteSvgReplacesTheFileAtomically) {
  TempDir dir;
  const fs::path file = dir.path() / "loss.svg";
  LossPlot plot("t");
  plot.add_train(0, 3);
  plot.add_train(100, 2);
  plot.write_svg(file);
  EXPECT_EQ(read_file(file), plot.svg());
  plot.add_val(100, 2.5);
  plot.write_svg(file);  // over the old one
  EXPECT_EQ(read_file(file), plot.svg());
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir.path()))
    names.push_back(entry.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"loss.svg"}) << "no temporary file left behind";

  const fs::path bad = dir.path() / "missing" / "loss.svg";
  EXPECT_TRUE(throws_error_with([&] { plot.write_svg(bad); }, {bad.string(), "No such file"}));
}

TEST(LossPlot, RejectsNonFiniteTokens) {
  LossPlot plot("t");
  EXPECT_TRUE(throws_error_with([&] { plot.add_train(NAN, 1); }, {"add_train", "tokens"}));
  EXPECT_TRUE(
      throws_error_with([&] { plot.add_reference_line(INFINITY, "x"); }, {"add_reference_line", "x"}));
}

}  // namespace
}  // namespace recur::train
