// Generator: a seeded xoshiro256** stream whose whole state is four integers,
// so runs are reproducible bit for bit and the state can be saved in a
// checkpoint and restored.
#pragma once

#include <array>
#include <cstdint>

#include "tensor/tensor.h"

namespace clipgrad {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { seed_with(seed); }
  void seed_with(uint64_t seed);

  uint64_t next_u64();
  double uniform();                // [0, 1)
  double normal();                 // mean 0, std 1 (Box-Muller, no cached spare)
  uint64_t below(uint64_t bound);  // uniform integer in [0, bound)

  using State = std::array<uint64_t, 4>;
  State state() const { return state_; }
  void set_state(const State& state) { state_ = state; }

 private:
  State state_{};
};

// splitmix64's finaliser: a bijection of 64-bit words that spreads every input
// bit. Chained over a tuple (seed, epoch, row, ...) it derives the independent
// seed of each per-sample stream (clip/data/loader.h: sample_seed).
uint64_t mix_seed(uint64_t x);

// In-place fills of a floating CPU tensor (a CUDA tensor is refused: initialise
// on the CPU, then move the model).
void fill_normal(Tensor& tensor, double mean, double std, Generator& generator);
void fill_uniform(Tensor& tensor, double low, double high, Generator& generator);

}  // namespace clipgrad
