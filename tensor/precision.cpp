#include "tensor/precision.h"

#include <atomic>
#include <stdexcept>

namespace clipgrad {

namespace {
std::atomic<bool> g_tf32{false}, g_autocast_bf16{false};
}  // namespace

void set_tf32(bool enabled) { g_tf32.store(enabled, std::memory_order_relaxed); }
bool tf32_enabled() { return g_tf32.load(std::memory_order_relaxed); }
void set_autocast_bf16(bool enabled) { g_autocast_bf16.store(enabled, std::memory_order_relaxed); }
bool autocast_bf16_enabled() { return g_autocast_bf16.load(std::memory_order_relaxed); }

void set_precision(Precision precision) {
  set_tf32(precision == Precision::tf32);
  set_autocast_bf16(precision == Precision::bf16);
}

const char* precision_name(Precision precision) {
  constexpr const char* kNames[] = {"fp32", "tf32", "bf16"};
  return kNames[static_cast<int>(precision)];
}

Precision parse_precision(const std::string& name) {
  for (Precision precision : {Precision::fp32, Precision::tf32, Precision::bf16})
    if (name == precision_name(precision)) return precision;
  throw std::invalid_argument("precision '" + name + "': expected fp32, tf32 or bf16");
}

}  // namespace clipgrad
