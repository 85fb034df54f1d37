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
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cleanclip/attack/attack_config.h"

namespace clipgrad::cleanclip {

struct PoisonOptions {
  std::string data;  // input CSV (image, caption columns)
  // Output folder: made whole beside it, then put in its place; an earlier poison's output
  // there is replaced, and a folder holding anything else is refused.
  std::string out;
  std::string image_key = "image", caption_key = "caption";
  // kind, target, seed and the attack's parameters; what poisoning finds out is filled in.
  AttackConfig attack;
  // Exactly one: how many rows, or which fraction of all rows (rounded to nearest).
  std::optional<int64_t> num;
  std::optional<double> rate;
  std::function<void(int64_t done, int64_t total)> progress;  // after each poisoned image; may be empty
};

struct PoisonResult {
  AttackConfig config;  // as saved in attack.json
  std::string train_csv, attack_json;
  int64_t candidates = 0;  // rows that could be chosen
};

PoisonResult poison_dataset(const PoisonOptions& options);

// True if `caption` names `target` as a whole word or phrase, ignoring ASCII
// case ("A Bag." names "bag"; "handbag" and "baggage" do not).
bool caption_names_target(const std::string& caption, const std::string& target);

// `count` distinct candidates, chosen uniformly (a partial Fisher-Yates shuffle), ascending.
std::vector<int64_t> choose_rows(std::vector<int64_t> candidates, int64_t count, uint64_t attack_seed);

}  // namespace clipgrad::cleanclip
