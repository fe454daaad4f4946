#include "recur/models/tag_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include "recur/io/atomic_file.h"

namespace recur::models {

namespace {

// Every tag seen (gold or guessed), by falling gold count, then by name.
std::vector<std::string> tags_in_order(const TagScorer& s) {
  std::vector<std::string> tags;
  for (const auto& [tag, counts] : s.by_tag()) tags.push_back(tag);
  std::stable_sort(tags.begin(), tags.end(), [&](const std::string& a, const std::string& b) {
    return s.by_tag().at(a).gold > s.by_tag().at(b).gold;
  });
  return tags;
}

double percent(std::int64_t part, std::int64_t whole) {
  return whole > 0 ? 100.0 * double(part) / double(whole) : 0.0;
}

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else
      out += c;
  }
  return out;
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  io::write_file_atomic(path.string(), std::as_bytes(std::span(text.data(), text.size())));
}

}  // namespace

std::string tag_table(const TagScorer& s, const std::string& what) {
  std::string out = fmt::format("# {}: {} words, accuracy {:.2f}%\n", what, s.tokens(), s.accuracy());
  out += "tag\tgold\tpredicted\tcorrect\tprecision\trecall\tf1\n";
  for (const std::string& tag : tags_in_order(s)) {
    const TagScorer::TagCounts& c = s.by_tag().at(tag);
    const double p = percent(c.correct, c.guessed), r = percent(c.correct, c.gold);
    out += fmt::format("{}\t{}\t{}\t{}\t{:.2f}\t{:.2f}\t{:.2f}\n", tag, c.gold, c.guessed, c.correct, p, r,
                       p + r > 0 ? 2 * p * r / (p + r) : 0.0);
  }
  return out;
}

std::string confusion_svg(const TagScorer& s, const std::string& title) {
  const std::vector<std::string> tags = tags_in_order(s);
  const auto K = static_cast<int>(tags.size());
  const int cell = 26, label = 70, top = 40 + label;
  const int width = label + K * cell + 20, height = top + K * cell + 20;
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" "
      "font-size=\"9\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"16\" font-size=\"13\">{}</text>\n"
      "<text x=\"{}\" y=\"32\" font-size=\"10\" fill=\"#555\">rows: gold tag; columns: predicted; shade: "
      "share "
      "of the row</text>\n",
      width, height, label, escape(title), label);
  for (int j = 0; j < K; ++j)
    svg += fmt::format("<text transform=\"translate({},{}) rotate(-60)\">{}</text>\n",
                       label + j * cell + cell / 2, top - 4, escape(tags[size_t(j)]));
  for (int i = 0; i < K; ++i) {
    const std::int64_t row = s.by_tag().at(tags[size_t(i)]).gold;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", label - 4,
                       top + i * cell + cell / 2 + 3, escape(tags[size_t(i)]));
    for (int j = 0; j < K; ++j) {
      const auto it = s.confusion().find({tags[size_t(i)], tags[size_t(j)]});
      const std::int64_t n = it == s.confusion().end() ? 0 : it->second;
      const double share = row > 0 ? double(n) / double(row) : 0.0;
      // White to dark blue; the diagonal in blue, errors in red.
      const int shade = static_cast<int>(255 * (1.0 - std::min(1.0, share)));
      const std::string fill =
          n == 0   ? "#ffffff"
          : i == j ? fmt::format("rgb({},{},255)", shade, shade)
                   : fmt::format("rgb(255,{},{})", std::min(shade, 235), std::min(shade, 235));
      svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"#ddd\"/>\n",
                         label + j * cell, top + i * cell, cell, cell, fill);
      if (n > 0)
        svg += fmt::format(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"7\" fill=\"{}\">{}</text>\n",
            label + j * cell + cell / 2, top + i * cell + cell / 2 + 3, share > 0.5 ? "white" : "black", n);
    }
  }
  svg += "</svg>\n";
  return svg;
}

void write_tag_reports(const std::filesystem::path& dir, const TagScorer& scores, const std::string& what) {
  write_text(dir / "tags.tsv", tag_table(scores, what));
  write_text(dir / "confusion.svg", confusion_svg(scores, what));
}

}  // namespace recur::models
