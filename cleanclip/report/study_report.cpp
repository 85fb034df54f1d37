// results.json, results.md, the seed summary, and the writing of all three files.
#include "cleanclip/report/study_report.h"

#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <utility>

#include "cleanclip/report/svg_plot.h"
#include "io/atomic_file.h"

namespace clipgrad::cleanclip {
namespace {

nlohmann::json number_or_null(double value) { return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(); }

// Mean and sample standard deviation of the finite values; NaN where undefined.
std::pair<double, double> mean_and_std(const std::vector<double>& values) {
  double sum = 0;
  int count = 0;
  for (double value : values) {
    if (!std::isfinite(value)) continue;
    sum += value;
    ++count;
  }
  if (count == 0) return {NAN, NAN};
  double mean = sum / count;
  if (count < 2) return {mean, NAN};
  double squares = 0;
  for (double value : values)
    if (std::isfinite(value)) squares += (value - mean) * (value - mean);
  return {mean, std::sqrt(squares / (count - 1))};
}

// A Markdown table cell: the characters that would end the cell or start markup are escaped,
// line breaks become spaces.
std::string markdown_cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n' || c == '\r')
      out += ' ';
    else if (c == '|' || c == '\\' || c == '`' || c == '*' || c == '<' || c == '>' || c == '[' || c == ']')
      out += '\\', out += c;
    else
      out += c;
  }
  return out;
}

}  // namespace

nlohmann::json study_json(const StudyResult& study) {
  nlohmann::json stages = nlohmann::json::array();
  for (const StageResult& stage : study.stages)
    stages.push_back({{"name", stage.name},
                      {"clean_top1", number_or_null(stage.clean_top1)},
                      {"asr", number_or_null(stage.asr)},
                      {"asr_n", stage.asr_n},
                      {"minutes", number_or_null(stage.minutes)}});
  return {{"attack", study.attack}, {"target", study.target}, {"seed", study.seed}, {"stages", stages}};
}

nlohmann::json studies_json(const std::vector<StudyResult>& studies) {
  if (studies.size() == 1) return study_json(studies.front());
  nlohmann::json list = nlohmann::json::array();
  for (const StudyResult& study : studies) list.push_back(study_json(study));
  return list;
}

std::vector<SeedSummary> summarize_seeds(const std::vector<StudyResult>& studies) {
  struct Values {
    SeedSummary summary;
    std::vector<double> clean_top1, asr, minutes;
  };
  std::vector<Values> groups;
  for (const StudyResult& study : studies)
    for (const StageResult& stage : study.stages) {
      Values* group = nullptr;
      for (Values& candidate : groups)
        if (candidate.summary.attack == study.attack && candidate.summary.target == study.target &&
            candidate.summary.stage == stage.name)
          group = &candidate;
      if (!group) {
        groups.push_back({});
        group = &groups.back();
        group->summary.attack = study.attack;
        group->summary.target = study.target;
        group->summary.stage = stage.name;
      }
      ++group->summary.seeds;
      group->clean_top1.push_back(stage.clean_top1);
      group->asr.push_back(stage.asr);
      group->minutes.push_back(stage.minutes);
    }
  // Stages of one attack stay together even when a later study adds a stage the first lacked.
  std::vector<SeedSummary> summaries;
  std::vector<bool> taken(groups.size(), false);
  for (size_t i = 0; i < groups.size(); ++i)
    for (size_t j = i; j < groups.size(); ++j) {
      if (taken[j] || groups[j].summary.attack != groups[i].summary.attack ||
          groups[j].summary.target != groups[i].summary.target)
        continue;
      taken[j] = true;
      SeedSummary summary = groups[j].summary;
      std::tie(summary.clean_top1_mean, summary.clean_top1_std) = mean_and_std(groups[j].clean_top1);
      std::tie(summary.asr_mean, summary.asr_std) = mean_and_std(groups[j].asr);
      std::tie(summary.minutes_mean, summary.minutes_std) = mean_and_std(groups[j].minutes);
      summaries.push_back(summary);
    }
  return summaries;
}

bool has_repeated_seeds(const std::vector<StudyResult>& studies) {
  for (size_t i = 0; i < studies.size(); ++i)
    for (size_t j = i + 1; j < studies.size(); ++j)
      if (studies[i].attack == studies[j].attack && studies[i].target == studies[j].target) return true;
  return false;
}

std::string study_markdown(const std::vector<StudyResult>& studies) {
  std::string md =
      "| attack | target | seed | stage | clean top-1 | ASR | ASR images | minutes |\n"
      "|---|---|---:|---|---:|---:|---:|---:|\n";
  for (const StudyResult& study : studies)
    for (const StageResult& stage : study.stages)
      md += "| " + markdown_cell(study.attack) + " | " + markdown_cell(study.target) + " | " +
            std::to_string(study.seed) + " | " + markdown_cell(stage.name) + " | " + format_fixed(stage.clean_top1, 3) +
            " | " + format_fixed(stage.asr, 3) + " | " +
            (std::isfinite(stage.asr) ? std::to_string(stage.asr_n) : "n/a") + " | " + format_fixed(stage.minutes, 2) +
            " |\n";
  if (!has_repeated_seeds(studies)) return md;

  md +=
      "\nMean ± sample standard deviation over seeds:\n\n"
      "| attack | target | stage | seeds | clean top-1 | ASR | minutes |\n"
      "|---|---|---|---:|---:|---:|---:|\n";
  for (const SeedSummary& summary : summarize_seeds(studies))
    md += "| " + markdown_cell(summary.attack) + " | " + markdown_cell(summary.target) + " | " +
          markdown_cell(summary.stage) + " | " + std::to_string(summary.seeds) + " | " +
          format_mean_std(summary.clean_top1_mean, summary.clean_top1_std, 3) + " | " +
          format_mean_std(summary.asr_mean, summary.asr_std, 3) + " | " +
          format_mean_std(summary.minutes_mean, summary.minutes_std, 2) + " |\n";
  return md;
}

void write_study_report(const std::vector<StudyResult>& studies, const std::string& out_dir) {
  if (studies.empty())
    throw std::invalid_argument("write_study_report: no studies to report in '" + out_dir +
                                "'; run at least one attack and seed first");
  std::error_code error;
  std::filesystem::create_directories(out_dir, error);
  if (error)
    throw std::runtime_error("cannot create report folder '" + out_dir + "': " + error.message() +
                             "; choose another --out");
  std::filesystem::path dir(out_dir);
  // The page first: it reads the metrics files, the slowest and likeliest step to fail.
  std::string html = study_html(studies);
  io::write_file_atomic((dir / "results.json").string(), studies_json(studies).dump(2) + "\n");
  io::write_file_atomic((dir / "results.md").string(), study_markdown(studies));
  io::write_file_atomic((dir / "report.html").string(), html);
}

}  // namespace clipgrad::cleanclip
