#include "cuda/emulator/memory.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <shared_mutex>

#include "cuda/emulator/controls.h"

namespace clipgrad::cuda::emulator::detail {

namespace {

constexpr size_t kAlignment = 256;  // cudaMalloc's guarantee
// Freed blocks are held back this long (bytes) before malloc may reuse them,
// so that a kernel handed freed memory is refused instead of writing into
// whatever was allocated next at the same address.
constexpr size_t kQuarantineBytes = size_t(64) << 20;

struct Registry {
  std::shared_mutex mutex;
  std::map<uintptr_t, Allocation> blocks;  // by base address
  size_t device_bytes = 0;
  std::deque<Allocation> quarantine;  // freed, oldest first
  size_t quarantine_bytes = 0;
};

size_t rounded(size_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

// Never destroyed: device memory may be freed by destructors of statics.
Registry& registry() {
  static Registry* instance = new Registry;
  return *instance;
}

}  // namespace

void* allocate(size_t bytes, MemoryKind kind) {
  Registry& r = registry();
  const size_t size = rounded(bytes);
  std::unique_lock lock(r.mutex);
  if (kind == MemoryKind::Device && (size > memory_capacity() || r.device_bytes > memory_capacity() - size))
    return nullptr;
  void* pointer = std::aligned_alloc(kAlignment, size);
  if (!pointer) return nullptr;
  if (kind == MemoryKind::Device) {
    std::memset(pointer, 0xff, size);  // undefined on a GPU; NaN here, so a read before a write shows
    r.device_bytes += size;
  }
  r.blocks[reinterpret_cast<uintptr_t>(pointer)] = {static_cast<const unsigned char*>(pointer), bytes, kind};
  return pointer;
}

bool release(void* pointer, MemoryKind kind) {
  Registry& r = registry();
  std::unique_lock lock(r.mutex);
  const auto found = r.blocks.find(reinterpret_cast<uintptr_t>(pointer));
  if (found == r.blocks.end() || found->second.kind != kind) return false;
  if (kind == MemoryKind::Device) r.device_bytes -= rounded(found->second.bytes);
  r.quarantine.push_back(found->second);
  r.quarantine_bytes += rounded(found->second.bytes);
  r.blocks.erase(found);
  while (r.quarantine_bytes > kQuarantineBytes) {
    r.quarantine_bytes -= rounded(r.quarantine.front().bytes);
    std::free(const_cast<unsigned char*>(r.quarantine.front().base));
    r.quarantine.pop_front();
  }
  return true;
}

std::optional<Allocation> find_allocation(const void* pointer) {
  Registry& r = registry();
  const uintptr_t address = reinterpret_cast<uintptr_t>(pointer);
  std::shared_lock lock(r.mutex);
  auto after = r.blocks.upper_bound(address);
  if (after == r.blocks.begin()) return std::nullopt;
  const Allocation& block = std::prev(after)->second;
  if (address > reinterpret_cast<uintptr_t>(block.base) + block.bytes) return std::nullopt;
  return block;
}

bool recently_freed(const void* pointer) {
  Registry& r = registry();
  const auto* address = static_cast<const unsigned char*>(pointer);
  std::shared_lock lock(r.mutex);
  for (const Allocation& block : r.quarantine)
    if (address >= block.base && address <= block.base + block.bytes) return true;
  return false;
}

bool inside(const void* pointer, size_t bytes, MemoryKind kind) {
  const std::optional<Allocation> block = find_allocation(pointer);
  if (!block || block->kind != kind) return false;
  const size_t offset = static_cast<const unsigned char*>(pointer) - block->base;
  return bytes <= block->bytes - offset;
}

size_t device_bytes_in_use() {
  Registry& r = registry();
  std::shared_lock lock(r.mutex);
  return r.device_bytes;
}

}  // namespace clipgrad::cuda::emulator::detail
