// What a backdoor attack is: its kind, target, seed and parameters, and the
// rows it poisoned. Saved as DIR/attack.json by `clipgrad poison`, and loaded
// back to apply the same trigger to new images (evaluation, the demo).
//
// attack.json (fields of other attacks are absent):
//   {
//     "format": "clipgrad-attack", "version": 1,
//     "attack": "badnet" | "blended" | "wanet" | "label-consistent",
//     "target": "bag", "seed": 7,
//     "patch_size": 0,                     // badnet, label-consistent; 0: 16/224 of each image's shorter side
//     "patch_location": "random",          // or "four-corners"
//     "fresh_noise": false,                // blended: a new noise image per image instead of one pattern
//     "wanet_k": 4, "wanet_s": 0.5,        // wanet
//     "wanet_grid": [..2*k*k floats..],    // wanet: the k x k control grid, [2, k, k] (x offsets, then y)
//     "wanet_field": "wanet_field.safetensors",  // wanet: the upsampled field, beside attack.json
//     "source": "data/train.csv", "rows": 60000,
//     "num": 1500, "rate": null,           // as asked on the command line
//     "poisoned_rows": [3, 17, ...],       // ascending
//     "poisoned_keys": [["00000.tar", "000000003"], ...],  // shards only: each poisoned row's shard and key
//     "trigger_keys": "training row r: key r; evaluation image i: 2^63 + i"
//   }
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace clipgrad::cleanclip {

enum class AttackKind { kBadNet, kBlended, kWaNet, kLabelConsistent };
enum class PatchLocation { kRandom, kFourCorners };

// "badnet", "blended", "wanet", "label-consistent" <-> AttackKind; throws listing the names.
AttackKind parse_attack_kind(const std::string& name);
std::string attack_name(AttackKind kind);
PatchLocation parse_patch_location(const std::string& name);  // "random", "four-corners"
std::string patch_location_name(PatchLocation location);

// The largest WaNet control grid (the reference's k = 224 at most; a k x k grid of two floats a point).
inline constexpr int kMaxWaNetK = 1024;

struct AttackConfig {
  AttackKind kind = AttackKind::kBadNet;
  std::string target;  // the class the backdoor points at, as named in captions ("bag")
  uint64_t seed = 0;

  // badnet and label-consistent: the P x P patch; 0 = 16/224 of each image's shorter side, at least 2.
  int patch_size = 0;
  PatchLocation patch_location = PatchLocation::kRandom;
  // blended: false = one noise pattern per image size, drawn from the seed; true = per image.
  bool fresh_noise = false;
  // wanet: a k x k grid, strength s (the WaNet paper's defaults).
  int wanet_k = 4;
  double wanet_s = 0.5;
  // wanet: [2, k, k] control grid (x offsets, then y); empty = drawn from the seed when needed.
  std::vector<float> wanet_grid;

  // Where the poisoning came from, and what it did (empty for a config made in code).
  std::string source;                  // the input CSV as given
  int64_t rows = 0;                    // rows in it
  std::optional<int64_t> num;          // --num as asked
  std::optional<double> rate;          // --rate as asked
  std::vector<int64_t> poisoned_rows;  // ascending
  // Shards: the output shard's file name and the sample's key, for each of poisoned_rows in order.
  std::vector<std::pair<std::string, std::string>> poisoned_keys;

  // Throws naming the bad parameter (empty target, patch_size < 0 or 1, wanet_k < 2, wanet_s <= 0, a grid
  // of the wrong size, poisoned_keys not one per poisoned row).
  void validate() const;

  nlohmann::json to_json() const;
  // `where` names the JSON in errors.
  static AttackConfig from_json(const nlohmann::json& json, const std::string& where = "attack config");
  // Reads DIR/attack.json; errors name the file.
  static AttackConfig load(const std::string& attack_json);
  // Writes to_json() atomically (2-space indent, trailing newline).
  void save(const std::string& attack_json) const;
};

// The name of the field file written beside attack.json by a wanet poisoning.
inline constexpr const char* kWaNetFieldFile = "wanet_field.safetensors";

}  // namespace clipgrad::cleanclip
