#include "cuda/emulator/counters.h"

#include <atomic>

namespace clipgrad::cuda::emulator {

namespace {

std::atomic<uint64_t> totals[5];

uint64_t total(detail::Counted what) { return totals[static_cast<int>(what)].load(std::memory_order_relaxed); }

}  // namespace

Counters Counters::operator-(const Counters& earlier) const {
  return {kernel_launches - earlier.kernel_launches, library_calls - earlier.library_calls,
          host_waits - earlier.host_waits, device_to_host_copies - earlier.device_to_host_copies,
          host_to_device_copies - earlier.host_to_device_copies};
}

Counters counters() {
  using detail::Counted;
  return {total(Counted::KernelLaunch), total(Counted::LibraryCall), total(Counted::HostWait),
          total(Counted::DeviceToHostCopy), total(Counted::HostToDeviceCopy)};
}

void reset_counters() {
  for (std::atomic<uint64_t>& value : totals) value.store(0, std::memory_order_relaxed);
}

void detail::count(Counted what) { totals[static_cast<int>(what)].fetch_add(1, std::memory_order_relaxed); }

}  // namespace clipgrad::cuda::emulator
