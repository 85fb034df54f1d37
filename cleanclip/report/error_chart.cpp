#include "cleanclip/report/error_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <stdexcept>

#include "cleanclip/report/svg_plot.h"

namespace clipgrad::cleanclip {

namespace {

std::string px(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", value);
  return text;
}

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

bool drawable(const ErrorSeries& series, size_t i) {
  return i < series.y.size() && std::isfinite(series.x[i]) && std::isfinite(series.y[i]);
}

double at(const std::vector<double>& values, size_t i, double otherwise) {
  return i < values.size() && std::isfinite(values[i]) ? values[i] : otherwise;
}

struct Extent {
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  std::set<double> xs;
};

Extent data_extent(const ErrorChart& chart) {
  Extent extent;
  for (const ErrorSeries& s : chart.series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!drawable(s, i)) continue;
      extent.xs.insert(s.x[i]);
      extent.x_lo = std::min(extent.x_lo, at(s.x_low, i, s.x[i]));
      extent.x_hi = std::max(extent.x_hi, at(s.x_high, i, s.x[i]));
      extent.y_lo = std::min(extent.y_lo, at(s.y_low, i, s.y[i]));
      extent.y_hi = std::max(extent.y_hi, at(s.y_high, i, s.y[i]));
    }
  if (extent.xs.empty()) throw std::invalid_argument("chart '" + chart.title + "': nothing to draw");
  return extent;
}

std::string text(double x, double y, const std::string& content, double size, const char* anchor,
                 const char* extra = "") {
  return "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\" font-size=\"" + px(size) + "\" text-anchor=\"" + anchor +
         "\" " + extra + ">" + escape_html(content) + "</text>\n";
}

std::string line(double x1, double y1, double x2, double y2, const std::string& stroke, double width = 1,
                 const char* extra = "") {
  return "<line x1=\"" + px(x1) + "\" y1=\"" + px(y1) + "\" x2=\"" + px(x2) + "\" y2=\"" + px(y2) + "\" stroke=\"" +
         stroke + "\" stroke-width=\"" + px(width) + "\" " + extra + "/>\n";
}

std::string draw_series(const ErrorSeries& s, const std::string& colour, const auto& x_of, const auto& y_of) {
  std::string svg, points;
  for (size_t i = 0; i < s.x.size(); ++i) {
    if (!drawable(s, i)) continue;
    const double x = x_of(s.x[i]), y = y_of(s.y[i]);
    points += px(x) + "," + px(y) + " ";
    if (i < s.y_low.size() && std::isfinite(s.y_low[i]))
      svg += line(x, y_of(s.y_low[i]), x, y_of(s.y_high[i]), colour) +
             line(x - 3, y_of(s.y_low[i]), x + 3, y_of(s.y_low[i]), colour) +
             line(x - 3, y_of(s.y_high[i]), x + 3, y_of(s.y_high[i]), colour);
    if (i < s.x_low.size() && std::isfinite(s.x_low[i])) svg += line(x_of(s.x_low[i]), y, x_of(s.x_high[i]), y, colour);
    svg += "<circle cx=\"" + px(x) + "\" cy=\"" + px(y) + "\" r=\"3\" fill=\"" + colour + "\"/>\n";
    if (i < s.labels.size() && !s.labels[i].empty())
      svg += text(x + 5, y - 4, s.labels[i], 9, "start", "fill=\"#555\"");
  }
  if (s.joined && !points.empty())
    svg = "<polyline fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"1.6\" " +
          (s.dashed ? "stroke-dasharray=\"5 3\" " : "") + "points=\"" + points + "\"/>\n" + svg;
  return svg;
}

}  // namespace

std::string render_error_chart(const ErrorChart& chart) {
  const Extent extent = data_extent(chart);
  const double left = 58, right = 18, top = 30 + 18 * std::ceil(chart.series.size() / 3.0), bottom = 44;
  const double plot_w = chart.width - left - right, plot_h = chart.height - top - bottom;
  double x_lo = chart.x_from_data ? extent.x_lo : chart.x_min, x_hi = chart.x_from_data ? extent.x_hi : chart.x_max;
  std::vector<double> x_ticks = chart.x_ticks;
  if (x_ticks.empty() && chart.log_x) x_ticks.assign(extent.xs.begin(), extent.xs.end());
  if (x_ticks.empty()) {
    const Ticks ticks = nice_ticks(x_lo, x_hi, 6);
    x_ticks = ticks.values;
  }
  x_lo = std::min(x_lo, x_ticks.front()), x_hi = std::max(x_hi, x_ticks.back());
  const auto transform = [&](double x) { return chart.log_x ? std::log(std::max(x, 1e-300)) : x; };
  double t_lo = transform(x_lo), t_hi = transform(x_hi);
  if (chart.log_x || t_hi == t_lo) {  // room for the outermost points' markers
    const double pad = t_hi == t_lo ? 1 : (t_hi - t_lo) * 0.06;
    t_lo -= pad, t_hi += pad;
  }
  const Ticks y_ticks = nice_ticks(std::min(chart.y_min, extent.y_lo), std::max(chart.y_max, extent.y_hi), 6);
  const LinearScale x_scale{t_lo, t_hi, left, left + plot_w};
  const LinearScale y_scale{y_ticks.values.front(), y_ticks.values.back(), top + plot_h, top};
  const auto x_of = [&](double x) { return x_scale(transform(x)); };
  const auto y_of = [&](double y) { return y_scale(y); };

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + px(chart.width) + "\" height=\"" +
                    px(chart.height) + "\" viewBox=\"0 0 " + px(chart.width) + " " + px(chart.height) +
                    "\" role=\"img\" aria-label=\"" + escape_html(chart.title) +
                    "\" font-family=\"system-ui, sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n";
  svg += text(left, 18, chart.title, 14, "start", "font-weight=\"bold\"");
  for (size_t s = 0; s < chart.series.size(); ++s) {
    const double lx = left + (s % 3) * (plot_w / 3), ly = 36 + 18 * (s / 3);
    svg += line(lx, ly - 4, lx + 18, ly - 4, palette_colour(s), 2.5,
                chart.series[s].dashed ? "stroke-dasharray=\"5 3\"" : "");
    svg += text(lx + 22, ly, chart.series[s].name, 11, "start");
  }
  for (double y : y_ticks.values) {
    svg += line(left, y_of(y), left + plot_w, y_of(y), "#e4e4e4");
    svg += text(left - 6, y_of(y) + 4, format_tick(y, y_ticks.step), 11, "end");
  }
  for (double x : x_ticks) {
    svg += line(x_of(x), top, x_of(x), top + plot_h, "#eeeeee");
    svg += text(x_of(x), top + plot_h + 16, number(x), 11, "middle");
  }
  svg += line(left, top + plot_h, left + plot_w, top + plot_h, "#444") + line(left, top, left, top + plot_h, "#444");
  svg += text(left + plot_w / 2, chart.height - 8, chart.x_label, 12, "middle");
  svg += text(14, top + plot_h / 2, chart.y_label, 12, "middle",
              ("transform=\"rotate(-90 14 " + px(top + plot_h / 2) + ")\"").c_str());
  for (size_t s = 0; s < chart.series.size(); ++s) svg += draw_series(chart.series[s], palette_colour(s), x_of, y_of);
  return svg + "</svg>\n";
}

}  // namespace clipgrad::cleanclip
