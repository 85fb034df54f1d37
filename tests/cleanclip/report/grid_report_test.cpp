// The recipe study's report: the bootstrap interval, the tables and figures a
// handful of records give, and the error-bar chart.
#include "cleanclip/report/grid_report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "cleanclip/report/error_chart.h"
#include "cleanclip/report/grid_figures.h"
#include "test_temp_dir.h"

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

TEST(GridReport, BootstrapIntervalIsThePercentilesOfTheResampledMeans) {
  // One success in five: a resample's mean is Binomial(5, 0.2) / 5. P(0 successes) = 0.33 > 2.5%, so the
  // low end is 0; P(at most 2) = 0.942 < 97.5% <= P(at most 3) = 0.993, so the high end is 3/5.
  const Interval interval = bootstrap_mean({0, 0, 0, 1, 0});
  EXPECT_NEAR(interval.mean, 0.2, 1e-12);
  EXPECT_EQ(interval.low, 0.0);
  EXPECT_NEAR(interval.high, 0.6, 1e-12);
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

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(GridReport, ResultsMarkdownShowsEveryChartAsAFileAndTheTriggers) {
  testing::TempDir dir("grid_report");
  GridReport report;
  report.title = "toy";
  report.main_rate = 0.005;
  for (int64_t seed = 0; seed < 3; ++seed) {
    report.records.push_back(record("poisoned-pretrain", "poisoned-pretrain", seed, 0.9));
    report.records.push_back(record("clip-finetune", "clip", seed, 0.8));
    report.records.push_back(record("cleanclip-finetune", "cleanclip", seed, 0.5));
  }
  const std::string figures = dir.file("figures");
  report.examples.push_back({"badnet",
                             {figures + "/badnet-0-clean.png"},
                             {figures + "/badnet-0-triggered.png"},
                             {figures + "/badnet-0-difference.png"},
                             20});
  write_grid_report(report, dir.path().string());

  const std::vector<GridFigure> charts = grid_figures(report);
  ASSERT_FALSE(charts.empty());
  const std::string md = read_all(dir.file("results.md"));
  for (const GridFigure& chart : charts) {
    EXPECT_EQ(read_all(dir.file("figures/" + chart.name + ".svg")), chart.svg) << chart.name;
    EXPECT_EQ(chart.svg.rfind("<svg xmlns=", 0), 0u) << chart.name;  // a file a browser opens alone
    EXPECT_NE(md.find("](figures/" + chart.name + ".svg)"), std::string::npos) << chart.name;
  }
  EXPECT_NE(md.find("![badnet: fine-tuning, epoch by epoch](figures/trajectory-badnet.svg)"), std::string::npos) << md;
  EXPECT_NE(md.find("![difference](figures/badnet-0-difference.png)"), std::string::npos) << md;
  EXPECT_NE(md.find("magnified 20x"), std::string::npos);
  // The poisoned models' ASR above their clean models' (0.02): 0.880 at every seed.
  EXPECT_NE(md.find("| badnet | 0.880 [0.880, 0.880] | 0.780 [0.780, 0.780] | 0.480"), std::string::npos) << md;
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
