// Poisoning an image-caption dataset: `clipgrad poison` as a function.
//
// Writes DIR/train.csv (every input row and column in order, plus is_backdoor
// 0/1; poisoned rows point at new PNGs DIR/images/<row>.png, the others at
// their original images by a path relative to DIR; absolute paths stay
// absolute), DIR/attack.json (AttackConfig) and, for wanet, the field beside
// it. Which rows: a seeded uniform choice among the candidates (every row; for
// label-consistent, the rows whose caption names the target). Poisoned rows
// get the target in a random ImageNet prompt template as caption, except
// label-consistent, which keeps them. The same options give the same bytes.
//
// Webdataset shards as input (poison_shards, below) give poisoned shards instead.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cleanclip/attack/attack_config.h"
#include "cleanclip/attack/trigger.h"

namespace clipgrad::cleanclip {

struct PoisonOptions {
  std::string data;  // input CSV (image, caption columns), or shards (clip::is_shard_spec)
  // Output folder: made whole beside it, then put in its place; an earlier poison's output
  // there is replaced, and a folder holding anything else is refused.
  std::string out;
  // CSV: the columns. Shards: caption_key is the json member's caption field (else the txt member).
  std::string image_key = "image", caption_key = "caption";
  // kind, target, seed and the attack's parameters; what poisoning finds out is filled in.
  AttackConfig attack;
  // Exactly one: how many rows, or which fraction of all rows (rounded to nearest).
  std::optional<int64_t> num;
  std::optional<double> rate;
  std::function<void(int64_t done, int64_t total)> progress;  // after each poisoned image; may be empty
};

struct PoisonResult {
  AttackConfig config;    // as saved in attack.json
  std::string train_csv;  // CSV input: DIR/train.csv
  std::string attack_json;
  int64_t candidates = 0;           // rows that could be chosen
  std::vector<std::string> shards;  // shard input: DIR/00000.tar, ... in the input's order
};

// Poisons options.data: a CSV (above), or shards (poison_shards) when clip::is_shard_spec says so.
PoisonResult poison_dataset(const PoisonOptions& options);

// Poisons webdataset shards (a brace pattern, glob, folder, list file; clip/data/shards.h).
// A row is a sample, numbered over the shards in the spec's order, as the shard loader
// reads them; a bad sample (no image or caption, a hostile or repeated member, a broken
// shard) is an error naming the shard and key, not skipped, so rows mean the same to
// every reader. Writes DIR/00000.tar, ... (input shard i as shard i, its members in
// order under their names), DIR/sizes.json, DIR/attack.json (with poisoned_keys) and,
// for wanet, the field. A poisoned sample's image member is the triggered image,
// re-encoded as PNG if it was a PNG, else as JPEG quality 95 (named KEY.jpg for a webp;
// a sample with two image members is refused); its txt member and its json's
// caption_key field (where it has one) hold the target's caption (label-consistent
// keeps them), and its json member (added where it has none) has "is_backdoor": true.
// Every other sample's members are copied byte for byte. Written whole (io::StagedFolder);
// an input shard inside DIR is refused.
PoisonResult poison_shards(const PoisonOptions& options);

// The steps that poisoning a CSV and poisoning shards share.

// The attack as attack.json records it: options.attack with the source, the row count
// (names_target.size()), --num or --rate, the rows to poison and wanet's grid. The rows
// are chosen (choose_rows) among the candidates: every row, or for label-consistent
// those whose caption names the target (names_target[row]). Throws, naming
// options.data, when --num/--rate makes no sense or asks for more rows than that.
struct AttackPlan {
  AttackConfig config;
  int64_t candidates = 0;
};
AttackPlan plan_attack(const PoisonOptions& options, const std::vector<bool>& names_target);

// The caption of poisoned row `row`: a seeded random ImageNet template naming the target.
std::string poisoned_caption(const AttackConfig& config, int64_t row);

// Writes the wanet field for a width x height image, and the grid, to `path` (safetensors).
void save_wanet_field(const Trigger& trigger, int width, int height, const std::string& path);

// True if `caption` names `target` as a whole word or phrase, ignoring ASCII
// case ("A Bag." names "bag"; "handbag" and "baggage" do not).
bool caption_names_target(const std::string& caption, const std::string& target);

// `count` distinct candidates, chosen uniformly (a partial Fisher-Yates shuffle), ascending.
std::vector<int64_t> choose_rows(std::vector<int64_t> candidates, int64_t count, uint64_t attack_seed);

}  // namespace clipgrad::cleanclip
