// Training progress on stderr: a live bar with loss, samples/s and ETA on a
// terminal; plain lines (about ten per epoch, and the last step) otherwise.
#pragma once

#include "clip/train/train_loop.h"

namespace clipgrad::cli {

class Progress {
 public:
  Progress();  // detects whether stderr is a terminal
  void operator()(const clip::StepReport& report);

 private:
  bool terminal_;
};

}  // namespace clipgrad::cli
