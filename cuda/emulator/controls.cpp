#include "cuda/emulator/controls.h"
#include "cuda/emulator/grid.h"

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace clipgrad::cuda::emulator {

namespace {

template <class T>
bool parse_number(std::string_view text, T& value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

// A positive number from the environment, or `fallback` when unset.
uint64_t positive_from_environment(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  uint64_t value = 0;
  if (!parse_number(std::string_view(text), value) || value == 0)
    throw std::invalid_argument(std::string(name) + "='" + text + "': expected a positive whole number");
  return value;
}

struct Settings {
  Schedule schedule;
  uint64_t launches = 0;  // since the schedule was set
  unsigned threads = 1;
  size_t capacity = 0;
};

std::mutex settings_mutex;
bool settings_loaded = false;
Settings current;

// Reads the environment the first time (under settings_mutex); a malformed
// variable throws, and the next call tries again.
Settings& settings() {
  if (!settings_loaded) {
    Settings loaded;
    const char* schedule = std::getenv("CLIPGRAD_EMU_SCHEDULE");
    if (schedule && *schedule) {
      try {
        loaded.schedule = parse_schedule(schedule);
      } catch (const std::invalid_argument& error) {
        throw std::invalid_argument(std::string("CLIPGRAD_EMU_SCHEDULE: ") + error.what());
      }
    }
    const unsigned hardware = std::thread::hardware_concurrency();
    loaded.threads = unsigned(positive_from_environment("CLIPGRAD_EMU_THREADS", hardware ? hardware : 1));
    const size_t ram = size_t(sysconf(_SC_PHYS_PAGES)) * size_t(sysconf(_SC_PAGESIZE));
    loaded.capacity = size_t(positive_from_environment("CLIPGRAD_EMU_MEMORY_MIB", ram / 2 >> 20)) << 20;
    current = loaded;
    settings_loaded = true;
  }
  return current;
}

}  // namespace

Schedule parse_schedule(std::string_view text) {
  if (text == "forward") return {Order::Forward, 0};
  if (text == "reverse") return {Order::Reverse, 0};
  constexpr std::string_view shuffled = "shuffled:";
  uint64_t seed = 0;
  if (text.starts_with(shuffled) && parse_number(text.substr(shuffled.size()), seed)) return {Order::Shuffled, seed};
  throw std::invalid_argument("'" + std::string(text) +
                              "' is not a schedule: expected forward, reverse or shuffled:SEED");
}

std::string schedule_name(const Schedule& schedule) {
  switch (schedule.order) {
    case Order::Forward: return "forward";
    case Order::Reverse: return "reverse";
    case Order::Shuffled: return "shuffled:" + std::to_string(schedule.seed);
  }
  return "forward";
}

Schedule schedule() {
  std::lock_guard lock(settings_mutex);
  return settings().schedule;
}

void set_schedule(const Schedule& schedule) {
  std::lock_guard lock(settings_mutex);
  settings().schedule = schedule;
  settings().launches = 0;
}

uint64_t detail::take_launch_number() {
  std::lock_guard lock(settings_mutex);
  return settings().launches++;
}

unsigned worker_threads() {
  std::lock_guard lock(settings_mutex);
  return settings().threads;
}

void set_worker_threads(unsigned threads) {
  if (threads == 0) throw std::invalid_argument("emulator: at least one worker thread");
  std::lock_guard lock(settings_mutex);
  settings().threads = threads;
}

size_t fiber_stack_bytes() {
#if defined(__SANITIZE_ADDRESS__)
  constexpr uint64_t kDefaultKiB = 256;  // ASan's redzones make frames larger
#else
  constexpr uint64_t kDefaultKiB = 64;
#endif
  static const size_t bytes = size_t(positive_from_environment("CLIPGRAD_EMU_STACK_KIB", kDefaultKiB)) << 10;
  return bytes;
}

size_t memory_capacity() {
  std::lock_guard lock(settings_mutex);
  return settings().capacity;
}

void set_memory_capacity(size_t bytes) {
  std::lock_guard lock(settings_mutex);
  settings().capacity = bytes;
}

std::string describe() {
  const Schedule order = schedule();
  const unsigned threads = worker_threads();
  return "SIMT emulator: " + std::to_string(threads) + " worker thread" + (threads == 1 ? "" : "s") + ", schedule " +
         schedule_name(order) + ", " + std::to_string(fiber_stack_bytes() >> 10) + " KiB fiber stacks";
}

}  // namespace clipgrad::cuda::emulator
