// Helpers shared by the functional-op tests: random shapes and inputs, and
// comparison with hand-computed values.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "gradcheck.h"
#include "precision_check.h"

namespace clipgrad::testing {

// rank dims, each in [1, max_size]
inline Shape random_shape(Generator& generator, int64_t rank, int64_t max_size = 4) {
  Shape shape(rank);
  for (int64_t& size : shape) size = 1 + static_cast<int64_t>(generator.below(max_size));
  return shape;
}

// A shape that broadcasts to `full`: some leading dims dropped, some dims set to 1.
inline Shape random_broadcastable(Generator& generator, const Shape& full) {
  const int64_t drop = static_cast<int64_t>(generator.below(full.size() + 1));
  Shape shape(full.begin() + drop, full.end());
  for (int64_t& size : shape)
    if (generator.below(3) == 0) size = 1;
  return shape;
}

// Values in [0.5, 1.5) + |normal|: safely inside the domain of log, rsqrt, 1/x.
inline Tensor positive_f64(const Shape& shape, uint64_t seed) {
  Tensor t = random_f64(shape, seed);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = 0.5 + std::abs(p[i]);
  return t;
}

inline void expect_values(const Tensor& got, const Shape& shape, const std::vector<double>& expected,
                          double tolerance = 1e-12) {
  ASSERT_EQ(got.shape(), shape);
  std::vector<double> values = got.to(DType::F64).to_vector<double>();
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(values[i], expected[i], tolerance) << "element " << i;
}

}  // namespace clipgrad::testing
