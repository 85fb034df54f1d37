// The orders of CLIPGRAD_EMU_SCHEDULE: which runnable fiber of a block is
// resumed first in a phase, and which block is handed out first. Forward is
// thread (and block) 0 first; reverse is the last first; shuffled draws a
// permutation from the seed, the launch, the block and the phase, so a run
// is reproducible for a given seed (with CLIPGRAD_EMU_THREADS=1, also the
// interleaving of blocks).
#pragma once

#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "cuda/emulator/controls.h"

namespace clipgrad::cuda::emulator::detail {

// SplitMix64's finaliser: a well-mixed 64-bit hash of a and b.
inline uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9e3779b97f4a7c15ull * (b + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// order = a permutation of [0, n) drawn from seed (Fisher-Yates).
template <class Index>
void shuffled(std::vector<Index>& order, uint64_t n, uint64_t seed) {
  order.resize(n);
  std::iota(order.begin(), order.end(), Index(0));
  uint64_t state = seed;
  for (uint64_t i = n; i > 1; --i) {
    state = mix(state, i);
    std::swap(order[i - 1], order[state % i]);
  }
}

// The k-th of n items in the schedule's order (order holds the shuffled permutation).
template <class Index>
uint64_t nth(const Schedule& schedule, const std::vector<Index>& order, uint64_t n, uint64_t k) {
  switch (schedule.order) {
    case Order::Forward: return k;
    case Order::Reverse: return n - 1 - k;
    case Order::Shuffled: return order[k];
  }
  return k;
}

}  // namespace clipgrad::cuda::emulator::detail
