// What the poison tests of CSVs and of shards share: the options of a "bag"
// attack with a fixed seed, and the message poison_dataset fails with.
#pragma once

#include <string>

#include "cleanclip/attack/poison.h"

namespace clipgrad::cleanclip {

inline PoisonOptions bag_attack(const std::string& data, const std::string& out, AttackKind kind, int64_t num) {
  PoisonOptions options;
  options.data = data;
  options.out = out;
  options.attack.kind = kind;
  options.attack.target = "bag";
  options.attack.seed = 5;
  options.num = num;
  return options;
}

// "" when poison_dataset (a CSV or shards, as options.data says) succeeds.
inline std::string poison_error(const PoisonOptions& options) {
  try {
    poison_dataset(options);
  } catch (const std::exception& error) {
    return error.what();
  }
  return "";
}

}  // namespace clipgrad::cleanclip
