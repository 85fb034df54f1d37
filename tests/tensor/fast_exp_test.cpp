// ops::exp_f32 against std::exp: relative error, limits and NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tensor/cpu/fast_exp.h"

using clipgrad::cpu::exp_f32;

TEST(FastExp, WithinTwoUlpOverTheNormalRange) {
  double worst = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.000731f) {
    double reference = std::exp(static_cast<double>(x));
    double error = std::abs(exp_f32(x) - reference) / reference;
    worst = std::max(worst, error);
  }
  EXPECT_LT(worst, 2 * std::numeric_limits<float>::epsilon()) << "worst relative error " << worst;
}

TEST(FastExp, LimitsAndNaNAsStdExp) {
  EXPECT_EQ(exp_f32(0.0f), 1.0f);
  EXPECT_EQ(exp_f32(-100.0f), 0.0f);
  EXPECT_EQ(exp_f32(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(exp_f32(100.0f), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(exp_f32(std::numeric_limits<float>::quiet_NaN())));
}
