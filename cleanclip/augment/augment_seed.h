// Per-sample, per-epoch seeding for the augmentations.
//
// The reference (CleanCLIP) draws AutoAugment from torch's global RNG in its
// data-loader workers (not reproducible across worker counts) and runs EDA once
// when the dataset is built. Here every view has its own generator, derived from
// the run's seed, the epoch, the sample's row and a stream that keeps the image
// and the text draws independent: the same (seed, epoch, row) gives the same
// views whatever the batch size, the worker count or the order of the samples,
// and each epoch gets new ones. For the reference's once-per-dataset EDA
// (`--fixed-text-aug`), pass epoch 0 every epoch.
#pragma once

#include <cstdint>

#include "tensor/random.h"

namespace clipgrad::cleanclip {

enum class AugmentStream : uint64_t { kImage = 1, kText = 2 };

// splitmix64's finaliser: a bijection of 64-bit words that mixes every bit.
inline uint64_t mix_augment_seed(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline uint64_t augment_seed(uint64_t seed, uint64_t epoch, uint64_t row, AugmentStream stream) {
  uint64_t h = mix_augment_seed(seed);
  h = mix_augment_seed(h ^ epoch);
  h = mix_augment_seed(h ^ row);
  return mix_augment_seed(h ^ static_cast<uint64_t>(stream));
}

inline Generator augment_generator(uint64_t seed, uint64_t epoch, uint64_t row, AugmentStream stream) {
  return Generator(augment_seed(seed, epoch, row, stream));
}

}  // namespace clipgrad::cleanclip
