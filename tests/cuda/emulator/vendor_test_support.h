// What the tests of the cuBLASLt and cuDNN stand-ins share: random host
// data, bit-exact comparison, and scoped switches.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cuda/emulator/vendor/library_call.h"
#include "emulator_test_support.h"

namespace clipgrad::toy {

template <class T>
std::vector<T> random_values(size_t n, uint32_t seed) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<T> values(n);
  for (T& value : values) value = T(uniform(generator));
  return values;
}

// Element by element, to the bit (NaNs equal when their bits are).
template <class T>
::testing::AssertionResult same_bits(const std::vector<T>& actual, const std::vector<T>& expected) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "sizes " << actual.size() << " and " << expected.size();
  for (size_t i = 0; i < actual.size(); ++i)
    if (std::memcmp(&actual[i], &expected[i], sizeof(T)) != 0)
      return ::testing::AssertionFailure() << "element " << i << ": " << actual[i] << " != " << expected[i];
  return ::testing::AssertionSuccess();
}

// The bias epilogue switched on or off for one scope.
class ScopedBiasEpilogue {
 public:
  explicit ScopedBiasEpilogue(bool offered) : saved_(cuda::emulator::lt_bias_epilogue()) {
    cuda::emulator::set_lt_bias_epilogue(offered);
  }
  ~ScopedBiasEpilogue() { cuda::emulator::set_lt_bias_epilogue(saved_); }

 private:
  bool saved_;
};

}  // namespace clipgrad::toy
