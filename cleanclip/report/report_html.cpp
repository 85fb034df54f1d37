// report.html: one self-contained page (inline CSS and SVG, no scripts, no
// external files): the summary tables, then for each study the clean top-1 and
// ASR bars and one loss-curve plot per stage.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "cleanclip/report/loss_curves.h"
#include "cleanclip/report/study_report.h"
#include "cleanclip/report/svg_plot.h"

namespace clipgrad::cleanclip {
namespace {

constexpr double kLossChartWidth = 544, kLossChartHeight = 300;
constexpr double kBarChartWidth = 1100, kBarChartHeight = 330;

constexpr const char* kStyle = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; background: #fff;
       max-width: 1120px; margin: 20px auto; padding: 0 16px; line-height: 1.4; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 24px 0 8px; }
h3 { font-size: 16px; margin: 16px 0 6px; }
p { margin: 4px 0 10px; }
table { border-collapse: collapse; font-size: 14px; margin: 4px 0 16px; }
th, td { padding: 3px 12px 3px 0; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
th { border-bottom: 2px solid #999; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.first td { border-top: 2px solid #bbb; }
section { border-top: 2px solid #bbb; margin-top: 28px; }
.plots { display: flex; flex-wrap: wrap; gap: 8px 16px; }
figure { margin: 0; }
figcaption { font-size: 13px; color: #555; margin: 2px 0 0 8px; }
svg { display: block; max-width: 100%; height: auto; }
.note { width: 510px; min-height: 80px; padding: 12px 16px; border: 1px dashed #bbb; color: #555; font-size: 14px; }
.note b { color: #222; }
.error { color: #a00; }
a { color: #0060a0; }
)";

std::string td(const std::string& text, bool numeric = false) {
  return numeric ? "<td class=\"num\">" + text + "</td>" : "<td>" + text + "</td>";
}

std::string study_title(const StudyResult& study) {
  return study.attack + " attack, target \"" + study.target + "\", seed " + std::to_string(study.seed);
}

std::string summary_table(const std::vector<StudyResult>& studies) {
  std::string html =
      "<table>\n<tr><th>attack</th><th>target</th><th class=\"num\">seed</th><th>stage</th>"
      "<th class=\"num\">clean top-1</th><th class=\"num\">ASR</th><th class=\"num\">ASR images</th>"
      "<th class=\"num\">minutes</th></tr>\n";
  for (size_t s = 0; s < studies.size(); ++s) {
    const StudyResult& study = studies[s];
    for (size_t i = 0; i < study.stages.size(); ++i) {
      const StageResult& stage = study.stages[i];
      // The study's attack, target and seed on its first row only, so that the studies stand apart.
      if (i == 0) {
        html += s > 0 ? "<tr class=\"first\">" : "<tr>";
        html += td("<a href=\"#study-" + std::to_string(s) + "\">" + escape_html(study.attack) + "</a>");
        html += td(escape_html(study.target)) + td(std::to_string(study.seed), true);
      } else {
        html += "<tr>" + td("") + td("") + td("", true);
      }
      html += td(escape_html(stage.name));
      html += td(format_fixed(stage.clean_top1, 3), true) + td(format_fixed(stage.asr, 3), true);
      html += td(std::isfinite(stage.asr) ? std::to_string(stage.asr_n) : "n/a", true);
      html += td(format_fixed(stage.minutes, 2), true) + "</tr>\n";
    }
  }
  return html + "</table>\n";
}

std::string seed_summary_table(const std::vector<StudyResult>& studies) {
  std::string html =
      "<table>\n<tr><th>attack</th><th>target</th><th>stage</th><th class=\"num\">seeds</th>"
      "<th class=\"num\">clean top-1</th><th class=\"num\">ASR</th><th class=\"num\">minutes</th></tr>\n";
  std::string previous_group;
  for (const SeedSummary& summary : summarize_seeds(studies)) {
    std::string group = summary.attack + '\n' + summary.target;
    html += !previous_group.empty() && group != previous_group ? "<tr class=\"first\">" : "<tr>";
    bool first_of_group = group != previous_group;
    previous_group = group;
    html +=
        td(first_of_group ? escape_html(summary.attack) : "") + td(first_of_group ? escape_html(summary.target) : "");
    html += td(escape_html(summary.stage));
    html += td(std::to_string(summary.seeds), true);
    html += td(format_mean_std(summary.clean_top1_mean, summary.clean_top1_std, 3), true);
    html += td(format_mean_std(summary.asr_mean, summary.asr_std, 3), true);
    html += td(format_mean_std(summary.minutes_mean, summary.minutes_std, 2), true) + "</tr>\n";
  }
  return html + "</table>\n";
}

std::string note(const std::string& stage, const std::string& message, bool is_error = false) {
  return "<div class=\"note\"><b>" + escape_html(stage) + "</b><br/>" +
         (is_error ? "<span class=\"error\">" + escape_html(message) + "</span>" : escape_html(message)) + "</div>\n";
}

// The loss plot of one stage, or a note saying why there is none.
std::string loss_figure(const StageResult& stage) {
  if (stage.metrics_path.empty()) return note(stage.name, "No metrics file was recorded for this stage.");
  std::error_code error;
  if (!std::filesystem::exists(stage.metrics_path, error))
    return note(stage.name, "No loss curve: the metrics file '" + stage.metrics_path + "' does not exist.");
  LossCurves losses;
  try {
    losses = read_loss_curves(stage.metrics_path);
  } catch (const std::exception& failure) {
    return note(stage.name, std::string("No loss curve: ") + failure.what(), true);
  }
  if (losses.curves.empty())
    return note(stage.name, "No loss curve: '" + stage.metrics_path + "' has no steps with a finite loss.");

  LineChart chart;
  chart.title = stage.name;
  chart.x_label = "step";
  chart.y_label = "loss";
  chart.whole_x = true;
  chart.width = kLossChartWidth;
  chart.height = kLossChartHeight;
  for (const LossCurve& curve : losses.curves)
    chart.series.push_back({.name = curve.is_total ? "total loss" : curve.name,
                            .x = curve.steps,
                            .y = curve.values,
                            .emphasised = curve.is_total});
  const LossCurve& first = losses.curves.front();
  std::string caption = losses.steps == 1
                            ? "1 step (step " + std::to_string(losses.first_step) + ")"
                            : std::to_string(losses.steps) + " steps (" + std::to_string(losses.first_step) + "–" +
                                  std::to_string(losses.last_step) + ")";
  caption += "; final " + chart.series.front().name + " " + format_fixed(first.values.back(), 4);
  return "<figure>\n" + render_line_chart(chart) + "<figcaption>" + escape_html(caption) + "</figcaption>\n</figure>\n";
}

// With several studies: clean top-1 and ASR per stage side by side for every attack, each bar the
// mean over the attack's seeds with a whisker of one standard deviation.
std::string overview_figures(const std::vector<StudyResult>& studies) {
  std::vector<SeedSummary> summaries = summarize_seeds(studies);
  std::vector<std::string> stages;
  std::vector<std::pair<std::string, std::string>> attacks;  // (attack, target)
  bool one_target = true;
  for (const SeedSummary& summary : summaries) {
    if (std::find(stages.begin(), stages.end(), summary.stage) == stages.end()) stages.push_back(summary.stage);
    std::pair<std::string, std::string> attack{summary.attack, summary.target};
    if (std::find(attacks.begin(), attacks.end(), attack) == attacks.end()) attacks.push_back(attack);
    one_target = one_target && summary.target == summaries.front().target;
  }
  bool repeated = has_repeated_seeds(studies);
  std::string html;
  for (bool asr : {false, true}) {
    BarChart chart;
    chart.title = std::string(asr ? "Attack success rate" : "Clean top-1") + " per stage" +
                  (repeated ? ", mean ± standard deviation over seeds" : "");
    chart.y_label = "fraction of test images";
    chart.width = kBarChartWidth;
    chart.height = kBarChartHeight;
    chart.groups = stages;
    chart.first_colour = 2;  // not the blue and orange that mean clean top-1 and ASR in each study's chart
    for (const auto& [attack, target] : attacks)
      chart.bar_names.push_back(one_target ? attack : attack + " → " + target);
    for (const std::string& stage : stages) {
      std::vector<double> values(attacks.size(), NAN), errors(attacks.size(), NAN);
      for (const SeedSummary& summary : summaries) {
        if (summary.stage != stage) continue;
        size_t a =
            std::find(attacks.begin(), attacks.end(), std::pair{summary.attack, summary.target}) - attacks.begin();
        values[a] = asr ? summary.asr_mean : summary.clean_top1_mean;
        errors[a] = asr ? summary.asr_std : summary.clean_top1_std;
      }
      chart.values.push_back(values);
      chart.errors.push_back(errors);
    }
    html += "<figure>\n" + render_bar_chart(chart) + "</figure>\n";
  }
  return html;
}

std::string study_section(const StudyResult& study, size_t index) {
  std::string html =
      "<section id=\"study-" + std::to_string(index) + "\">\n<h2>" + escape_html(study_title(study)) + "</h2>\n";
  if (study.stages.empty()) return html + "<p>This study has no stages.</p>\n</section>\n";
  double minutes = 0;
  for (const StageResult& stage : study.stages) minutes += std::isfinite(stage.minutes) ? stage.minutes : 0;
  html += "<p>" + std::to_string(study.stages.size()) + (study.stages.size() == 1 ? " stage, " : " stages, ") +
          format_fixed(minutes, 1) +
          " minutes in all. ASR: the share of triggered test images outside the target class that are classified "
          "as the target.</p>\n";

  BarChart bars;
  bars.title = "Clean top-1 and attack success rate per stage";
  bars.y_label = "fraction of test images";
  bars.width = kBarChartWidth;
  bars.height = kBarChartHeight;
  bars.bar_names = {"clean top-1", "ASR"};
  for (const StageResult& stage : study.stages) {
    bars.groups.push_back(stage.name);
    bars.values.push_back({stage.clean_top1, stage.asr});
  }
  html += "<figure>\n" + render_bar_chart(bars) + "</figure>\n<h3>Loss curves</h3>\n<div class=\"plots\">\n";
  for (const StageResult& stage : study.stages) html += loss_figure(stage);
  return html + "</div>\n</section>\n";
}

}  // namespace

std::string study_html(const std::vector<StudyResult>& studies) {
  std::set<std::string> attacks;
  std::set<uint64_t> seeds;
  for (const StudyResult& study : studies) {
    attacks.insert(study.attack);
    seeds.insert(study.seed);
  }
  std::string attack_list, seed_list;
  for (const std::string& attack : attacks) attack_list += (attack_list.empty() ? "" : ", ") + attack;
  for (uint64_t seed : seeds) seed_list += (seed_list.empty() ? "" : ", ") + std::to_string(seed);

  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
      "<title>CleanCLIP study report</title>\n<style>" +
      std::string(kStyle) + "</style>\n</head>\n<body>\n";
  html += "<h1>CleanCLIP study report</h1>\n<p>" + std::to_string(studies.size()) +
          (studies.size() == 1 ? " study" : " studies") + "; attacks: " + escape_html(attack_list) +
          "; seeds: " + escape_html(seed_list) + ". Clean top-1 and ASR are fractions of the test images.</p>\n";
  // With several seeds, their mean and spread is the headline; every run follows.
  if (has_repeated_seeds(studies))
    html += "<h2>Mean ± standard deviation over seeds</h2>\n" + seed_summary_table(studies) +
            overview_figures(studies) + "<h2>Every run</h2>\n" + summary_table(studies);
  else if (studies.size() > 1)
    html += "<h2>Summary</h2>\n" + summary_table(studies) + overview_figures(studies);
  else
    html += "<h2>Summary</h2>\n" + summary_table(studies);
  for (size_t i = 0; i < studies.size(); ++i) html += study_section(studies[i], i);
  return html + "</body>\n</html>\n";
}

}  // namespace clipgrad::cleanclip
