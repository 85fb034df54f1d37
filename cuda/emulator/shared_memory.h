// A block's dynamic shared memory: one arena per OS thread, reused by every
// block it runs. Each block gets its bytes filled with 0xff (NaN as f32 and
// f64, -1 as integers: a read before the first write shows), between two
// guard zones of a known pattern. An overwritten guard is an out-of-bounds
// write: checked near the ends after every fiber switch (so the thread that
// wrote it is named) and whole at the end of the block. Reads out of bounds
// and writes that jump past the guards are not seen.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>

namespace clipgrad::cuda::emulator::detail {

class SharedArena {
 public:
  static constexpr size_t kCapacity = 227 * 1024;  // sm_90's opt-in maximum per block
  static constexpr size_t kGuard = 256;            // bytes of pattern on each side
  static constexpr size_t kQuickGuard = 32;        // bytes checked after every switch

  SharedArena();
  void prepare(size_t bytes);  // for a new block of `bytes` (at most kCapacity)
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  // The offset from data() of the changed guard byte nearest the buffer,
  // looking `span` bytes out on each side (negative: before the start).
  std::optional<long> overwritten(size_t span) const;

 private:
  std::unique_ptr<unsigned char[]> storage_;
  unsigned char* data_ = nullptr;  // 128-byte aligned, kGuard bytes into the storage
  size_t bytes_ = 0;
};

}  // namespace clipgrad::cuda::emulator::detail
