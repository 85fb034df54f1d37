#include "cli/support/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace clipgrad::cli {

Progress::Progress() : terminal_(isatty(STDERR_FILENO) != 0) {}

static std::string clock_text(double seconds) {
  long total = static_cast<long>(seconds + 0.5);
  char text[32];
  std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", total / 3600, total / 60 % 60, total % 60);
  return text;
}

void Progress::operator()(const clip::StepReport& r) {
  int64_t steps_left = (r.batches - r.batch) + (r.epochs - r.epoch) * r.batches;
  double eta = r.samples_per_second > 0 ? steps_left * r.batch_size / r.samples_per_second : 0;
  char line[256];
  std::snprintf(line, sizeof line,
                "epoch %lld/%lld %5lld/%lld loss %.4f lr %.2e scale %.1f data %.0f ms %.0f samples/s ETA %s",
                static_cast<long long>(r.epoch), static_cast<long long>(r.epochs), static_cast<long long>(r.batch),
                static_cast<long long>(r.batches), r.loss, r.lr, r.logit_scale, r.data_wait_ms, r.samples_per_second,
                clock_text(eta).c_str());
  if (terminal_) {
    constexpr int64_t width = 24;
    int64_t filled = width * r.batch / std::max<int64_t>(r.batches, 1);
    std::string bar = std::string(filled, '#') + std::string(width - filled, '.');
    std::fprintf(stderr, "\r[%s] %s", bar.c_str(), line);
    if (r.batch == r.batches) std::fputc('\n', stderr);
  } else {
    int64_t every = std::max<int64_t>(r.batches / 10, 1);
    if (r.batch % every == 0 || r.batch == r.batches) std::fprintf(stderr, "%s\n", line);
  }
  std::fflush(stderr);
}

}  // namespace clipgrad::cli
