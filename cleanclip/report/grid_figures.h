// The figures of a recipe's study report (grid_report.h), as HTML: inline SVG
// charts with 95% bootstrap intervals, and each trigger on test images.
#pragma once

#include <string>
#include <vector>

#include "cleanclip/report/grid_report.h"

namespace clipgrad::cleanclip {

// One chart of the report: a self-contained SVG (written as OUT/figures/<name>.svg, linked from results.md
// and inlined in report.html).
struct GridFigure {
  std::string
      name;  // a file stem: "rates-badnet", "lambda2", "rows", "lr", "trajectory-wanet", "pretraining-top1", ...
  std::string title, svg, caption;
};

// Every chart the report's records allow, in the report's order; charts whose experiment has not run are left out.
std::vector<GridFigure> grid_figures(const GridReport& report);

// The charts and each trigger on test images, as HTML (inline SVG, images as data URIs).
std::string grid_figures_html(const GridReport& report);

}  // namespace clipgrad::cleanclip
