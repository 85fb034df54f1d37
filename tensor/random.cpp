#include "tensor/random.h"

#include <stdexcept>
#include <string>

#include <cmath>
#include <numbers>

namespace clipgrad {

uint64_t mix_seed(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// splitmix64: the next output of the stream whose state is x.
static uint64_t splitmix64(uint64_t& x) {
  const uint64_t z = mix_seed(x);
  x += 0x9e3779b97f4a7c15ULL;
  return z;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void Generator::seed_with(uint64_t seed) {
  for (auto& word : state_) word = splitmix64(seed);
}

uint64_t Generator::next_u64() {
  uint64_t result = rotl(state_[1] * 5, 7) * 9;
  uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

double Generator::uniform() { return (next_u64() >> 11) * 0x1.0p-53; }

double Generator::normal() {
  double u1 = 1.0 - uniform();  // (0, 1]
  double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

uint64_t Generator::below(uint64_t bound) {
  // Lemire's multiply-shift with rejection: unbiased.
  __uint128_t product = static_cast<__uint128_t>(next_u64()) * bound;
  uint64_t low = static_cast<uint64_t>(product);
  if (low < bound) {
    uint64_t threshold = -bound % bound;
    while (low < threshold) {
      product = static_cast<__uint128_t>(next_u64()) * bound;
      low = static_cast<uint64_t>(product);
    }
  }
  return static_cast<uint64_t>(product >> 64);
}

// Initialisation draws one stream on the host, in order: it is CPU-only by
// design (a model is initialised, then moved with Module::to(Device)).
static void check_host(const Tensor& tensor, const char* op) {
  if (tensor.device() != Device::CPU)
    throw std::invalid_argument(std::string(op) +
                                ": initialise on the CPU, then move the model with Module::to(Device)");
}

void fill_normal(Tensor& tensor, double mean, double std, Generator& generator) {
  check_host(tensor, "fill_normal");
  dispatch_floating(tensor.dtype(), "fill_normal", [&]<class T>() {
    T* p = tensor.data<T>();
    for (int64_t i = 0; i < tensor.numel(); ++i) p[i] = static_cast<T>(mean + std * generator.normal());
  });
}

void fill_uniform(Tensor& tensor, double low, double high, Generator& generator) {
  check_host(tensor, "fill_uniform");
  dispatch_floating(tensor.dtype(), "fill_uniform", [&]<class T>() {
    T* p = tensor.data<T>();
    for (int64_t i = 0; i < tensor.numel(); ++i) p[i] = static_cast<T>(low + (high - low) * generator.uniform());
  });
}

}  // namespace clipgrad
