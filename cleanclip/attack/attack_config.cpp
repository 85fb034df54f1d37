#include "cleanclip/attack/attack_config.h"

#include <cmath>
#include <filesystem>
#include <stdexcept>

#include "io/atomic_file.h"
#include "io/json.h"

namespace clipgrad::cleanclip {

namespace {

constexpr const char* kFormat = "clipgrad-attack";
constexpr int kVersion = 1;

bool uses_patch(AttackKind kind) { return kind == AttackKind::kBadNet || kind == AttackKind::kLabelConsistent; }

}  // namespace

AttackKind parse_attack_kind(const std::string& name) {
  if (name == "badnet") return AttackKind::kBadNet;
  if (name == "blended") return AttackKind::kBlended;
  if (name == "wanet") return AttackKind::kWaNet;
  if (name == "label-consistent") return AttackKind::kLabelConsistent;
  throw std::invalid_argument("unknown attack '" + name + "': use badnet, blended, wanet or label-consistent");
}

std::string attack_name(AttackKind kind) {
  switch (kind) {
    case AttackKind::kBadNet: return "badnet";
    case AttackKind::kBlended: return "blended";
    case AttackKind::kWaNet: return "wanet";
    case AttackKind::kLabelConsistent: return "label-consistent";
  }
  throw std::logic_error("attack_name: bad AttackKind");
}

PatchLocation parse_patch_location(const std::string& name) {
  if (name == "random") return PatchLocation::kRandom;
  if (name == "four-corners") return PatchLocation::kFourCorners;
  throw std::invalid_argument("unknown patch location '" + name + "': use random or four-corners");
}

std::string patch_location_name(PatchLocation location) {
  return location == PatchLocation::kRandom ? "random" : "four-corners";
}

void AttackConfig::validate() const {
  if (target.empty()) throw std::invalid_argument("attack: the target label is empty (--target LABEL)");
  if (uses_patch(kind) && (patch_size < 0 || patch_size == 1))
    throw std::invalid_argument("attack: patch size " + std::to_string(patch_size) +
                                " is invalid: use 2 or more, or 0 for 16/224 of the shorter side");
  if (kind == AttackKind::kWaNet) {
    if (wanet_k < 2 || wanet_k > kMaxWaNetK)
      throw std::invalid_argument("attack: wanet k " + std::to_string(wanet_k) + " must be from 2 to " +
                                  std::to_string(kMaxWaNetK));
    if (!(wanet_s > 0 && std::isfinite(wanet_s)))
      throw std::invalid_argument("attack: wanet s " + std::to_string(wanet_s) + " must be finite and > 0");
    if (!wanet_grid.empty() && wanet_grid.size() != static_cast<size_t>(2 * wanet_k * wanet_k))
      throw std::invalid_argument("attack: wanet grid holds " + std::to_string(wanet_grid.size()) +
                                  " values, expected 2*k*k = " + std::to_string(2 * wanet_k * wanet_k));
  }
  if (!poisoned_keys.empty() && poisoned_keys.size() != poisoned_rows.size())
    throw std::invalid_argument("attack: " + std::to_string(poisoned_keys.size()) + " poisoned keys for " +
                                std::to_string(poisoned_rows.size()) + " poisoned rows");
}

nlohmann::json AttackConfig::to_json() const {
  nlohmann::json json = nlohmann::json::object();
  json["format"] = kFormat;
  json["version"] = kVersion;
  json["attack"] = attack_name(kind);
  json["target"] = target;
  json["seed"] = seed;
  if (uses_patch(kind)) {
    json["patch_size"] = patch_size;
    json["patch_location"] = patch_location_name(patch_location);
  }
  if (kind == AttackKind::kBlended) json["fresh_noise"] = fresh_noise;
  if (kind == AttackKind::kWaNet) {
    json["wanet_k"] = wanet_k;
    json["wanet_s"] = wanet_s;
    if (!wanet_grid.empty()) json["wanet_grid"] = wanet_grid;
    json["wanet_field"] = kWaNetFieldFile;
  }
  json["source"] = source;
  json["rows"] = rows;
  json["num"] = num ? nlohmann::json(*num) : nlohmann::json(nullptr);
  json["rate"] = rate ? nlohmann::json(*rate) : nlohmann::json(nullptr);
  json["poisoned_rows"] = poisoned_rows;
  if (!poisoned_keys.empty()) json["poisoned_keys"] = poisoned_keys;
  json["trigger_keys"] = "training row r: key r; evaluation image i: 2^63 + i";
  return json;
}

AttackConfig AttackConfig::from_json(const nlohmann::json& json, const std::string& where) {
  AttackConfig config;
  try {
    if (!json.is_object()) throw std::invalid_argument("not a JSON object");
    if (json.value("format", std::string()) != kFormat)
      throw std::invalid_argument(std::string("\"format\" is not \"") + kFormat + "\"");
    if (json.at("version").get<int>() != kVersion)
      throw std::invalid_argument("version " + io::json_excerpt(json.at("version")) + " is not supported (expected " +
                                  std::to_string(kVersion) + ")");
    config.kind = parse_attack_kind(json.at("attack").get<std::string>());
    config.target = json.at("target").get<std::string>();
    config.seed = json.at("seed").get<uint64_t>();
    if (uses_patch(config.kind)) {
      config.patch_size = json.at("patch_size").get<int>();
      config.patch_location = parse_patch_location(json.at("patch_location").get<std::string>());
    }
    if (config.kind == AttackKind::kBlended) config.fresh_noise = json.at("fresh_noise").get<bool>();
    if (config.kind == AttackKind::kWaNet) {
      config.wanet_k = json.at("wanet_k").get<int>();
      config.wanet_s = json.at("wanet_s").get<double>();
      if (json.contains("wanet_grid")) config.wanet_grid = json.at("wanet_grid").get<std::vector<float>>();
    }
    config.source = json.value("source", std::string());
    config.rows = json.value("rows", int64_t{0});
    if (json.contains("num") && !json.at("num").is_null()) config.num = json.at("num").get<int64_t>();
    if (json.contains("rate") && !json.at("rate").is_null()) config.rate = json.at("rate").get<double>();
    if (json.contains("poisoned_rows")) config.poisoned_rows = json.at("poisoned_rows").get<std::vector<int64_t>>();
    if (json.contains("poisoned_keys"))
      config.poisoned_keys = json.at("poisoned_keys").get<std::vector<std::pair<std::string, std::string>>>();
    config.validate();
  } catch (const std::exception& error) {
    throw std::invalid_argument("bad attack config '" + where + "': " + error.what());
  }
  return config;
}

AttackConfig AttackConfig::load(const std::string& attack_json) {
  if (!std::filesystem::exists(attack_json))
    throw std::runtime_error("cannot open attack config '" + attack_json + "' (written by clipgrad poison)");
  return from_json(io::read_json_file(attack_json, "attack config"), attack_json);
}

void AttackConfig::save(const std::string& attack_json) const {
  io::write_file_atomic(attack_json, to_json().dump(2) + "\n");
}

}  // namespace clipgrad::cleanclip
