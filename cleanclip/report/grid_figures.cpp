#include "cleanclip/report/grid_figures.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

#include "cleanclip/report/error_chart.h"
#include "cleanclip/report/svg_plot.h"

namespace clipgrad::cleanclip {

namespace {

using Filter = std::function<bool(const GridRecord&)>;
using Measure = std::function<double(const GridRecord&)>;

bool in(const GridRecord& r, const std::string& experiment) {
  return std::find(r.experiments.begin(), r.experiments.end(), experiment) != r.experiments.end();
}

// The records that pass `filter`, grouped by `x`: one point per x, the mean of `y` with its interval.
ErrorSeries series(const GridReport& report, const std::string& name, const Filter& filter, const Measure& x,
                   const Measure& y, bool dashed = false) {
  std::map<double, std::vector<double>> by_x;
  for (const GridRecord& r : report.records)
    if (filter(r) && std::isfinite(x(r))) by_x[x(r)].push_back(y(r));
  ErrorSeries s;
  s.name = name;
  s.dashed = dashed;
  for (const auto& [value, ys] : by_x) {
    const Interval interval = bootstrap_mean(ys);
    if (interval.n == 0) continue;
    s.x.push_back(value), s.y.push_back(interval.mean);
    s.y_low.push_back(interval.low), s.y_high.push_back(interval.high);
  }
  return s;
}

// Adds the chart to `figures` when one of its series has a point.
void figure(std::vector<GridFigure>& figures, const std::string& name, const ErrorChart& chart,
            const std::string& caption) {
  for (const ErrorSeries& s : chart.series)
    if (!s.x.empty()) {
      figures.push_back({name, chart.title, render_error_chart(chart), caption});
      return;
    }
}

ErrorChart chart_of(const std::string& title, const std::string& x_label, const std::string& y_label, bool log_x) {
  ErrorChart chart;
  chart.title = title, chart.x_label = x_label, chart.y_label = y_label, chart.log_x = log_x;
  return chart;
}

double asr(const GridRecord& r) { return r.asr; }
double top1(const GridRecord& r) { return r.clean_top1; }
double percent_rate(const GridRecord& r) { return r.rate * 100; }

void rate_figures(const GridReport& report, std::vector<GridFigure>& figures) {
  for (const char* attack : {"badnet", "blended"}) {
    const auto of = [&](const char* kind) {
      return [=](const GridRecord& r) { return in(r, "rates") && r.attack == attack && r.kind == kind; };
    };
    const auto stage = [&](const char* name) {
      return [=](const GridRecord& r) { return in(r, "rates") && r.attack == attack && r.stage == name; };
    };
    ErrorChart chart = chart_of(std::string(attack) + ": ASR against the poison rate",
                                "poisoned pairs (% of pretraining, log scale)", "ASR", true);
    chart.series = {series(report, "clean model", of("clean-pretrain"), percent_rate, asr, true),
                    series(report, "poisoned", of("poisoned-pretrain"), percent_rate, asr),
                    series(report, "CLIP-loss fine-tune", stage("clip-finetune"), percent_rate, asr),
                    series(report, "CleanCLIP", stage("cleanclip-finetune"), percent_rate, asr)};
    figure(figures, std::string("rates-") + attack, chart, "Mean and 95% interval over the rate sweep's seeds.");
  }
}

// ASR and clean top-1 against one defence parameter of an experiment (lambda2, rows, lr).
void sweep_figure(const GridReport& report, std::vector<GridFigure>& figures, const std::string& experiment,
                  const std::string& what, const Measure& x, const std::vector<const char*>& kinds) {
  ErrorChart chart = chart_of("ASR and clean top-1 against " + what, what + " (log scale)", "ASR / clean top-1", true);
  for (const char* kind : kinds) {
    const Filter filter = [=](const GridRecord& r) { return in(r, experiment) && r.kind == kind; };
    chart.series.push_back(series(report, std::string(kind) + " ASR", filter, x, asr));
    chart.series.push_back(series(report, std::string(kind) + " clean top-1", filter, x, top1, true));
  }
  figure(figures, experiment, chart,
         "Experiment \"" + experiment + "\": mean and 95% interval over its seeds (dashed: clean top-1).");
}

// One attack's fine-tunes, epoch by epoch, in the clean-accuracy / ASR plane, from the poisoned model.
void trajectory_figure(const GridReport& report, std::vector<GridFigure>& figures, const std::string& attack) {
  ErrorChart chart =
      chart_of(attack + ": fine-tuning, epoch by epoch", "clean top-1 (first test images)", "ASR", false);
  std::vector<std::string> stages;
  for (const GridRecord& r : report.records)
    if ((in(r, "main") || in(r, "main-favoured")) && r.attack == attack &&
        (r.kind == "clip" || r.kind == "cleanclip") && std::find(stages.begin(), stages.end(), r.stage) == stages.end())
      stages.push_back(r.stage);
  for (const std::string& stage : stages) {
    std::map<int64_t, std::pair<std::vector<double>, std::vector<double>>> by_epoch;
    for (const GridRecord& r : report.records) {
      if (r.attack != attack || !(in(r, "main") || in(r, "main-favoured"))) continue;
      if (r.kind == "poisoned-pretrain" && !r.epochs.empty())
        by_epoch[0].first.push_back(r.epochs.back().clean_top1), by_epoch[0].second.push_back(r.epochs.back().asr);
      if (r.stage == stage)
        for (const GridEpoch& e : r.epochs)
          by_epoch[e.epoch].first.push_back(e.clean_top1), by_epoch[e.epoch].second.push_back(e.asr);
    }
    ErrorSeries s;
    s.name = stage;
    for (const auto& [epoch, values] : by_epoch) {
      const Interval x = bootstrap_mean(values.first), y = bootstrap_mean(values.second);
      s.x.push_back(x.mean), s.x_low.push_back(x.low), s.x_high.push_back(x.high);
      s.y.push_back(y.mean), s.y_low.push_back(y.low), s.y_high.push_back(y.high);
      s.labels.push_back(epoch == 0
                             ? "poisoned"
                             : (epoch == by_epoch.rbegin()->first ? std::string("e") + std::to_string(epoch) : ""));
    }
    chart.series.push_back(s);
  }
  figure(figures, "trajectory-" + attack, chart,
         "Main experiment: mean per epoch over seeds, 95% intervals on both axes; the first point is "
         "the poisoned model.");
}

void pretraining_figures(const GridReport& report, std::vector<GridFigure>& figures) {
  const auto epochs = [&](const Filter& filter, bool of_asr, const std::string& name) {
    std::map<int64_t, std::vector<double>> by_epoch;
    std::set<int64_t> seeds;
    for (const GridRecord& r : report.records)
      if (filter(r) && (r.kind != "clean-pretrain" || seeds.insert(r.seed).second))
        for (const GridEpoch& e : r.epochs) by_epoch[e.epoch].push_back(of_asr ? e.asr : e.clean_top1);
    ErrorSeries s;
    s.name = name;
    for (const auto& [epoch, values] : by_epoch) {
      const Interval i = bootstrap_mean(values);
      s.x.push_back(epoch), s.y.push_back(i.mean), s.y_low.push_back(i.low), s.y_high.push_back(i.high);
    }
    return s;
  };
  ErrorChart accuracy =
      chart_of("Pretraining: clean zero-shot top-1", "epoch", "clean top-1 (first test images)", false);
  ErrorChart attack = chart_of("Pretraining: ASR of the poisoned models", "epoch", "ASR", false);
  accuracy.series.push_back(
      epochs([](const GridRecord& r) { return in(r, "main") && r.kind == "clean-pretrain"; }, false, "clean model"));
  for (const char* name : {"badnet", "blended", "wanet", "label-consistent"}) {
    const Filter poisoned = [=](const GridRecord& r) {
      return in(r, "main") && r.attack == name && r.kind == "poisoned-pretrain";
    };
    accuracy.series.push_back(epochs(poisoned, false, name));
    attack.series.push_back(epochs(poisoned, true, name));
  }
  figure(figures, "pretraining-top1", accuracy, "Main experiment's seeds: mean and 95% interval per epoch.");
  figure(figures, "pretraining-asr", attack, "Main experiment's seeds, at the main rate.");
}

std::string data_uri(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out = "data:image/png;base64,";
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t chunk = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) chunk |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) chunk |= static_cast<uint8_t>(bytes[i + 2]);
    out += alphabet[(chunk >> 18) & 63];
    out += alphabet[(chunk >> 12) & 63];
    out += i + 1 < bytes.size() ? alphabet[(chunk >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? alphabet[chunk & 63] : '=';
  }
  return out;
}

std::string example_figures(const GridReport& report) {
  std::string html;
  for (const TriggerExample& example : report.examples) {
    html += "<figure><div>";
    for (size_t i = 0; i < example.clean.size(); ++i)
      for (const std::string* path : {&example.clean[i], &example.triggered[i], &example.difference[i]})
        html += "<img class=\"px\" alt=\"" + escape_html(*path) + "\" src=\"" + data_uri(*path) + "\">";
    html += "</div><figcaption>" + escape_html(example.attack) +
            ": test images, each beside its triggered version and the absolute difference magnified " +
            std::to_string(example.magnification) + "x.</figcaption></figure>\n";
  }
  return html;
}

}  // namespace

std::vector<GridFigure> grid_figures(const GridReport& report) {
  std::vector<GridFigure> figures;
  rate_figures(report, figures);
  sweep_figure(report, figures, "lambda2", "lambda2", [](const GridRecord& r) { return r.lambda2; }, {"cleanclip"});
  sweep_figure(report, figures, "rows", "clean fine-tuning pairs", [](const GridRecord& r) { return double(r.rows); },
               {"clip", "cleanclip"});
  sweep_figure(report, figures, "lr", "fine-tuning learning rate", [](const GridRecord& r) { return r.lr; },
               {"clip", "cleanclip"});
  for (const char* attack : {"badnet", "blended", "wanet", "label-consistent"})
    trajectory_figure(report, figures, attack);
  pretraining_figures(report, figures);
  return figures;
}

std::string grid_figures_html(const GridReport& report) {
  std::string html = "<h2>Figures</h2>\n<div class=\"plots\">\n";
  for (const GridFigure& figure : grid_figures(report))
    html += "<figure>" + figure.svg + "<figcaption>" + escape_html(figure.caption) + "</figcaption></figure>\n";
  return html + "</div>\n<h2>The triggers</h2>\n<div class=\"plots\">\n" + example_figures(report) + "</div>\n";
}

}  // namespace clipgrad::cleanclip
