#include "tensor/precision.h"

#include <atomic>

namespace clipgrad {

namespace {
std::atomic<bool> g_tf32{false};
}  // namespace

void set_tf32(bool enabled) { g_tf32.store(enabled, std::memory_order_relaxed); }
bool tf32_enabled() { return g_tf32.load(std::memory_order_relaxed); }

}  // namespace clipgrad
