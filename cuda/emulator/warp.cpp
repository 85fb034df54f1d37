// Warp collectives: when a group of lanes completes, what each lane gets,
// and why a group can never complete. CUDA's rule (sm_70 and later): every
// lane named in the mask must execute a collective of the same kind with the
// same mask; the call sites may differ. Here a group completes when all of
// them wait at one, and a lane that exited, or waits at a barrier or at
// another kind of collective, is refused instead of read as garbage.
#include <cstdio>

#include "cuda/emulator/block.h"

namespace clipgrad::cuda::emulator::detail {

namespace {

bool is_shuffle(Collective op) {
  return op == Collective::ShuffleIndex || op == Collective::ShuffleUp || op == Collective::ShuffleDown ||
         op == Collective::ShuffleXor;
}

bool compatible(const ThreadState& a, const ThreadState& b) {
  return a.op == b.op && a.mask == b.mask && a.value_bytes == b.value_bytes;
}

std::string hex(unsigned mask) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", mask);
  return text;
}

std::string collective_at(const ThreadState& thread) {
  return std::string(collective_name(thread.op)) + " (mask " + hex(thread.mask) + ") at " + site_name(thread.site);
}

// The lane whose value `lane` receives (CUDA's shuffle rules within segments
// of `width` lanes); its own lane where CUDA returns the caller's value.
unsigned source_lane(const ThreadState& thread, unsigned lane) {
  const unsigned width = unsigned(thread.width), first = lane - lane % width;
  const unsigned argument = unsigned(thread.lane_argument);
  switch (thread.op) {
    case Collective::ShuffleIndex: return first + argument % width;
    case Collective::ShuffleUp: return lane % width >= argument ? lane - argument : lane;
    case Collective::ShuffleDown: return lane % width + argument < width ? lane + argument : lane;
    case Collective::ShuffleXor: {
      const unsigned source = lane ^ argument;
      return source >= 32 || source / width > lane / width ? lane : source;
    }
    default: return lane;
  }
}

}  // namespace

const char* collective_name(Collective op) {
  switch (op) {
    case Collective::SyncWarp: return "__syncwarp";
    case Collective::ShuffleIndex: return "__shfl_sync";
    case Collective::ShuffleUp: return "__shfl_up_sync";
    case Collective::ShuffleDown: return "__shfl_down_sync";
    case Collective::ShuffleXor: return "__shfl_xor_sync";
    case Collective::Ballot: return "__ballot_sync";
    case Collective::All: return "__all_sync";
    case Collective::Any: return "__any_sync";
  }
  return "warp collective";
}

unsigned BlockRun::lanes_in_warp(unsigned warp) const {
  const size_t first = size_t(warp) * 32;
  return unsigned(threads_.size() - first < 32 ? threads_.size() - first : 32);
}
ThreadState* BlockRun::lane(unsigned warp, unsigned lane) { return &threads_[size_t(warp) * 32 + lane]; }
const ThreadState* BlockRun::lane(unsigned warp, unsigned lane) const { return &threads_[size_t(warp) * 32 + lane]; }

unsigned BlockRun::active_lanes(const ThreadState& self) const {
  const unsigned warp = self.linear / 32;
  unsigned mask = 0;
  for (unsigned l = 0; l < lanes_in_warp(warp); ++l)
    if (lane(warp, l)->wait != Wait::Exited) mask |= 1u << l;
  return mask;
}

void BlockRun::check_collective(const ThreadState& self) const {
  const unsigned warp = self.linear / 32, own = self.linear % 32, lanes = lanes_in_warp(warp);
  auto refuse = [&](const std::string& what) {
    throw DeviceFault(cudaErrorLaunchFailure, collective_at(self) + ": " + what);
  };
  if (!(self.mask >> own & 1u)) refuse("the mask leaves out the calling lane " + std::to_string(own));
  if (is_shuffle(self.op) && (self.width < 1 || self.width > 32 || (self.width & (self.width - 1)) != 0))
    refuse("width " + std::to_string(self.width) + " is not a power of 2 from 1 to 32");
  for (unsigned m = 0; m < 32; ++m) {
    if (!(self.mask >> m & 1u)) continue;
    if (m >= lanes)
      refuse("the mask names lane " + std::to_string(m) + ", but this warp has only " + std::to_string(lanes) +
             " threads (the block has " + std::to_string(threads_.size()) + ")");
    if (lane(warp, m)->wait == Wait::Exited)
      refuse("the mask names lane " + std::to_string(m) + " (" + describe(*lane(warp, m)) +
             "), which has exited: every lane the mask names must reach the collective");
  }
}

bool BlockRun::complete_warp_collectives() {
  bool progress = false;
  const unsigned warps = unsigned((threads_.size() + 31) / 32);
  for (unsigned warp = 0; warp < warps; ++warp) {
    for (unsigned l = 0; l < lanes_in_warp(warp); ++l) {
      const ThreadState& leader = *lane(warp, l);
      if (leader.wait != Wait::Warp || !group_ready(leader)) continue;
      complete_group(leader);
      progress = true;
    }
  }
  return progress;
}

bool BlockRun::group_ready(const ThreadState& leader) const {
  const unsigned warp = leader.linear / 32, lanes = lanes_in_warp(warp);
  for (unsigned m = 0; m < 32; ++m) {
    if (!(leader.mask >> m & 1u)) continue;
    if (m >= lanes) return false;
    const ThreadState& other = *lane(warp, m);
    if (other.wait != Wait::Warp || !compatible(leader, other)) return false;
  }
  return true;
}

void BlockRun::complete_group(const ThreadState& leader) {
  const unsigned warp = leader.linear / 32, mask = leader.mask;
  unsigned ballot = 0;
  for (unsigned m = 0; m < 32; ++m)
    if (mask >> m & 1u && lane(warp, m)->value != 0) ballot |= 1u << m;
  for (unsigned m = 0; m < 32; ++m) {
    if (!(mask >> m & 1u)) continue;
    ThreadState& thread = *lane(warp, m);
    switch (thread.op) {
      case Collective::SyncWarp: thread.result = 0; break;
      case Collective::Ballot: thread.result = ballot; break;
      case Collective::All: thread.result = ballot == mask; break;
      case Collective::Any: thread.result = ballot != 0; break;
      default: {
        const unsigned source = source_lane(thread, m);
        if (!(mask >> source & 1u))
          fail(thread, cudaErrorLaunchFailure,
               collective_at(thread) + " reads lane " + std::to_string(source) +
                   ", which is not in the mask (CUDA leaves the value undefined)");
        thread.result = lane(warp, source)->value;
      }
    }
  }
  for (unsigned m = 0; m < 32; ++m)
    if (mask >> m & 1u) lane(warp, m)->wait = Wait::Runnable;
}

void BlockRun::diagnose_warps() const {
  for (const ThreadState& thread : threads_) {
    if (thread.wait != Wait::Warp) continue;
    const unsigned warp = thread.linear / 32;
    for (unsigned m = 0; m < 32; ++m) {
      if (!(thread.mask >> m & 1u) || m >= lanes_in_warp(warp)) continue;
      const ThreadState& other = *lane(warp, m);
      const std::string waits_for =
          collective_at(thread) + " waits for lane " + std::to_string(m) + " (" + describe(other) + "), which ";
      if (other.wait == Wait::Exited)
        fail(thread, cudaErrorLaunchFailure,
             waits_for + "exited without reaching it: every lane the mask names must reach the collective");
      if (other.wait == Wait::Barrier)
        fail(thread, cudaErrorLaunchFailure,
             waits_for + "waits at " + barrier_name(other.barrier) + " at " + site_name(other.site) + " instead");
      if (other.wait == Wait::Warp && !compatible(thread, other))
        fail(thread, cudaErrorLaunchFailure,
             waits_for + "waits at " + collective_at(other) +
                 " instead: the lanes of a mask must meet at the same kind of collective with the same mask");
    }
  }
}

}  // namespace clipgrad::cuda::emulator::detail
