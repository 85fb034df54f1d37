// The report of a CleanCLIP study (clean and poisoned pretraining, then the
// defences): results.json for programs, results.md for the README, and
// report.html, a self-contained page with inline SVG plots (loss curves of each
// stage, clean top-1 and ASR per stage) that reads offline in any browser.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace clipgrad::cleanclip {

struct StageResult {
  // "clean-pretrain" | "poisoned-pretrain" | "clip-finetune" | "cleanclip-finetune" | "supervised-finetune"
  std::string name;
  double clean_top1 = 0;  // zero-shot (or head) top-1 on the clean test set
  double asr = 0;         // attack success rate (NaN for a stage without an attack to measure, written as null)
  int64_t asr_n = 0;      // images the ASR counted
  double minutes = 0;     // wall time of the stage (training + its evaluation)
  // Its metrics.jsonl (may be empty): lines {"epoch","step","loss", optional "loss_<part>"...}.
  std::string metrics_path;
};

struct StudyResult {
  std::string attack, target;
  uint64_t seed = 0;
  std::vector<StageResult> stages;
};

// {"attack","target","seed","stages":[{"name","clean_top1","asr","asr_n","minutes"}]}; a non-finite
// number (the ASR of a stage without an attack) is written as null.
nlohmann::json study_json(const StudyResult& study);

// Writes DIR/results.json (one study: the object above; several (attacks x seeds): a list of them),
// DIR/results.md (one row per study x stage, plus, for several seeds, mean +- std per attack and stage)
// and DIR/report.html (summary tables, then per study: bars of clean top-1 and ASR per stage and the
// loss curves of each stage from its metrics.jsonl). Creates DIR. Every file is written atomically.
// Throws std::invalid_argument for no studies; a stage's unreadable metrics file becomes a note in
// the page, not an error, so that a finished study always gets its report.
void write_study_report(const std::vector<StudyResult>& studies, const std::string& out_dir);

// The pieces write_study_report writes, for callers and tests that want the text.
nlohmann::json studies_json(const std::vector<StudyResult>& studies);  // one study: its object; else a list
std::string study_markdown(const std::vector<StudyResult>& studies);
std::string study_html(const std::vector<StudyResult>& studies);

// Mean and sample standard deviation over the seeds of one attack (and target) for one stage.
// NaN where there is nothing to average (no finite ASR) or, for the deviation, fewer than two values.
struct SeedSummary {
  std::string attack, target, stage;
  int seeds = 0;  // studies of this attack and target that have the stage
  double clean_top1_mean = 0, clean_top1_std = 0;
  double asr_mean = 0, asr_std = 0;
  double minutes_mean = 0, minutes_std = 0;
};
// Groups in order of first appearance (attack and target, then stage).
std::vector<SeedSummary> summarize_seeds(const std::vector<StudyResult>& studies);
// True when some attack (and target) was run with more than one seed: the summary is worth showing.
bool has_repeated_seeds(const std::vector<StudyResult>& studies);

}  // namespace clipgrad::cleanclip
