// f32-vs-f64 agreement: runs an op on f64 inputs and on their f32 copies,
// sends the same projection back through both, and compares the results and
// every input gradient within a relative tolerance. It catches a kernel whose
// f32 instantiation differs from the f64 one that gradcheck validated.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "gradcheck.h"

namespace clipgrad::testing {

inline double max_abs(const Tensor& t) {
  const Tensor d = t.dtype() == DType::F64 ? t : t.to(DType::F64);
  double m = 0;
  for (int64_t i = 0; i < d.numel(); ++i) m = std::max(m, std::abs(d.data<double>()[i]));
  return m;
}

// Largest |a - b| relative to max(1, max |b|); a and b have the same shape.
inline double relative_error(const Tensor& a, const Tensor& b) {
  const Tensor x = a.to(DType::F64), y = b.to(DType::F64);
  double worst = 0;
  for (int64_t i = 0; i < x.numel(); ++i) worst = std::max(worst, std::abs(x.data<double>()[i] - y.data<double>()[i]));
  return worst / std::max(1.0, max_abs(y));
}

inline void expect_f32_matches_f64(const GradFn& f, const std::vector<Tensor>& inputs, double tolerance = 1e-4) {
  std::vector<Variable> wide, narrow;
  for (const Tensor& t : inputs) {
    wide.emplace_back(t.clone(), true);
    narrow.emplace_back(t.to(DType::F32), true);
  }
  Variable y64 = f(wide), y32 = f(narrow);
  ASSERT_EQ(y32.dtype(), DType::F32);
  ASSERT_EQ(y32.shape(), y64.shape());
  EXPECT_LE(relative_error(y32.value(), y64.value()), tolerance) << "forward";
  Tensor projection = random_f64(y64.shape(), 777);
  y64.backward(projection);
  y32.backward(projection.to(DType::F32));
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_EQ(wide[i].has_grad(), narrow[i].has_grad()) << "input " << i;
    if (!wide[i].has_grad()) continue;
    ASSERT_EQ(narrow[i].grad().dtype(), DType::F32) << "input " << i;
    EXPECT_LE(relative_error(narrow[i].grad(), wide[i].grad()), tolerance) << "gradient of input " << i;
  }
}

}  // namespace clipgrad::testing
