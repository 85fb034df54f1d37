#include "tensor/precision.h"

#include <atomic>

namespace clipgrad {

namespace {
std::atomic<bool> g_tf32{false}, g_autocast_bf16{false};
}  // namespace

void set_tf32(bool enabled) { g_tf32.store(enabled, std::memory_order_relaxed); }
bool tf32_enabled() { return g_tf32.load(std::memory_order_relaxed); }
void set_autocast_bf16(bool enabled) { g_autocast_bf16.store(enabled, std::memory_order_relaxed); }
bool autocast_bf16_enabled() { return g_autocast_bf16.load(std::memory_order_relaxed); }

}  // namespace clipgrad
