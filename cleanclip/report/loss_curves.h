// Loss curves of one training stage, read from the trainer's metrics.jsonl:
// one JSON object per line, {"epoch", "step", "loss", optional "loss_<part>"...}.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace clipgrad::cleanclip {

struct LossCurve {
  std::string name;            // "total" for "loss", "<part>" for "loss_<part>"
  bool is_total = false;       // the "loss" column, not a part
  std::vector<double> steps;   // [n] increasing
  std::vector<double> values;  // [n] finite
};

struct LossCurves {
  std::vector<LossCurve> curves;  // "total" first, then the parts in name order; curves with no point left out
  int64_t lines = 0;              // metric lines read
  int64_t steps = 0;              // distinct steps among them
  int64_t first_step = 0, last_step = 0;
};

// Reads `path`. A step written twice (a resumed run repeats the steps after its last checkpoint)
// keeps its last line; non-finite values are left out of their curve. Throws std::runtime_error
// naming the file and line when a line is not a JSON object with numeric "step" and "loss", or
// when the file cannot be read. An empty file gives no curves.
LossCurves read_loss_curves(const std::string& path);

}  // namespace clipgrad::cleanclip
