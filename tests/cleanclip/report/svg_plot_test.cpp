// The plotting helper: escaping, number formats, scales, nice ticks, min/max
// downsampling, and the structure of the line and bar charts it draws.
#include "cleanclip/report/svg_plot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <regex>

#include "tensor/random.h"

namespace clipgrad::cleanclip {
namespace {

size_t count_of(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++count;
  return count;
}

TEST(SvgPlot, EscapesEveryMarkupCharacter) {
  EXPECT_EQ(escape_html(R"(<a href="x">Tom & 'Jerry'</a>)"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
  EXPECT_EQ(escape_html("plain-name_1 ünïcode"), "plain-name_1 ünïcode");
}

TEST(SvgPlot, FormatsFixedNumbers) {
  EXPECT_EQ(format_fixed(0.81249, 3), "0.812");
  EXPECT_EQ(format_fixed(-0.0001, 3), "0.000");  // no "-0.000"
  EXPECT_EQ(format_fixed(-0.25, 2), "-0.25");
  EXPECT_EQ(format_fixed(NAN, 3), "n/a");
  EXPECT_EQ(format_fixed(INFINITY, 3), "n/a");
  EXPECT_EQ(format_mean_std(0.9, 0.1, 3), "0.900 ± 0.100");
  EXPECT_EQ(format_mean_std(0.9, NAN, 3), "0.900");
  EXPECT_EQ(format_mean_std(NAN, NAN, 3), "n/a");
}

TEST(SvgPlot, LinearScaleMapsEndsAndFlipsForY) {
  LinearScale x{0, 10, 50, 150};
  EXPECT_DOUBLE_EQ(x(0), 50);
  EXPECT_DOUBLE_EQ(x(10), 150);
  EXPECT_DOUBLE_EQ(x(2.5), 75);
  LinearScale y{0, 1, 300, 100};  // pixels grow downwards
  EXPECT_DOUBLE_EQ(y(0), 300);
  EXPECT_DOUBLE_EQ(y(1), 100);
  LinearScale flat{3, 3, 0, 100};
  EXPECT_DOUBLE_EQ(flat(3), 50);
}

// Every tick step must be 1, 2 or 5 times a power of ten, and the ticks must cover the data.
void expect_nice(const Ticks& ticks, double lo, double hi, int target) {
  ASSERT_GE(ticks.values.size(), 2u);
  EXPECT_LE(ticks.values.front(), lo + 1e-12);
  EXPECT_GE(ticks.values.back(), hi - 1e-12);
  EXPECT_GT(ticks.values.front(), lo - ticks.step * (1 + 1e-9));  // no needless tick below the data
  EXPECT_LT(ticks.values.back(), hi + ticks.step * (1 + 1e-9));
  double mantissa = ticks.step / std::pow(10.0, std::floor(std::log10(ticks.step)));
  EXPECT_TRUE(std::abs(mantissa - 1) < 1e-9 || std::abs(mantissa - 2) < 1e-9 || std::abs(mantissa - 5) < 1e-9)
      << "step " << ticks.step;
  EXPECT_LE(ticks.values.size(), static_cast<size_t>(2 * target + 2)) << lo << ".." << hi;
  for (size_t i = 1; i < ticks.values.size(); ++i)
    EXPECT_NEAR(ticks.values[i] - ticks.values[i - 1], ticks.step,
                1e-9 * std::max(ticks.step, std::abs(ticks.values[i])));  // i * step rounds relative to the value
}

TEST(SvgPlot, NiceTicksCoverTheDataWithRoundSteps) {
  Ticks steps = nice_ticks(0, 499, 7);
  EXPECT_EQ(steps.step, 100);
  EXPECT_EQ(steps.values.front(), 0);
  EXPECT_EQ(steps.values.back(), 500);
  expect_nice(steps, 0, 499, 7);
  Ticks losses = nice_ticks(0.31, 4.27, 6);
  EXPECT_EQ(losses.step, 1);
  EXPECT_EQ(losses.values.front(), 0);
  EXPECT_EQ(losses.values.back(), 5);
  Generator random(7);
  for (int trial = 0; trial < 200; ++trial) {
    double lo = (random.uniform() - 0.5) * std::pow(10.0, static_cast<double>(random.below(8)) - 3);
    double hi = lo + random.uniform() * std::pow(10.0, static_cast<double>(random.below(8)) - 3);
    int target = 3 + static_cast<int>(random.below(6));
    expect_nice(nice_ticks(lo, hi, target), lo, hi, target);
  }
  Ticks single = nice_ticks(2, 2, 5);  // one value: a padded range around it
  EXPECT_LT(single.values.front(), 2);
  EXPECT_GT(single.values.back(), 2);
  Ticks whole = nice_ticks(0, 0, 5, 1);  // one step of training: ticks at whole steps
  EXPECT_EQ(whole.values, (std::vector<double>{-1, 0, 1}));
  EXPECT_EQ(nice_ticks(0, 3, 7, 1).step, 1);
  Ticks zero = nice_ticks(0, 0, 5);
  EXPECT_LT(zero.values.front(), 0);
  EXPECT_GT(zero.values.back(), 0);
  EXPECT_THROW(nice_ticks(1, 0, 5), std::invalid_argument);
  EXPECT_THROW(nice_ticks(0, NAN, 5), std::invalid_argument);
}

TEST(SvgPlot, TickLabelsUseTheStepsDecimals) {
  EXPECT_EQ(format_tick(0.4, 0.2), "0.4");
  EXPECT_EQ(format_tick(0.30000000000000004, 0.1), "0.3");
  EXPECT_EQ(format_tick(0.05, 0.05), "0.05");
  EXPECT_EQ(format_tick(400, 100), "400");
  EXPECT_EQ(format_tick(12000, 2000), "12k");
  EXPECT_EQ(format_tick(0, 2000), "0");
}

TEST(SvgPlot, DownsamplingKeepsEndsAndExtremes) {
  std::vector<double> y(100000);
  Generator random(3);
  for (size_t i = 0; i < y.size(); ++i) y[i] = 5.0 / (1 + 0.001 * static_cast<double>(i)) + 0.3 * random.uniform();
  y[31415] = 9;   // a spike
  y[77777] = -1;  // a dip
  std::vector<size_t> kept = downsample_min_max(y, 1000);
  EXPECT_LE(kept.size(), 1000u);
  EXPECT_GE(kept.size(), 900u);
  EXPECT_EQ(kept.front(), 0u);
  EXPECT_EQ(kept.back(), y.size() - 1);
  for (size_t i = 1; i < kept.size(); ++i) EXPECT_LT(kept[i - 1], kept[i]);
  EXPECT_NE(std::find(kept.begin(), kept.end(), 31415u), kept.end());
  EXPECT_NE(std::find(kept.begin(), kept.end(), 77777u), kept.end());

  std::vector<double> few = {3, 2, 1};
  EXPECT_EQ(downsample_min_max(few, 1000), (std::vector<size_t>{0, 1, 2}));
  EXPECT_TRUE(downsample_min_max({}, 1000).empty());
  EXPECT_THROW(downsample_min_max(few, 3), std::invalid_argument);
}

TEST(SvgPlot, LineChartHasAxesLegendAndOnePolylinePerSeries) {
  LineChart chart{.title = "clip & <finetune>", .x_label = "step", .y_label = "loss"};
  LineSeries total{.name = "total loss", .emphasised = true}, part{.name = "inmodal"};
  for (int step = 0; step < 5000; ++step) {
    total.x.push_back(step);
    total.y.push_back(4.0 / (1 + step * 0.01));
    part.x.push_back(step);
    part.y.push_back(2.0 / (1 + step * 0.01));
  }
  chart.series = {part, total};
  std::string svg = render_line_chart(chart);
  EXPECT_EQ(svg.rfind("<svg ", 0), 0u);
  EXPECT_EQ(count_of(svg, "<svg"), 1u);
  EXPECT_EQ(count_of(svg, "</svg>"), 1u);
  EXPECT_EQ(count_of(svg, "<polyline"), 2u);
  EXPECT_NE(svg.find("clip &amp; &lt;finetune&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("<finetune>"), std::string::npos);
  for (const char* label : {">step<", ">loss<", ">total loss<", ">inmodal<", ">0<", ">4k<", ">4<"})
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  EXPECT_EQ(svg.find(">5k<"), std::string::npos);  // the x axis ends at the last step, 4999
  // Downsampled: no polyline carries more than max_points points.
  std::regex points_attribute("points=\"([^\"]*)\"");
  for (auto match = std::sregex_iterator(svg.begin(), svg.end(), points_attribute); match != std::sregex_iterator();
       ++match) {
    std::string points = (*match)[1];
    EXPECT_LE(count_of(points, ","), chart.max_points);
    EXPECT_GT(count_of(points, ","), chart.max_points / 2);
  }
  // Few points: markers too, so that a one-step run still shows.
  LineChart one{
      .title = "one step", .x_label = "step", .y_label = "loss", .series = {{.name = "total", .x = {0}, .y = {2.5}}}};
  std::string single = render_line_chart(one);
  EXPECT_EQ(count_of(single, "<circle"), 1u);
  // Whole-number ticks over a span too short for two of them: the axis keeps its round range.
  LineChart short_span{.title = "short", .whole_x = true, .series = {{.name = "total", .x = {0.2, 0.7}, .y = {1, 2}}}};
  std::string short_svg = render_line_chart(short_span);
  EXPECT_NE(short_svg.find(">0<"), std::string::npos);
  EXPECT_NE(short_svg.find(">1<"), std::string::npos);
  LineChart not_finite{.title = "nan", .series = {{.name = "total", .x = {0, 1}, .y = {1, NAN}}}};
  EXPECT_THROW(render_line_chart(not_finite), std::invalid_argument);
  LineChart empty{.title = "nothing", .series = {{.name = "total"}}};
  EXPECT_THROW(render_line_chart(empty), std::invalid_argument);
}

TEST(SvgPlot, BarChartLabelsValuesAndMissingBars) {
  BarChart chart{.title = "per stage",
                 .y_label = "fraction",
                 .groups = {"clean-pretrain", "poisoned-pretrain"},
                 .bar_names = {"clean top-1", "ASR"},
                 .values = {{0.7812, NAN}, {0.7655, 0.9431}}};
  std::string svg = render_bar_chart(chart);
  EXPECT_EQ(count_of(svg, "<svg"), 1u);
  for (const char* label : {">0.781<", ">0.765<", ">0.943<", ">n/a<", ">clean-pretrain<", ">poisoned-pretrain<",
                            ">clean top-1<", ">ASR<", ">1.0<", ">0.0<"})
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  // 3 bars + 2 legend swatches + the background.
  EXPECT_EQ(count_of(svg, "<rect"), 6u);
  EXPECT_EQ(svg.find("rotate("), svg.find("rotate(-90"));  // only the y-axis label turns: names fit

  // Whiskers: three lines (stem and two caps) for each finite error; the label rises above the whisker.
  BarChart whiskers = chart;
  whiskers.errors = {{0.05, NAN}, {NAN, 0.1}};
  std::string with_errors = render_bar_chart(whiskers);
  EXPECT_EQ(count_of(svg, "stroke=\"#222\""), 0u);  // axes and grid are drawn in other colours
  EXPECT_EQ(count_of(with_errors, "stroke=\"#222\""), 6u);
  EXPECT_NE(with_errors.find(">1.2<"), std::string::npos);  // 0.9431 + 0.1 widens the axis past 1
  whiskers.errors = {{0.05, NAN}};
  EXPECT_THROW(render_bar_chart(whiskers), std::invalid_argument);

  // Too many groups for their names: the names slant.
  BarChart crowded = chart;
  crowded.width = 500;
  crowded.groups = {"supervised-finetune", "cleanclip-finetune", "poisoned-pretrain", "clip-finetune", "clean"};
  crowded.values.assign(5, {0.5, 0.5});
  EXPECT_NE(render_bar_chart(crowded).find("rotate(-30"), std::string::npos);
  crowded.values.pop_back();
  EXPECT_THROW(render_bar_chart(crowded), std::invalid_argument);
}

}  // namespace
}  // namespace clipgrad::cleanclip
