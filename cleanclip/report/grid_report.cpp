// results.json, results.md and report.html of a recipe's study: the tables.
// The figures are grid_figures.cpp's.
#include "cleanclip/report/grid_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>

#include "cleanclip/report/grid_figures.h"
#include "cleanclip/report/svg_plot.h"
#include "io/atomic_file.h"
#include "tensor/random.h"

namespace clipgrad::cleanclip {

namespace {

struct Table {
  std::string title, note;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

std::string rate_text(double rate) { return std::isfinite(rate) ? number(rate * 100) + "%" : "-"; }

std::string interval_text(const Interval& interval, int decimals = 3) {
  if (interval.n == 0) return "n/a";
  if (interval.n == 1) return format_fixed(interval.mean, decimals);
  return format_fixed(interval.mean, decimals) + " [" + format_fixed(interval.low, decimals) + ", " +
         format_fixed(interval.high, decimals) + "]";
}

bool in(const GridRecord& record, const std::string& experiment) {
  return std::find(record.experiments.begin(), record.experiments.end(), experiment) != record.experiments.end();
}

// The records of `experiments` grouped by (attack, rate, stage), in order of first appearance.
struct Group {
  std::string attack, stage;
  double rate = NAN;
  std::vector<const GridRecord*> records;
};
std::vector<Group> groups_of(const GridReport& report, const std::set<std::string>& experiments) {
  std::vector<Group> groups;
  for (const GridRecord& r : report.records) {
    if (std::none_of(experiments.begin(), experiments.end(), [&](const std::string& e) { return in(r, e); })) continue;
    auto found = std::find_if(groups.begin(), groups.end(), [&](const Group& g) {
      return g.attack == r.attack && g.stage == r.stage &&
             (g.rate == r.rate || (std::isnan(g.rate) && std::isnan(r.rate)));
    });
    if (found == groups.end()) found = groups.insert(groups.end(), Group{r.attack, r.stage, r.rate, {}});
    found->records.push_back(&r);
  }
  return groups;
}

Interval of(const std::vector<const GridRecord*>& records, double (*value)(const GridRecord&)) {
  std::vector<double> values;
  for (const GridRecord* r : records) values.push_back(value(*r));
  return bootstrap_mean(values);
}
double top1(const GridRecord& r) { return r.clean_top1; }
double asr(const GridRecord& r) { return r.asr; }
double excess(const GridRecord& r) { return r.asr - r.clean_model_asr; }

Table long_table(const GridReport& report, const std::string& experiment) {
  Table table{"Experiment \"" + experiment + "\"",
              "",
              {"attack", "rate", "stage", "seeds", "clean top-1", "ASR", "ASR - clean model's"},
              {}};
  for (const Group& g : groups_of(report, {experiment}))
    table.rows.push_back({g.attack, rate_text(g.rate), g.stage, std::to_string(g.records.size()),
                          interval_text(of(g.records, top1)), interval_text(of(g.records, asr)),
                          interval_text(of(g.records, excess))});
  return table;
}

// The main table, wide: one row per attack, one column per stage, for one measure.
Table wide_table(const GridReport& report, const std::string& title, double (*value)(const GridRecord&)) {
  const std::vector<Group> groups = groups_of(report, {"main", "main-favoured"});
  std::vector<std::string> stages, attacks;
  for (const Group& g : groups) {
    if (std::find(stages.begin(), stages.end(), g.stage) == stages.end()) stages.push_back(g.stage);
    if (std::find(attacks.begin(), attacks.end(), g.attack) == attacks.end()) attacks.push_back(g.attack);
  }
  Table table{title, "", {"attack"}, {}};
  for (const std::string& stage : stages) table.header.push_back(stage);
  for (const std::string& attack : attacks) {
    std::vector<std::string> row = {attack};
    for (const std::string& stage : stages) {
      auto found = std::find_if(groups.begin(), groups.end(),
                                [&](const Group& g) { return g.attack == attack && g.stage == stage; });
      row.push_back(found == groups.end() ? "" : interval_text(of(found->records, value)));
    }
    table.rows.push_back(row);
  }
  return table;
}

// Each defence's ASR and clean top-1 minus those of the CLIP-loss fine-tune of the same model, at
// the same rate and clean set, per seed.
Table paired_table(const GridReport& report) {
  Table table{"Paired differences: defence minus CLIP-loss-only fine-tune, per seed",
              "",
              {"experiment", "attack", "rate", "stage", "seeds", "ASR difference", "clean top-1 difference"},
              {}};
  std::map<std::tuple<std::string, std::string, std::string, std::string>,
           std::pair<std::vector<double>, std::vector<double>>>
      differences;
  std::vector<std::tuple<std::string, std::string, std::string, std::string>> order;
  for (const GridRecord& r : report.records) {
    if (r.kind != "cleanclip" && r.kind != "supervised") continue;
    for (const GridRecord& c : report.records) {
      if (c.kind != "clip" || c.attack != r.attack || c.seed != r.seed || c.rows != r.rows || r.attack == "none" ||
          !(c.rate == r.rate || (std::isnan(c.rate) && std::isnan(r.rate))) || (r.kind == "cleanclip" && c.lr != r.lr))
        continue;
      for (const std::string& experiment : r.experiments) {
        if (!in(c, experiment) && !(experiment == "main-favoured" && in(c, "main"))) continue;
        const auto key = std::tuple{experiment, r.attack, rate_text(r.rate), r.stage};
        if (!differences.count(key)) order.push_back(key);
        differences[key].first.push_back(r.asr - c.asr);
        differences[key].second.push_back(r.clean_top1 - c.clean_top1);
      }
    }
  }
  for (const auto& key : order) {
    const auto& [asr_diff, top1_diff] = differences[key];
    table.rows.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), std::get<3>(key),
                          std::to_string(asr_diff.size()), interval_text(bootstrap_mean(asr_diff)),
                          interval_text(bootstrap_mean(top1_diff))});
  }
  return table;
}

Table records_table(const GridReport& report) {
  Table table{"Every stage",
              "",
              {"experiments", "attack", "rate", "seed", "stage", "clean top-1", "ASR", "clean model's ASR", "minutes"},
              {}};
  for (const GridRecord& r : report.records) {
    std::string experiments;
    for (const std::string& e : r.experiments) experiments += (experiments.empty() ? "" : ", ") + e;
    table.rows.push_back({experiments, r.attack, rate_text(r.rate), std::to_string(r.seed), r.stage,
                          format_fixed(r.clean_top1, 4), format_fixed(r.asr, 4), format_fixed(r.clean_model_asr, 4),
                          format_fixed(r.minutes, 1)});
  }
  return table;
}

double study_hours(const GridReport& report) {
  std::set<std::string> counted;
  double minutes = 0;
  for (const GridRecord& r : report.records) {
    const bool shared = r.kind == "clean-pretrain";  // one clean model per seed, listed under each attack
    const std::string key = shared ? std::to_string(r.seed) + "|" + r.stage
                                   : r.attack + number(r.rate) + "|" + std::to_string(r.seed) + "|" + r.stage;
    if (counted.insert(key).second) minutes += r.minutes;
  }
  return minutes / 60;
}

std::vector<Table> tables(const GridReport& report) {
  std::vector<Table> list;
  if (!report.pilot.empty()) {
    Table pilot{"Pilot: the main rate", "", {"rate", "mean poisoned ASR", "takes"}, {}};
    for (const auto& [rate, mean] : report.pilot)
      pilot.rows.push_back(
          {rate_text(rate), format_fixed(mean, 3), mean >= report.recipe.value("takes_asr", 0.5) ? "yes" : "no"});
    list.push_back(pilot);
  }
  list.push_back(wide_table(report, "Main table: ASR, mean [95% bootstrap interval over seeds]", asr));
  list.push_back(wide_table(report, "Main table: clean top-1", top1));
  list.push_back(wide_table(report, "Main table: ASR minus the same seed's clean model's ASR for the trigger", excess));
  list.push_back(paired_table(report));
  std::vector<std::string> experiments;
  for (const GridRecord& r : report.records)
    for (const std::string& e : r.experiments)
      if (std::find(experiments.begin(), experiments.end(), e) == experiments.end()) experiments.push_back(e);
  for (const std::string& e : experiments) list.push_back(long_table(report, e));
  list.push_back(records_table(report));
  return list;
}

std::string markdown(const Table& table) {
  std::string md = "### " + table.title + "\n\n|";
  for (const std::string& h : table.header) md += " " + h + " |";
  md += "\n|";
  for (size_t i = 0; i < table.header.size(); ++i) md += "---|";
  md += "\n";
  for (const auto& row : table.rows) {
    md += "|";
    for (const std::string& cell : row) md += " " + cell + " |";
    md += "\n";
  }
  return md + "\n";
}

std::string html(const Table& table) {
  std::string out = "<h3>" + escape_html(table.title) + "</h3>\n<table>\n<tr>";
  for (const std::string& h : table.header) out += "<th>" + escape_html(h) + "</th>";
  out += "</tr>\n";
  for (const auto& row : table.rows) {
    out += "<tr>";
    for (const std::string& cell : row) out += "<td>" + escape_html(cell) + "</td>";
    out += "</tr>\n";
  }
  return out + "</table>\n";
}

std::string summary(const GridReport& report) {
  char text[512];
  std::snprintf(text, sizeof text,
                "Main poison rate: %s%s. Favoured lambda2: %s. Stage time so far: %.2f hours. Intervals: 95%% "
                "percentile bootstrap of the mean over seeds (10,000 resamples).",
                rate_text(report.main_rate).c_str(), report.main_rate_takes ? "" : " (no pilot rate took: the highest)",
                std::isnan(report.favoured_lambda2) ? "not decided yet" : number(report.favoured_lambda2).c_str(),
                study_hours(report));
  return text;
}

nlohmann::json report_json(const GridReport& report) {
  nlohmann::json records = nlohmann::json::array();
  const auto finite = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  for (const GridRecord& r : report.records) {
    nlohmann::json epochs = nlohmann::json::array();
    for (const GridEpoch& e : r.epochs) epochs.push_back({e.epoch, e.clean_top1, finite(e.asr)});
    records.push_back({{"experiments", r.experiments},
                       {"attack", r.attack},
                       {"rate", finite(r.rate)},
                       {"seed", r.seed},
                       {"stage", r.stage},
                       {"kind", r.kind},
                       {"lambda2", finite(r.lambda2)},
                       {"lr", finite(r.lr)},
                       {"rows", r.rows},
                       {"clean_top1", r.clean_top1},
                       {"asr", finite(r.asr)},
                       {"asr_n", r.asr_n},
                       {"clean_model_asr", finite(r.clean_model_asr)},
                       {"minutes", r.minutes},
                       {"epochs (epoch, clean_top1, asr)", epochs}});
  }
  nlohmann::json pilot = nlohmann::json::array();
  for (const auto& [rate, mean] : report.pilot) pilot.push_back({{"rate", rate}, {"mean_asr", mean}});
  return {{"title", report.title},
          {"recipe", report.recipe},
          {"main_rate", finite(report.main_rate)},
          {"main_rate_takes", report.main_rate_takes},
          {"pilot", pilot},
          {"favoured_lambda2", finite(report.favoured_lambda2)},
          {"hours", study_hours(report)},
          {"notes", report.notes},
          {"records", records}};
}

}  // namespace

Interval bootstrap_mean(const std::vector<double>& values) {
  std::vector<double> kept;
  for (double v : values)
    if (std::isfinite(v)) kept.push_back(v);
  Interval interval;
  interval.n = static_cast<int>(kept.size());
  if (kept.empty()) return {NAN, NAN, NAN, 0};
  double sum = 0;
  for (double v : kept) sum += v;
  interval.mean = interval.low = interval.high = sum / kept.size();
  if (kept.size() == 1) return interval;
  constexpr int kResamples = 10000;
  Generator generator(0xb007ULL);
  std::vector<double> means(kResamples);
  for (double& mean : means) {
    double total = 0;
    for (size_t i = 0; i < kept.size(); ++i) total += kept[generator.below(kept.size())];
    mean = total / kept.size();
  }
  std::sort(means.begin(), means.end());
  interval.low = means[static_cast<size_t>(0.025 * (kResamples - 1))];
  interval.high = means[static_cast<size_t>(0.975 * (kResamples - 1))];
  return interval;
}

std::string grid_markdown(const GridReport& report, const std::string& out_dir) {
  std::string md = "## " + report.title + "\n\n" + summary(report) + "\n\n";
  for (const std::string& note : report.notes) md += "- " + note + "\n";
  for (const Table& table : tables(report)) md += markdown(table);
  const std::vector<GridFigure> figures = grid_figures(report);
  if (!figures.empty()) md += "### Figures\n\n";
  for (const GridFigure& figure : figures)
    md += "![" + figure.title + "](figures/" + figure.name + ".svg)\n\n" + figure.caption + "\n\n";
  const auto relative = [&](const std::string& path) {
    return out_dir.empty() ? path : std::filesystem::path(path).lexically_relative(out_dir).string();
  };
  if (!report.examples.empty()) md += "### The triggers\n\n";
  for (const TriggerExample& example : report.examples) {
    for (size_t i = 0; i < example.clean.size(); ++i)
      md += "![clean](" + relative(example.clean[i]) + ") ![triggered](" + relative(example.triggered[i]) +
            ") ![difference](" + relative(example.difference[i]) + ") ";
    md += "\n\n" + example.attack +
          ": test images, each beside its triggered version and the absolute difference "
          "magnified " +
          std::to_string(example.magnification) + "x.\n\n";
  }
  return md;
}

std::string grid_html(const GridReport& report) {
  std::string page =
      "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>" + escape_html(report.title) +
      "</title><style>body{font-family:system-ui,sans-serif;max-width:1180px;margin:20px auto;padding:0 16px;"
      "color:#222}table{border-collapse:collapse;font-size:13px;margin:4px 0 16px}th,td{padding:3px 10px 3px 0;"
      "border-bottom:1px solid #ddd;text-align:left}th{border-bottom:2px solid #999}.plots{display:flex;"
      "flex-wrap:wrap;gap:8px 16px}figure{margin:0}figcaption{font-size:13px;color:#555;max-width:540px}"
      "img.px{image-rendering:pixelated;width:128px;height:128px;margin:2px}</style></head><body>\n<h1>" +
      escape_html(report.title) + "</h1>\n<p>" + escape_html(summary(report)) + "</p>\n";
  for (const std::string& note : report.notes) page += "<p class=\"note\">" + escape_html(note) + "</p>\n";
  page += grid_figures_html(report);
  for (const Table& table : tables(report)) page += html(table);
  return page + "</body></html>\n";
}

void write_grid_report(const GridReport& report, const std::string& out_dir) {
  std::filesystem::create_directories(out_dir);
  const std::filesystem::path dir(out_dir);
  const std::string page = grid_html(report);
  io::write_file_atomic((dir / "results.json").string(), report_json(report).dump(1) + "\n");
  const std::vector<GridFigure> figures = grid_figures(report);
  if (!figures.empty()) std::filesystem::create_directories(dir / "figures");
  for (const GridFigure& figure : figures)
    io::write_file_atomic((dir / "figures" / (figure.name + ".svg")).string(), figure.svg);
  io::write_file_atomic((dir / "results.md").string(), grid_markdown(report, out_dir));
  io::write_file_atomic((dir / "report.html").string(), page);
}

}  // namespace clipgrad::cleanclip
