// The report of a recipe's study (`clipgrad demo --recipe`, cleanclip/study.h):
// every stage of every cell as a record, the tables a reviewer asks for (mean
// and 95% bootstrap interval over seeds, paired per-seed differences, ASR above
// the clean model's own) and the figures (ASR against poison rate, the lambda2
// ablation, ASR against the clean set's size and the learning rate, each
// fine-tune's per-epoch path in the clean-accuracy / ASR plane, pretraining
// curves, each trigger on test images), written as results.json, results.md
// and report.html (self-contained: inline SVG, images as data URIs).
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace clipgrad::cleanclip {

struct GridEpoch {
  int64_t epoch = 0;  // after that many epochs
  double clean_top1 = 0, asr = 0;
};

struct GridRecord {
  std::vector<std::string> experiments;                    // the recipe's experiments that ran this stage
  std::string attack;                                      // "none": the clean model
  double rate = std::numeric_limits<double>::quiet_NaN();  // poisoned fraction (NaN: by count, or none)
  int64_t seed = 0;
  std::string stage;  // its folder name: "clean-pretrain", "poisoned-pretrain", "cleanclip-finetune-l2-4", ...
  std::string kind;   // "clean-pretrain", "poisoned-pretrain", "clip", "cleanclip" or "supervised"
  double lambda2 = std::numeric_limits<double>::quiet_NaN(), lr = std::numeric_limits<double>::quiet_NaN();
  int64_t rows = 0;  // clean pairs of a defence
  double clean_top1 = 0, asr = std::numeric_limits<double>::quiet_NaN();
  int64_t asr_n = 0;
  double minutes = 0;
  double clean_model_asr = std::numeric_limits<double>::quiet_NaN();  // the seed's clean model, this trigger
  std::vector<GridEpoch> epochs;                                      // on the first test images
};

// One attack's trigger on a few test images: PNG files (read and embedded by the report).
struct TriggerExample {
  std::string attack;
  std::vector<std::string> clean{}, triggered{}, difference{};  // paths, one per image
  int magnification = 1;                                        // of the absolute difference
};

struct GridReport {
  std::string title;
  nlohmann::json recipe;
  double main_rate = std::numeric_limits<double>::quiet_NaN();
  bool main_rate_takes = true;                   // false: no pilot rate took; the main rate is the highest
  std::vector<std::pair<double, double>> pilot;  // (rate, mean poisoned ASR), in the order tried
  double favoured_lambda2 = std::numeric_limits<double>::quiet_NaN();
  std::vector<GridRecord> records;
  std::vector<TriggerExample> examples;
  std::vector<std::string> notes;  // cells that failed, and why
};

// Mean and a 95% percentile-bootstrap interval of the mean (10,000 resamples of the values, a
// fixed generator): the same values give the same interval. NaN values are left out; one value
// gives an interval of zero width, none gives NaNs.
struct Interval {
  double mean = 0, low = 0, high = 0;
  int n = 0;
};
Interval bootstrap_mean(const std::vector<double>& values);

// Writes DIR/results.json (the report as data), DIR/results.md, DIR/report.html and each chart as
// DIR/figures/<name>.svg, atomically.
void write_grid_report(const GridReport& report, const std::string& out_dir);
// The summary and tables, then the charts and the trigger examples as images: figures/<name>.svg, and
// the examples' PNGs by their paths relative to `out_dir` (as given when out_dir is empty).
std::string grid_markdown(const GridReport& report, const std::string& out_dir = "");
std::string grid_html(const GridReport& report);

}  // namespace clipgrad::cleanclip
