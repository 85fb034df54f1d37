#include "cleanclip/report/loss_curves.h"

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "io/json.h"

namespace clipgrad::cleanclip {

// The total loss's key among the parts: no part name is empty, so a part called "total" cannot collide.
const std::string kTotal;

LossCurves read_loss_curves(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read metrics file '" + path + "': check that the stage wrote it");
  // step -> (curve name -> value); the map orders steps and lets a repeated step overwrite.
  std::map<int64_t, std::map<std::string, double>> by_step;
  LossCurves result;
  std::string line;
  int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string where = path + ":" + std::to_string(line_number);
    const nlohmann::json entry = io::try_parse_json(line).value_or(nlohmann::json());
    if (!entry.is_object()) throw std::runtime_error(where + ": not a JSON object (a metrics line was cut short?)");
    if (!entry.contains("step") || !entry.at("step").is_number())
      throw std::runtime_error(where + ": no numeric \"step\"");
    if (!entry.contains("loss") || !entry.at("loss").is_number())
      throw std::runtime_error(where + ": no numeric \"loss\"");
    std::map<std::string, double>& values = by_step[entry.at("step").get<int64_t>()];
    values.clear();
    for (const auto& [key, value] : entry.items()) {
      if (!value.is_number()) continue;
      if (key == "loss")
        values[kTotal] = value.get<double>();
      else if (key.rfind("loss_", 0) == 0 && key.size() > 5)
        values[key.substr(5)] = value.get<double>();
    }
    ++result.lines;
  }
  if (in.bad()) throw std::runtime_error("error reading metrics file '" + path + "'");
  if (by_step.empty()) return result;
  result.steps = static_cast<int64_t>(by_step.size());
  result.first_step = by_step.begin()->first;
  result.last_step = by_step.rbegin()->first;

  std::map<std::string, LossCurve> parts;
  LossCurve total;
  total.name = "total";
  total.is_total = true;
  for (const auto& [step, values] : by_step)
    for (const auto& [name, value] : values) {
      if (!std::isfinite(value)) continue;
      LossCurve& curve = name == kTotal ? total : parts[name];
      if (name != kTotal) curve.name = name;
      curve.steps.push_back(static_cast<double>(step));
      curve.values.push_back(value);
    }
  if (!total.steps.empty()) result.curves.push_back(std::move(total));
  for (auto& [name, curve] : parts) result.curves.push_back(std::move(curve));
  return result;
}

}  // namespace clipgrad::cleanclip
