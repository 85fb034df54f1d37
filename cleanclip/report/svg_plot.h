// A small SVG plotting helper for the study report: linear scales, "nice" axis
// ticks, line charts (polylines) and grouped bar charts, each rendered as one
// self-contained <svg> element that can be inlined in an HTML page. Sizes are
// in CSS pixels; text uses the page's font (no font files, no scripts).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace clipgrad::cleanclip {

// Text made safe for HTML and SVG content and attribute values (& < > " ').
std::string escape_html(std::string_view text);

// `value` with `decimals` digits after the point ("0.812"); "n/a" when it is not finite.
std::string format_fixed(double value, int decimals);

// "0.812 ± 0.012"; the mean alone when the deviation is not finite (one value); "n/a" without a mean.
std::string format_mean_std(double mean, double deviation, int decimals);

// Maps [domain_lo, domain_hi] linearly onto [range_lo, range_hi] (pixels; range_lo > range_hi
// for a y axis, whose pixels grow downwards). A zero-width domain maps everything to the middle.
struct LinearScale {
  double domain_lo = 0, domain_hi = 1;
  double range_lo = 0, range_hi = 1;
  double operator()(double value) const;
};

// Axis ticks at multiples of 1, 2 or 5 x 10^k: about `target_count` of them, the first at or below
// `lo` and the last at or above `hi`, so that the axis spans its data with round ends. `lo` <= `hi`,
// both finite; equal ends get a padded range around them. The step is at least `min_step` (1 for
// an axis of whole numbers, such as steps).
struct Ticks {
  std::vector<double> values;  // increasing
  double step = 1;             // distance between neighbours, for formatting
};
Ticks nice_ticks(double lo, double hi, int target_count, double min_step = 0);

// A tick label: as many decimals as the step needs ("0.25", "400"); thousands as "12k" when the step is.
std::string format_tick(double value, double step);

// Indices of at most `max_points` points of a polyline of `count` points that keep its shape: the
// first and last point and, for each of (max_points - 2) / 2 equal buckets between them, the bucket's
// lowest and highest `y` in x order. All indices when `count` <= `max_points`. Increasing.
std::vector<size_t> downsample_min_max(const std::vector<double>& y, size_t max_points);

struct LineSeries {
  std::string name;         // legend text
  std::vector<double> x;    // [n] increasing
  std::vector<double> y;    // [n] finite
  bool emphasised = false;  // drawn thicker (the total loss)
};

struct LineChart {
  std::string title, x_label, y_label;
  double width = 560, height = 320;
  bool whole_x = false;            // x values are whole numbers (steps): no fractional ticks
  std::vector<LineSeries> series;  // at least one with at least one point
  size_t max_points = 1000;        // per series, after downsampling
};

// One <svg>: title, legend row, axes with ticks and labels, one polyline per series (markers too
// when a series has few points). Throws std::invalid_argument when there is nothing to draw.
std::string render_line_chart(const LineChart& chart);

struct BarChart {
  std::string title, y_label;
  double width = 1100, height = 340;
  std::vector<std::string> groups;          // x categories (the stages)
  std::vector<std::string> bar_names;       // bars within each group (legend)
  std::vector<std::vector<double>> values;  // [groups][bar_names]; NaN = not measured ("n/a")
  std::vector<std::vector<double>> errors;  // [groups][bar_names] half-lengths of whiskers (NaN: none), or empty
  double y_min = 0, y_max = 1;              // axis range; widened to hold larger values
  size_t first_colour = 0;  // palette index of the first bar, so that charts of other things use other colours
  int value_decimals = 3;   // for the labels above the bars
};

// One <svg>: grouped bars with value labels (and whiskers where errors are given), category labels (slanted when they
// would collide), y axis with ticks, a legend. Throws std::invalid_argument when values do not match the groups.
std::string render_bar_chart(const BarChart& chart);

// The colour of series or bar `index` in the report's palette (hex "#rrggbb"), cycling.
const char* palette_colour(size_t index);

}  // namespace clipgrad::cleanclip
