// The recipe study's report: the bootstrap interval, the tables and figures a
// handful of records give, and the error-bar chart.
#include "cleanclip/report/grid_report.h"

#include <gtest/gtest.h>

#include <cmath>

#include "cleanclip/report/error_chart.h"

namespace clipgrad::cleanclip {
namespace {

TEST(GridReport, BootstrapIntervalHoldsTheMeanAndIsReproducible) {
  const Interval interval = bootstrap_mean({0.1, 0.2, 0.3, 0.4, 0.5});
  EXPECT_EQ(interval.n, 5);
  EXPECT_NEAR(interval.mean, 0.3, 1e-12);
  EXPECT_LT(interval.low, 0.3);
  EXPECT_GT(interval.high, 0.3);
  EXPECT_GE(interval.low, 0.1);
  EXPECT_LE(interval.high, 0.5);
  const Interval again = bootstrap_mean({0.1, 0.2, 0.3, 0.4, 0.5});
  EXPECT_EQ(again.low, interval.low);
  EXPECT_EQ(again.high, interval.high);
  const Interval one = bootstrap_mean({0.7, NAN});
  EXPECT_EQ(one.n, 1);
  EXPECT_EQ(one.low, 0.7);
  EXPECT_EQ(one.high, 0.7);
  EXPECT_EQ(bootstrap_mean({}).n, 0);
}

GridRecord record(const std::string& stage, const std::string& kind, int64_t seed, double asr) {
  GridRecord r;
  r.experiments = {"main"};
  r.attack = "badnet";
  r.rate = 0.005;
  r.seed = seed;
  r.stage = stage;
  r.kind = kind;
  r.lr = 1e-5;
  r.rows = 100;
  r.clean_top1 = 0.4 + 0.01 * seed;
  r.asr = asr;
  r.clean_model_asr = 0.02;
  r.epochs = {{1, 0.3, asr}, {2, 0.35, asr / 2}};
  return r;
}

TEST(GridReport, TablesAndFiguresFromRecords) {
  GridReport report;
  report.title = "toy";
  report.main_rate = 0.005;
  for (int64_t seed = 0; seed < 3; ++seed) {
    report.records.push_back(record("poisoned-pretrain", "poisoned-pretrain", seed, 0.9));
    report.records.push_back(record("clip-finetune", "clip", seed, 0.8 - 0.1 * seed));
    report.records.push_back(record("cleanclip-finetune", "cleanclip", seed, 0.5 - 0.1 * seed));
  }
  const std::string md = grid_markdown(report);
  EXPECT_NE(md.find("Main table: ASR"), std::string::npos);
  EXPECT_NE(md.find("| badnet | 0.900 [0.900, 0.900] | 0.700 [0.600, 0.800] |"), std::string::npos) << md;
  // CleanCLIP minus the CLIP loss alone: -0.3 at every seed, an interval of zero width.
  EXPECT_NE(md.find("| main | badnet | 0.5% | cleanclip-finetune | 3 | -0.300 [-0.300, -0.300] |"), std::string::npos)
      << md;
  const std::string html = grid_html(report);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("fine-tuning, epoch by epoch"), std::string::npos);
}

TEST(ErrorChart, DrawsPointsWithIntervalsAndRefusesNothing) {
  ErrorChart chart;
  chart.title = "t";
  chart.log_x = true;
  ErrorSeries series;
  series.name = "s";
  series.x = {0.05, 0.5, 2};
  series.y = {0.1, 0.5, 0.9};
  series.y_low = {0.05, 0.4, 0.8};
  series.y_high = {0.15, 0.6, 1.0};
  chart.series = {series};
  const std::string svg = render_error_chart(chart);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
  EXPECT_NE(svg.find(">0.05<"), std::string::npos);
  chart.series[0].x = {NAN};
  chart.series[0].y = {NAN};
  EXPECT_THROW(render_error_chart(chart), std::invalid_argument);
}

}  // namespace
}  // namespace clipgrad::cleanclip
