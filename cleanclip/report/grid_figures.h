// The figures of a recipe's study report (grid_report.h), as HTML: inline SVG
// charts with 95% bootstrap intervals, and each trigger on test images.
#pragma once

#include <string>

#include "cleanclip/report/grid_report.h"

namespace clipgrad::cleanclip {

// Every figure the report's records allow, with captions; figures whose experiment has not run are left out.
std::string grid_figures_html(const GridReport& report);

}  // namespace clipgrad::cleanclip
