// Charts of means with 95% intervals for the study's report: each point drawn
// with its error bars (vertical, and horizontal where the x value is itself a
// mean, as on the clean-accuracy / ASR plane), points of a series joined in
// order; x linear or logarithmic. One self-contained <svg> per chart.
#pragma once

#include <string>
#include <vector>

namespace clipgrad::cleanclip {

struct ErrorSeries {
  std::string name;
  std::vector<double> x, y;           // [n]; points with a non-finite x or y are left out
  std::vector<double> y_low, y_high;  // [n] or empty: the interval around y
  std::vector<double> x_low, x_high;  // [n] or empty: the interval around x
  std::vector<std::string> labels;    // [n] or empty: a small label beside each point ("e3")
  bool joined = true;                 // a line through the points, in order
  bool dashed = false;
};

struct ErrorChart {
  std::string title, x_label, y_label;
  double width = 540, height = 340;
  bool log_x = false;
  std::vector<double> x_ticks;  // empty: nice ticks over the data (log: the data's distinct x values)
  double y_min = 0, y_max = 1;  // widened to hold every interval
  bool x_from_data = true;      // false: x spans [x_min, x_max]
  double x_min = 0, x_max = 1;
  std::vector<ErrorSeries> series;
};

// Throws std::invalid_argument when no series has a drawable point.
std::string render_error_chart(const ErrorChart& chart);

}  // namespace clipgrad::cleanclip
