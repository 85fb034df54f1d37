#include "cleanclip/report/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <stdexcept>

namespace clipgrad::cleanclip {
namespace {

constexpr double kFontSize = 12;   // axis labels, legend
constexpr double kSmallFont = 11;  // tick and value labels
constexpr double kTitleFont = 14;
constexpr double kCharWidth = 0.6;  // average glyph width of a sans-serif font, in ems (an estimate)
constexpr double kTickLength = 5;
constexpr double kLegendRowHeight = 18;
constexpr const char* kAxisColour = "#444";
constexpr const char* kGridColour = "#e4e4e4";
constexpr const char* kMutedText = "#666";

// Estimated width in pixels of `text` at `font_size`: used to leave room for labels and to
// decide when labels would collide. Counts UTF-8 code points, not bytes.
double text_width(std::string_view text, double font_size) {
  size_t code_points = 0;
  for (unsigned char c : text) code_points += (c & 0xC0) != 0x80;
  return static_cast<double>(code_points) * font_size * kCharWidth;
}

std::string px(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", value);
  return buffer;
}

// Builds one <svg> element; each method appends one shape. Coordinates in pixels, origin top left.
class SvgBuilder {
 public:
  SvgBuilder(double width, double height, std::string_view label) {
    open("svg");
    attribute("xmlns", "http://www.w3.org/2000/svg");
    attribute("width", px(width));
    attribute("height", px(height));
    attribute("viewBox", "0 0 " + px(width) + " " + px(height));
    attribute("role", "img");
    attribute("aria-label", escape_html(label));
    attribute("font-family", "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif");
    out_ += ">\n";
    rect(0, 0, width, height, "#ffffff", "none");
  }

  void line(double x1, double y1, double x2, double y2, std::string_view stroke, double stroke_width = 1) {
    open("line");
    attribute("x1", px(x1));
    attribute("y1", px(y1));
    attribute("x2", px(x2));
    attribute("y2", px(y2));
    attribute("stroke", stroke);
    attribute("stroke-width", px(stroke_width));
    out_ += "/>\n";
  }

  void rect(double x, double y, double width, double height, std::string_view fill, std::string_view stroke) {
    open("rect");
    attribute("x", px(x));
    attribute("y", px(y));
    attribute("width", px(width));
    attribute("height", px(height));
    attribute("fill", fill);
    attribute("stroke", stroke);
    out_ += "/>\n";
  }

  void circle(double x, double y, double radius, std::string_view fill) {
    open("circle");
    attribute("cx", px(x));
    attribute("cy", px(y));
    attribute("r", px(radius));
    attribute("fill", fill);
    out_ += "/>\n";
  }

  void polyline(const std::vector<std::pair<double, double>>& points, std::string_view stroke, double stroke_width) {
    std::string coordinates;
    for (const auto& [x, y] : points) {
      if (!coordinates.empty()) coordinates += ' ';
      coordinates += px(x);
      coordinates += ',';
      coordinates += px(y);
    }
    open("polyline");
    attribute("fill", "none");
    attribute("stroke", stroke);
    attribute("stroke-width", px(stroke_width));
    attribute("stroke-linejoin", "round");
    attribute("points", coordinates);
    out_ += "/>\n";
  }

  // `anchor`: start | middle | end. `rotate_degrees` turns the text about its anchor point.
  void text(double x, double y, std::string_view content, double font_size, std::string_view anchor = "start",
            std::string_view fill = "#222", bool bold = false, double rotate_degrees = 0) {
    open("text");
    attribute("x", px(x));
    attribute("y", px(y));
    attribute("font-size", px(font_size));
    attribute("text-anchor", anchor);
    attribute("fill", fill);
    if (bold) attribute("font-weight", "bold");
    if (rotate_degrees != 0) attribute("transform", "rotate(" + px(rotate_degrees) + " " + px(x) + " " + px(y) + ")");
    out_ += '>';
    out_ += escape_html(content);
    out_ += "</text>\n";
  }

  std::string finish() { return out_ + "</svg>\n"; }

 private:
  void open(std::string_view element) {
    out_ += '<';
    out_ += element;
  }
  // `value` must already be safe inside double quotes (numbers, colours, escaped text).
  void attribute(std::string_view name, std::string_view value) {
    out_ += ' ';
    out_ += name;
    out_ += "=\"";
    out_ += value;
    out_ += '"';
  }

  std::string out_;
};

struct LegendItem {
  std::string name;
  std::string colour;
  bool thick = false;
};

// Lays legend items left to right from `x`, wrapping at `max_x`; returns the number of rows
// (drawing only when `svg` is given, so the caller can size its margins first).
int layout_legend(SvgBuilder* svg, const std::vector<LegendItem>& items, double x, double y, double max_x,
                  bool swatch_is_line) {
  constexpr double kSwatch = 18, kGap = 6, kItemGap = 18;
  double cursor = x;
  int rows = 1;
  for (const LegendItem& item : items) {
    double item_width = kSwatch + kGap + text_width(item.name, kFontSize);
    if (cursor > x && cursor + item_width > max_x) {
      cursor = x;
      ++rows;
    }
    double row_y = y + (rows - 1) * kLegendRowHeight;
    if (svg) {
      if (swatch_is_line)
        svg->line(cursor, row_y - 4, cursor + kSwatch, row_y - 4, item.colour, item.thick ? 3 : 2);
      else
        svg->rect(cursor + 4, row_y - 10, 11, 11, item.colour, "none");
      svg->text(cursor + kSwatch + kGap, row_y, item.name, kFontSize);
    }
    cursor += item_width + kItemGap;
  }
  return rows;
}

double widest_tick_label(const Ticks& ticks) {
  double widest = 0;
  for (double value : ticks.values) widest = std::max(widest, text_width(format_tick(value, ticks.step), kSmallFont));
  return widest;
}

// ---- what both charts draw ----

// The plot's box inside the chart, in pixels: left and top edges, width and height, and the right margin.
struct PlotArea {
  double left = 0, right = 0, top = 0, width = 0, height = 0;
};

// Room left of the plot for the rotated axis label and the y tick labels.
double y_axis_margin(const Ticks& y_ticks) { return 10 + kFontSize + 8 + widest_tick_label(y_ticks) + kTickLength + 4; }

void draw_title_and_legend(SvgBuilder& svg, const std::string& title, const std::vector<LegendItem>& legend,
                           double left, double max_x, bool swatch_is_line) {
  svg.text(left, 18, title, kTitleFont, "start", "#222", true);
  layout_legend(&svg, legend, left, 28 + kLegendRowHeight - 4, max_x, swatch_is_line);
}

// A horizontal grid line, a tick and a label at every y tick.
void draw_y_grid(SvgBuilder& svg, const PlotArea& area, const Ticks& y_ticks, const LinearScale& y_scale) {
  for (double value : y_ticks.values) {
    double y = y_scale(value);
    svg.line(area.left, y, area.left + area.width, y, kGridColour);
    svg.line(area.left - kTickLength, y, area.left, y, kAxisColour);
    svg.text(area.left - kTickLength - 3, y + 4, format_tick(value, y_ticks.step), kSmallFont, "end", kMutedText);
  }
}

void draw_y_label(SvgBuilder& svg, const PlotArea& area, const std::string& label) {
  svg.text(10 + kFontSize, area.top + area.height / 2, label, kFontSize, "middle", "#222", false, -90);
}

// ---- the line chart ----

struct PointRange {
  double x_min = INFINITY, x_max = -INFINITY, y_min = INFINITY, y_max = -INFINITY;
};

// The range of every series' points; throws when a series' x and y differ in length, a point is
// not finite, or there is no point at all.
PointRange line_chart_range(const LineChart& chart) {
  PointRange range;
  for (const LineSeries& series : chart.series) {
    if (series.x.size() != series.y.size())
      throw std::invalid_argument("line chart '" + chart.title + "': series '" + series.name + "' has " +
                                  std::to_string(series.x.size()) + " x values and " + std::to_string(series.y.size()) +
                                  " y values");
    for (size_t i = 0; i < series.x.size(); ++i) {
      if (!std::isfinite(series.x[i]) || !std::isfinite(series.y[i]))
        throw std::invalid_argument("line chart '" + chart.title + "': series '" + series.name + "' point " +
                                    std::to_string(i) + " is not finite; leave such points out");
      range.x_min = std::min(range.x_min, series.x[i]);
      range.x_max = std::max(range.x_max, series.x[i]);
      range.y_min = std::min(range.y_min, series.y[i]);
      range.y_max = std::max(range.y_max, series.y[i]);
    }
  }
  if (!std::isfinite(range.x_min) || !std::isfinite(range.y_min) || !std::isfinite(range.x_max) ||
      !std::isfinite(range.y_max))
    throw std::invalid_argument("line chart '" + chart.title + "' has no finite points to draw");
  return range;
}

struct XAxis {
  Ticks ticks;
  double lo = 0, hi = 0;  // the axis' ends
};

// The x axis spans the steps run, not a rounder range (no empty space after the last step),
// unless that leaves fewer than the two ticks an axis needs; the y axis gets round ends.
XAxis line_chart_x_axis(const PointRange& range, bool whole_x) {
  XAxis axis{nice_ticks(range.x_min, range.x_max, 7, whole_x ? 1 : 0)};
  axis.lo = axis.ticks.values.front();
  axis.hi = axis.ticks.values.back();
  std::vector<double> inside;
  for (double tick : axis.ticks.values)
    if (tick >= range.x_min - 1e-9 * axis.ticks.step && tick <= range.x_max + 1e-9 * axis.ticks.step)
      inside.push_back(tick);
  if (range.x_min < range.x_max && inside.size() >= 2) {
    axis.lo = range.x_min;
    axis.hi = range.x_max;
    axis.ticks.values = inside;
  }
  return axis;
}

// A vertical grid line, a tick and a label at every x tick.
void draw_x_grid(SvgBuilder& svg, const PlotArea& area, const Ticks& x_ticks, const LinearScale& x_scale) {
  const double bottom = area.top + area.height;
  for (double value : x_ticks.values) {
    double x = x_scale(value);
    svg.line(x, area.top, x, bottom, kGridColour);
    svg.line(x, bottom, x, bottom + kTickLength, kAxisColour);
    svg.text(x, bottom + kTickLength + kSmallFont + 1, format_tick(value, x_ticks.step), kSmallFont, "middle",
             kMutedText);
  }
}

// One polyline per series (markers too when it has few points), emphasised series last, so that
// they stay visible where lines cross.
void draw_series(SvgBuilder& svg, const LineChart& chart, const LinearScale& x_scale, const LinearScale& y_scale) {
  std::vector<size_t> order(chart.series.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_partition(order.begin(), order.end(), [&](size_t i) { return !chart.series[i].emphasised; });
  for (size_t i : order) {
    const LineSeries& series = chart.series[i];
    std::vector<std::pair<double, double>> points;
    for (size_t kept : downsample_min_max(series.y, std::max<size_t>(chart.max_points, 4)))
      points.emplace_back(x_scale(series.x[kept]), y_scale(series.y[kept]));
    if (points.empty()) continue;
    svg.polyline(points, palette_colour(i), series.emphasised ? 2.5 : 1.5);
    if (points.size() <= 20)
      for (const auto& [x, y] : points) svg.circle(x, y, 3, palette_colour(i));
  }
}

// ---- the bar chart ----

// Throws unless there are groups, and a row of values (and of errors, when given) per group.
void check_bar_chart(const BarChart& chart) {
  if (chart.groups.empty()) throw std::invalid_argument("bar chart '" + chart.title + "' has no groups");
  if (chart.values.size() != chart.groups.size())
    throw std::invalid_argument("bar chart '" + chart.title + "': " + std::to_string(chart.values.size()) +
                                " rows of values for " + std::to_string(chart.groups.size()) + " groups");
  if (!chart.errors.empty() && chart.errors.size() != chart.groups.size())
    throw std::invalid_argument("bar chart '" + chart.title + "': " + std::to_string(chart.errors.size()) +
                                " rows of errors for " + std::to_string(chart.groups.size()) + " groups");
}

// The half-length of bar b's whisker in group g (0: none); throws when the group's errors do not match its bars.
double bar_error(const BarChart& chart, size_t g, size_t b) {
  if (chart.errors.empty()) return 0.0;
  if (chart.errors[g].size() != chart.bar_names.size())
    throw std::invalid_argument("bar chart '" + chart.title + "': group '" + chart.groups[g] + "' has " +
                                std::to_string(chart.errors[g].size()) + " errors for " +
                                std::to_string(chart.bar_names.size()) + " bars");
  return std::isfinite(chart.errors[g][b]) ? std::abs(chart.errors[g][b]) : 0.0;
}

// [y_min, y_max] widened to hold every bar and its whisker; throws when a group's values do not match the bars.
void widen_to_bars(const BarChart& chart, double& y_min, double& y_max) {
  for (size_t g = 0; g < chart.values.size(); ++g) {
    if (chart.values[g].size() != chart.bar_names.size())
      throw std::invalid_argument("bar chart '" + chart.title + "': group '" + chart.groups[g] + "' has " +
                                  std::to_string(chart.values[g].size()) + " values for " +
                                  std::to_string(chart.bar_names.size()) + " bars");
    for (size_t b = 0; b < chart.values[g].size(); ++b) {
      double value = chart.values[g][b];
      if (!std::isfinite(value)) continue;
      y_max = std::max(y_max, value + bar_error(chart, g, b));
      y_min = std::min(y_min, value - bar_error(chart, g, b));
    }
  }
}

constexpr double kSlant = 30;  // degrees, of category labels too wide for their group

struct BarLayout {
  PlotArea area;
  double group_width = 0, bar_slot = 0, bar_width = 0, bars = 1;
  bool slanted = false;          // category labels slanted
  bool vertical_values = false;  // value labels turned vertical
};

// Where everything goes: category labels slant when the widest would not fit under its group,
// value labels turn vertical when they are wider than a bar's slot, and the margins make room.
BarLayout bar_layout(const BarChart& chart, const Ticks& y_ticks, double y_max, const std::vector<LegendItem>& legend) {
  BarLayout layout;
  PlotArea& area = layout.area;
  area.left = y_axis_margin(y_ticks);
  area.right = 16;
  area.width = chart.width - area.left - area.right;
  layout.group_width = area.width / static_cast<double>(chart.groups.size());
  double widest_label = 0;
  for (const std::string& group : chart.groups) widest_label = std::max(widest_label, text_width(group, kFontSize));
  layout.slanted = widest_label > layout.group_width - 8;
  double label_height =
      layout.slanted ? widest_label * std::sin(kSlant * std::numbers::pi / 180) + kFontSize : kFontSize;
  layout.bars = static_cast<double>(std::max<size_t>(chart.bar_names.size(), 1));
  layout.bar_slot = std::min(layout.group_width * 0.8 / layout.bars, 90.0);
  layout.bar_width = layout.bar_slot * 0.8;
  double widest_value = text_width(format_fixed(y_max, chart.value_decimals), kSmallFont);
  layout.vertical_values = widest_value > layout.bar_slot - 2;
  int legend_rows = layout_legend(nullptr, legend, area.left, 0, chart.width - area.right, false);
  // Room for a value label above a full bar.
  area.top = 28 + legend_rows * kLegendRowHeight + (layout.vertical_values ? widest_value + 6 : 14);
  double bottom = kTickLength + 6 + label_height + 12;
  area.height = chart.height - area.top - bottom;
  if (area.width < 40 || area.height < 40)
    throw std::invalid_argument("bar chart '" + chart.title + "': " + px(chart.width) + "x" + px(chart.height) +
                                " px leaves no room for the bars; make it larger");
  return layout;
}

// Group g's bars, each with its value label (above the bar, or above its whisker), and the group's label.
void draw_bar_group(SvgBuilder& svg, const BarChart& chart, const BarLayout& layout, const LinearScale& y_scale,
                    double baseline, size_t g) {
  const PlotArea& area = layout.area;
  double centre = area.left + (static_cast<double>(g) + 0.5) * layout.group_width;
  double first_slot = centre - layout.bar_slot * layout.bars / 2;
  for (size_t b = 0; b < chart.bar_names.size(); ++b) {
    double value = chart.values[g][b];
    double bar_centre = first_slot + (static_cast<double>(b) + 0.5) * layout.bar_slot;
    if (!std::isfinite(value)) {
      svg.text(bar_centre, baseline - 4, "n/a", kSmallFont, "middle", kMutedText);
      continue;
    }
    double y = y_scale(value);
    svg.rect(bar_centre - layout.bar_width / 2, std::min(y, baseline), layout.bar_width, std::abs(baseline - y),
             palette_colour(chart.first_colour + b), "none");
    double label_bottom = std::min(y, baseline);
    if (double error = bar_error(chart, g, b); error > 0) {
      double whisker_top = y_scale(value + error), whisker_bottom = y_scale(value - error);
      svg.line(bar_centre, whisker_top, bar_centre, whisker_bottom, "#222");
      svg.line(bar_centre - 4, whisker_top, bar_centre + 4, whisker_top, "#222");
      svg.line(bar_centre - 4, whisker_bottom, bar_centre + 4, whisker_bottom, "#222");
      label_bottom = std::min(label_bottom, whisker_top);
    }
    std::string label = format_fixed(value, chart.value_decimals);
    if (layout.vertical_values)
      svg.text(bar_centre + 4, label_bottom - 4, label, kSmallFont, "start", "#222", false, -90);
    else
      svg.text(bar_centre, label_bottom - 4, label, kSmallFont, "middle");
  }
  double label_y = area.top + area.height + kTickLength + 6 + kFontSize - 2;
  if (layout.slanted)
    svg.text(centre + 4, label_y, chart.groups[g], kFontSize, "end", "#222", false, -kSlant);
  else
    svg.text(centre, label_y, chart.groups[g], kFontSize, "middle");
}

}  // namespace

std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string format_fixed(double value, int decimals) {
  if (!std::isfinite(value)) return "n/a";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  std::string text = buffer;
  // "-0.000" reads as a negative number that is not there.
  if (text[0] == '-' && text.find_first_not_of("-0.") == std::string::npos) text.erase(0, 1);
  return text;
}

std::string format_mean_std(double mean, double deviation, int decimals) {
  if (!std::isfinite(mean)) return "n/a";
  if (!std::isfinite(deviation)) return format_fixed(mean, decimals);
  return format_fixed(mean, decimals) + " ± " + format_fixed(deviation, decimals);
}

double LinearScale::operator()(double value) const {
  double span = domain_hi - domain_lo;
  if (span == 0) return (range_lo + range_hi) / 2;
  return range_lo + (value - domain_lo) / span * (range_hi - range_lo);
}

Ticks nice_ticks(double lo, double hi, int target_count, double min_step) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi)
    throw std::invalid_argument("nice_ticks: need finite lo <= hi, got [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "]");
  if (lo == hi) {
    double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  double rough = (hi - lo) / std::max(1, target_count - 1);
  double magnitude = std::pow(10.0, std::floor(std::log10(rough)));
  double residual = rough / magnitude;
  double nice = residual < 1.5 ? 1 : residual < 3 ? 2 : residual < 7 ? 5 : 10;
  Ticks ticks;
  ticks.step = std::max(nice * magnitude, min_step);
  // The small slack keeps 0.3 / 0.1 = 2.9999... from adding a tick below 0.3.
  auto first = static_cast<int64_t>(std::floor(lo / ticks.step + 1e-9));
  auto last = static_cast<int64_t>(std::ceil(hi / ticks.step - 1e-9));
  for (int64_t i = first; i <= last; ++i) ticks.values.push_back(static_cast<double>(i) * ticks.step);
  return ticks;
}

std::string format_tick(double value, double step) {
  if (step >= 1000 && std::fmod(std::abs(value), 1000) == 0 && value != 0) return format_fixed(value / 1000, 0) + "k";
  int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  return format_fixed(value, decimals);
}

std::vector<size_t> downsample_min_max(const std::vector<double>& y, size_t max_points) {
  if (max_points < 4) throw std::invalid_argument("downsample_min_max: max_points must be at least 4");
  std::vector<size_t> kept;
  if (y.size() <= max_points) {
    for (size_t i = 0; i < y.size(); ++i) kept.push_back(i);
    return kept;
  }
  size_t interior = y.size() - 2;  // points 1 .. size-2 share the buckets
  size_t buckets = (max_points - 2) / 2;
  kept.push_back(0);
  for (size_t bucket = 0; bucket < buckets; ++bucket) {
    size_t begin = 1 + bucket * interior / buckets, end = 1 + (bucket + 1) * interior / buckets;
    if (begin == end) continue;
    size_t lowest = begin, highest = begin;
    for (size_t i = begin; i < end; ++i) {
      if (y[i] < y[lowest]) lowest = i;
      if (y[i] > y[highest]) highest = i;
    }
    kept.push_back(std::min(lowest, highest));
    if (lowest != highest) kept.push_back(std::max(lowest, highest));
  }
  kept.push_back(y.size() - 1);
  return kept;
}

const char* palette_colour(size_t index) {
  // Colour-blind-friendly and distinct in greyscale print (Okabe-Ito, darkened yellow).
  static const char* const kPalette[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#56b4e9", "#b8860b", "#000000"};
  return kPalette[index % (sizeof kPalette / sizeof kPalette[0])];
}

std::string render_line_chart(const LineChart& chart) {
  const PointRange range = line_chart_range(chart);
  const XAxis x_axis = line_chart_x_axis(range, chart.whole_x);
  const Ticks y_ticks = nice_ticks(range.y_min, range.y_max, 6);
  std::vector<LegendItem> legend;
  for (size_t i = 0; i < chart.series.size(); ++i)
    legend.push_back({chart.series[i].name, palette_colour(i), chart.series[i].emphasised});

  // Margins: title and legend rows above; tick labels and the axis label below and to the left.
  PlotArea area;
  area.left = y_axis_margin(y_ticks);
  const std::string last_x_label = format_tick(x_axis.ticks.values.back(), x_axis.ticks.step);
  area.right = std::max(16.0, text_width(last_x_label, kSmallFont) / 2 + 6);
  int legend_rows = layout_legend(nullptr, legend, area.left, 0, chart.width - area.right, true);
  area.top = 28 + legend_rows * kLegendRowHeight + 8;
  const double bottom = kTickLength + kSmallFont + 8 + kFontSize + 10;
  area.width = chart.width - area.left - area.right;
  area.height = chart.height - area.top - bottom;
  if (area.width < 40 || area.height < 40)
    throw std::invalid_argument("line chart '" + chart.title + "': " + px(chart.width) + "x" + px(chart.height) +
                                " px leaves no room for the plot; make it larger");

  LinearScale x_scale{x_axis.lo, x_axis.hi, area.left, area.left + area.width};
  LinearScale y_scale{y_ticks.values.front(), y_ticks.values.back(), area.top + area.height, area.top};
  SvgBuilder svg(chart.width, chart.height, chart.title);
  draw_title_and_legend(svg, chart.title, legend, area.left, chart.width - area.right, true);
  // Grid and ticks first, so that the data is drawn over them.
  draw_y_grid(svg, area, y_ticks, y_scale);
  draw_x_grid(svg, area, x_axis.ticks, x_scale);
  svg.line(area.left, area.top + area.height, area.left + area.width, area.top + area.height, kAxisColour);
  svg.line(area.left, area.top, area.left, area.top + area.height, kAxisColour);
  svg.text(area.left + area.width / 2, chart.height - 8, chart.x_label, kFontSize, "middle");
  draw_y_label(svg, area, chart.y_label);
  draw_series(svg, chart, x_scale, y_scale);
  return svg.finish();
}

std::string render_bar_chart(const BarChart& chart) {
  check_bar_chart(chart);
  double y_min = chart.y_min, y_max = chart.y_max;
  widen_to_bars(chart, y_min, y_max);
  const Ticks y_ticks = nice_ticks(y_min, y_max, 6);
  std::vector<LegendItem> legend;
  for (size_t b = 0; b < chart.bar_names.size(); ++b)
    legend.push_back({chart.bar_names[b], palette_colour(chart.first_colour + b)});

  const BarLayout layout = bar_layout(chart, y_ticks, y_max, legend);
  const PlotArea& area = layout.area;
  LinearScale y_scale{y_ticks.values.front(), y_ticks.values.back(), area.top + area.height, area.top};
  SvgBuilder svg(chart.width, chart.height, chart.title);
  draw_title_and_legend(svg, chart.title, legend, area.left, chart.width - area.right, false);
  draw_y_grid(svg, area, y_ticks, y_scale);
  draw_y_label(svg, area, chart.y_label);
  const double baseline = y_scale(std::max(0.0, y_ticks.values.front()));
  for (size_t g = 0; g < chart.groups.size(); ++g) draw_bar_group(svg, chart, layout, y_scale, baseline, g);
  svg.line(area.left, baseline, area.left + area.width, baseline, kAxisColour);
  svg.line(area.left, area.top, area.left, area.top + area.height, kAxisColour);
  return svg.finish();
}

}  // namespace clipgrad::cleanclip
