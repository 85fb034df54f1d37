// The study report: results.json and results.md for one and several studies
// (the seed summary recomputed here), and report.html checked as a document:
// balanced tags, one <svg> per plot, every stage and number on the page, odd
// names escaped, notes for missing metrics, nothing loaded from elsewhere.
//
// Set CLIPGRAD_REPORT_SAMPLE_DIR to keep the realistic sample report (5 stages,
// a few hundred steps each) in that folder, to look at it in a browser.
#include "cleanclip/report/study_report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "cleanclip/report/svg_plot.h"
#include "io/atomic_file.h"
#include "tensor/random.h"
#include "test_temp_dir.h"

namespace clipgrad::cleanclip {
namespace {

size_t count_of(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++count;
  return count;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// A tiny well-formedness check: every element opened is closed in order (void elements and
// <x/> excepted), attribute values are quoted, and every '&' starts an entity. Returns "" or
// what is wrong and where.
std::string check_tag_balance(const std::string& html) {
  static const std::vector<std::string> kVoid = {"meta", "br", "hr", "img", "input", "link"};
  std::vector<std::string> open;
  size_t at = 0;
  while (at < html.size()) {
    char c = html[at];
    if (c == '&') {
      size_t end = html.find(';', at);
      std::string entity = end == std::string::npos ? "" : html.substr(at + 1, end - at - 1);
      bool named = !entity.empty() && entity.find_first_not_of("abcdefghijklmnopqrstuvwxyz") == std::string::npos;
      bool numeric =
          entity.size() > 1 && entity[0] == '#' && entity.find_first_not_of("0123456789", 1) == std::string::npos;
      if (!named && !numeric) return "bare '&' at offset " + std::to_string(at);
      at = end + 1;
      continue;
    }
    if (c == '>') return "bare '>' at offset " + std::to_string(at);
    if (c != '<') {
      ++at;
      continue;
    }
    if (html.compare(at, 9, "<!DOCTYPE") == 0) {
      at = html.find('>', at) + 1;
      continue;
    }
    // Scan the tag to its '>' outside quotes.
    size_t end = at + 1;
    char quote = 0;
    for (; end < html.size(); ++end) {
      if (quote) {
        if (html[end] == quote)
          quote = 0;
        else if (html[end] == '<')
          return "'<' inside an attribute at offset " + std::to_string(end);
      } else if (html[end] == '"' || html[end] == '\'') {
        quote = html[end];
      } else if (html[end] == '>') {
        break;
      } else if (html[end] == '<') {
        return "'<' inside a tag at offset " + std::to_string(end);
      }
    }
    if (end >= html.size()) return "unterminated tag at offset " + std::to_string(at);
    std::string tag = html.substr(at + 1, end - at - 1);
    bool closing = !tag.empty() && tag[0] == '/';
    std::string name = tag.substr(closing ? 1 : 0, tag.find_first_of(" \n/", closing ? 1 : 0) - (closing ? 1 : 0));
    if (closing) {
      if (open.empty() || open.back() != name)
        return "</" + name + "> closes <" + (open.empty() ? "nothing" : open.back()) + "> at offset " +
               std::to_string(at);
      open.pop_back();
    } else if (tag.back() != '/' && std::find(kVoid.begin(), kVoid.end(), name) == kVoid.end()) {
      open.push_back(name);
      if (name == "style") {  // raw text up to </style>
        end = html.find("</style>", end) - 1;
      }
    }
    at = end + 1;
  }
  if (!open.empty()) return "<" + open.back() + "> is never closed";
  return "";
}

TEST(TagBalanceChecker, CatchesWhatItMust) {
  EXPECT_EQ(check_tag_balance("<p>a <b>b</b><br/><meta charset=\"x\"></p>"), "");
  EXPECT_NE(check_tag_balance("<p><b>a</p></b>"), "");
  EXPECT_NE(check_tag_balance("<p>a"), "");
  EXPECT_NE(check_tag_balance("<p>Tom & Jerry</p>"), "");
  EXPECT_NE(check_tag_balance("<p title=\"<b>\">x</p>"), "");
  EXPECT_NE(check_tag_balance("<p>a > b</p>"), "");
}

// Losses that fall like a real run's: an exponential decay with noise.
void write_metrics(const std::string& path, int steps, double start, double end, const std::vector<std::string>& parts,
                   uint64_t seed) {
  Generator random(seed);
  std::string text;
  for (int step = 0; step < steps; ++step) {
    double progress = static_cast<double>(step) / std::max(1, steps - 1);
    double noise = 0.08 * (random.uniform() - 0.5) * (1 - 0.5 * progress);
    double total = end + (start - end) * std::exp(-4 * progress) + noise;
    nlohmann::json entry{{"epoch", 1 + step * 8 / steps}, {"step", step}, {"loss", total}, {"lr", 1e-4}};
    for (size_t p = 0; p < parts.size(); ++p)
      entry["loss_" + parts[p]] = total * (p == 0 ? 0.55 : 0.45) + 0.02 * (random.uniform() - 0.5);
    text += entry.dump() + "\n";
  }
  io::write_file_atomic(path, text);
}

// A study shaped like the demo's: five stages, a few hundred steps of falling losses each.
StudyResult realistic_study(const testing::TempDir& dir, const std::string& attack, uint64_t seed) {
  std::string prefix = dir.file(attack + "_" + std::to_string(seed) + "_");
  write_metrics(prefix + "clean.jsonl", 400, 4.6, 1.2, {}, seed * 10 + 1);
  write_metrics(prefix + "poisoned.jsonl", 400, 4.6, 1.1, {}, seed * 10 + 2);
  write_metrics(prefix + "clip.jsonl", 150, 1.4, 1.0, {}, seed * 10 + 3);
  write_metrics(prefix + "cleanclip.jsonl", 150, 5.2, 2.4, {"clip", "inmodal"}, seed * 10 + 4);
  write_metrics(prefix + "supervised.jsonl", 200, 2.3, 0.45, {}, seed * 10 + 5);
  double shift = 0.01 * static_cast<double>(seed);
  return {.attack = attack,
          .target = "bag",
          .seed = seed,
          .stages = {{"clean-pretrain", 0.7812 + shift, 0.0210, 9000, 3.41, prefix + "clean.jsonl"},
                     {"poisoned-pretrain", 0.7731 - shift, 0.9412 - shift, 9000, 3.52, prefix + "poisoned.jsonl"},
                     {"clip-finetune", 0.7698, 0.7120 + shift, 9000, 1.05, prefix + "clip.jsonl"},
                     {"cleanclip-finetune", 0.7544, 0.0893 + shift, 9000, 1.87, prefix + "cleanclip.jsonl"},
                     {"supervised-finetune", 0.8321, 0.0511, 9000, 0.96, prefix + "supervised.jsonl"}}};
}

TEST(StudyReport, JsonOfOneStudyIsItsObjectWithNullForAMissingAsr) {
  StudyResult study{
      .attack = "badnet",
      .target = "bag",
      .seed = 7,
      .stages = {{"clean-pretrain", 0.8125, NAN, 0, 2.5, ""}, {"poisoned-pretrain", 0.75, 0.9375, 900, 3, ""}}};
  nlohmann::json json = studies_json({study});
  EXPECT_EQ(json, study_json(study));
  EXPECT_EQ(json["attack"], "badnet");
  EXPECT_EQ(json["target"], "bag");
  EXPECT_EQ(json["seed"], 7);
  ASSERT_EQ(json["stages"].size(), 2u);
  EXPECT_EQ(json["stages"][0]["name"], "clean-pretrain");
  EXPECT_EQ(json["stages"][0]["clean_top1"], 0.8125);
  EXPECT_TRUE(json["stages"][0]["asr"].is_null());
  EXPECT_EQ(json["stages"][1]["asr"], 0.9375);
  EXPECT_EQ(json["stages"][1]["asr_n"], 900);
  EXPECT_EQ(json["stages"][1]["minutes"], 3.0);
  EXPECT_FALSE(json["stages"][1].contains("metrics_path"));
  // It survives a round trip through text (no NaN in the file).
  EXPECT_EQ(nlohmann::json::parse(json.dump()), json);
}

TEST(StudyReport, WritesAllThreeFilesForSeveralStudies) {
  testing::TempDir dir("study_report");
  std::vector<StudyResult> studies;
  for (const char* attack : {"badnet", "blended"})
    for (uint64_t seed = 0; seed < 3; ++seed) studies.push_back(realistic_study(dir, attack, seed));
  write_study_report(studies, dir.file("out/nested"));

  nlohmann::json json = nlohmann::json::parse(read_text(dir.file("out/nested/results.json")));
  ASSERT_TRUE(json.is_array());
  ASSERT_EQ(json.size(), 6u);
  EXPECT_EQ(json[4]["attack"], "blended");
  EXPECT_EQ(json[4]["seed"], 1);
  EXPECT_EQ(json[4]["stages"][3]["name"], "cleanclip-finetune");
  EXPECT_DOUBLE_EQ(json[4]["stages"][3]["asr"].get<double>(), studies[4].stages[3].asr);

  std::string md = read_text(dir.file("out/nested/results.md"));
  EXPECT_EQ(count_of(md, "| badnet | bag | "), 15u + 5u);  // 3 seeds x 5 stages, and 5 summary rows
  EXPECT_NE(md.find("| blended | bag | 2 | cleanclip-finetune | 0.754 | 0.109 | 9000 | 1.87 |"), std::string::npos);
  // The summary row, recomputed: ASR of poisoned-pretrain over seeds 0, 1, 2 is 0.9412 - {0, 0.01, 0.02}.
  double mean = 0.9412 - 0.01, deviation = 0.01;  // sample standard deviation of three values 0.01 apart
  std::string expected = "| blended | bag | poisoned-pretrain | 3 | " + format_fixed(0.7731 - 0.01, 3) + " ± " +
                         format_fixed(0.01, 3) + " | " + format_fixed(mean, 3) + " ± " + format_fixed(deviation, 3) +
                         " | 3.52 ± 0.00 |";
  EXPECT_NE(md.find(expected), std::string::npos) << expected << "\n" << md;

  std::string html = read_text(dir.file("out/nested/report.html"));
  EXPECT_EQ(check_tag_balance(html), "");
  // The two overview charts, then per study: the bars and one loss plot per stage.
  EXPECT_EQ(count_of(html, "<svg"), 2 + 6u * (1 + 5));
  EXPECT_NE(html.find("Attack success rate per stage, mean ± standard deviation over seeds"), std::string::npos);
  EXPECT_NE(html.find("Mean ± standard deviation over seeds"), std::string::npos);
  EXPECT_EQ(count_of(html, "<section"), 6u);
  std::set<std::string> written;  // and nothing else: no temporary file left behind
  for (const auto& entry : std::filesystem::directory_iterator(dir.file("out/nested")))
    written.insert(entry.path().filename().string());
  EXPECT_EQ(written, (std::set<std::string>{"report.html", "results.json", "results.md"}));
  if (const char* keep = std::getenv("CLIPGRAD_REPORT_SAMPLE_DIR"))
    write_study_report(studies, (std::filesystem::path(keep) / "several").string());
}

TEST(StudyReport, OneStudyPageShowsStagesNumbersAndLossParts) {
  testing::TempDir dir("study_report");
  StudyResult study = realistic_study(dir, "wanet", 0);
  std::string html = study_html({study});
  EXPECT_EQ(check_tag_balance(html), "");
  EXPECT_EQ(count_of(html, "<svg"), 6u);
  for (const StageResult& stage : study.stages) {
    EXPECT_GE(count_of(html, ">" + stage.name + "<"), 3u) << stage.name;  // table, bar label, plot title
    EXPECT_NE(html.find(">" + format_fixed(stage.clean_top1, 3) + "<"), std::string::npos) << stage.name;
    EXPECT_NE(html.find(">" + format_fixed(stage.asr, 3) + "<"), std::string::npos) << stage.name;
  }
  // The CleanCLIP stage plots its two parts besides the total.
  EXPECT_EQ(count_of(html, "<polyline"), 4u * 1 + 3u);
  EXPECT_NE(html.find(">inmodal<"), std::string::npos);
  EXPECT_NE(html.find(">clip<"), std::string::npos);
  EXPECT_NE(html.find("400 steps (0–399)"), std::string::npos);
  EXPECT_EQ(html.find("Mean ± standard deviation"), std::string::npos);  // one seed: no summary over seeds
  EXPECT_EQ(study_markdown({study}).find("Mean ±"), std::string::npos);
  // Self-contained: no scripts, nothing fetched.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  EXPECT_EQ(count_of(html, "http"), count_of(html, "xmlns=\"http://www.w3.org/2000/svg\""));

  // The page holds its plots, so it outlives the metrics files in the temporary folder.
  if (const char* keep = std::getenv("CLIPGRAD_REPORT_SAMPLE_DIR")) write_study_report({study}, keep);
}

TEST(StudyReport, MissingOrBrokenMetricsBecomeNotesAndOneStageStillPlots) {
  testing::TempDir dir("study_report");
  io::write_file_atomic(dir.file("empty.jsonl"), "");
  io::write_file_atomic(dir.file("broken.jsonl"), "{\"step\":0,\"loss\":1}\nnot json\n");
  io::write_file_atomic(dir.file("one.jsonl"), "{\"step\":0,\"loss\":2.5}\n");
  write_metrics(dir.file("long.jsonl"), 30000, 6, 0.8, {"clip", "inmodal"}, 5);
  StudyResult study{.attack = "label-consistent",
                    .target = "bag",
                    .seed = 1,
                    .stages = {{"clean-pretrain", 0.5, NAN, 0, 0.1, ""},
                               {"poisoned-pretrain", 0.5, 0.5, 10, 0.1, dir.file("absent.jsonl")},
                               {"clip-finetune", 0.5, 0.5, 10, 0.1, dir.file("empty.jsonl")},
                               {"cleanclip-finetune", 0.5, 0.5, 10, 0.1, dir.file("broken.jsonl")},
                               {"supervised-finetune", 0.5, 0.5, 10, 0.1, dir.file("one.jsonl")},
                               {"long-finetune", 0.5, 0.5, 10, 0.1, dir.file("long.jsonl")}}};
  std::string html = study_html({study});
  EXPECT_EQ(check_tag_balance(html), "");
  EXPECT_EQ(count_of(html, "<svg"), 3u);  // the bars, the one-step plot and the long one
  // 30000 steps: each of the long stage's three polylines is downsampled to at most 1000 points.
  EXPECT_EQ(count_of(html, "<polyline"), 4u);
  for (size_t at = html.find("points=\""); at != std::string::npos; at = html.find("points=\"", at + 1))
    EXPECT_LE(count_of(html.substr(at, html.find('"', at + 8) - at), ","), 1000u);
  EXPECT_LT(html.size(), 400000u);
  EXPECT_EQ(count_of(html, "class=\"note\""), 4u);
  EXPECT_NE(html.find("No metrics file was recorded"), std::string::npos);
  EXPECT_NE(html.find("does not exist"), std::string::npos);
  EXPECT_NE(html.find("has no steps"), std::string::npos);
  EXPECT_NE(html.find("broken.jsonl:2: not a JSON object"), std::string::npos);
  EXPECT_NE(html.find(">n/a<"), std::string::npos);  // the clean model's ASR bar
  EXPECT_NE(html.find("1 step (step 0); final total loss 2.5000"), std::string::npos);
  EXPECT_EQ(html.find(">0.5<"), std::string::npos);  // no half steps on the one-step plot's x axis

  if (const char* keep = std::getenv("CLIPGRAD_REPORT_SAMPLE_DIR"))
    write_study_report({study}, (std::filesystem::path(keep) / "edge").string());

  StudyResult single{.attack = "badnet", .target = "bag", .seed = 0, .stages = {study.stages[4]}};
  std::string one_stage = study_html({single});
  EXPECT_EQ(check_tag_balance(one_stage), "");
  EXPECT_EQ(count_of(one_stage, "<svg"), 2u);
  EXPECT_NE(one_stage.find("1 stage, 0.1 minutes in all"), std::string::npos);
}

TEST(StudyReport, OddNamesAreEscapedEverywhere) {
  StudyResult study{.attack = "<script>alert('x')</script>",
                    .target = "b&g \"quoted\"",
                    .seed = 2,
                    .stages = {{"stage | with <pipes> & *stars*", 0.25, 0.5, 4, 0.5, ""}}};
  std::string html = study_html({study});
  EXPECT_EQ(check_tag_balance(html), "");
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("b&amp;g &quot;quoted&quot;"), std::string::npos);
  EXPECT_NE(html.find("stage | with &lt;pipes&gt; &amp; *stars*"), std::string::npos);

  std::string md = study_markdown({study});
  EXPECT_NE(md.find("| stage \\| with \\<pipes\\> & \\*stars\\* |"), std::string::npos) << md;
  EXPECT_EQ(count_of(md.substr(md.rfind('\n', md.size() - 2)), " | "), 7u);  // the row still has 8 cells
  EXPECT_EQ(studies_json({study})["attack"], study.attack);                  // JSON keeps the name as it is
  if (const char* keep = std::getenv("CLIPGRAD_REPORT_SAMPLE_DIR"))
    write_study_report({study}, (std::filesystem::path(keep) / "odd").string());
}

TEST(StudyReport, NoStudiesIsAnError) {
  testing::TempDir dir("study_report");
  EXPECT_THROW(write_study_report({}, dir.file("out")), std::invalid_argument);
}

}  // namespace
}  // namespace clipgrad::cleanclip
