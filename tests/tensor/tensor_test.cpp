// Tensor basics the foundation relies on: bfloat16 conversions, shape
// arithmetic that refuses to overflow, and safetensors keeping bf16 bits.
#include "tensor/tensor.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

#include "tensor/float16.h"

namespace clipgrad {
namespace {

TEST(BFloat16, RoundsToNearestEven) {
  // 1 + 2^-8 lies exactly between bf16 neighbours 1 and 1 + 2^-7: ties go to the even (1).
  EXPECT_EQ(float_to_bfloat16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  // 1 + 3 * 2^-8 ties between 1 + 2^-7 (odd) and 1 + 2^-6 (even): up.
  EXPECT_EQ(float_to_bfloat16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  // Just above the tie rounds up.
  EXPECT_EQ(float_to_bfloat16(std::bit_cast<float>(0x3f808001u)), 0x3f81);
  EXPECT_EQ(float_to_bfloat16(-2.0f), 0xc000);
  EXPECT_EQ(float_to_bfloat16(std::numeric_limits<float>::infinity()), 0x7f80);
  // The largest float rounds to infinity (past bf16's largest finite value).
  EXPECT_EQ(float_to_bfloat16(std::numeric_limits<float>::max()), 0x7f80);
  // A NaN whose payload lies only in the dropped bits stays a NaN.
  EXPECT_TRUE(std::isnan(bfloat16_to_float(float_to_bfloat16(std::bit_cast<float>(0x7f800001u)))));
}

TEST(BFloat16, TensorConversionsAreExactWhereTheyCanBe) {
  Tensor values = Tensor::from_vector<float>({5}, {1.0f, -0.15625f, 3.0e38f, 1.0f + std::ldexp(1.0f, -8), 0.0f});
  Tensor half = values.to(DType::BF16);
  EXPECT_EQ(half.dtype(), DType::BF16);
  EXPECT_EQ(half.nbytes(), 10u);
  std::vector<float> back = half.to(DType::F32).to_vector<float>();
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[1], -0.15625f);                                                           // representable: exact
  EXPECT_EQ(back[3], 1.0f);                                                                // the tie, rounded to even
  EXPECT_EQ(half.to(DType::F32).to(DType::BF16).to(DType::F32).to_vector<float>(), back);  // bf16 -> f32 -> bf16 exact
  EXPECT_EQ(Tensor::full({2}, 0.5, DType::BF16).to(DType::F64).to_vector<double>(), (std::vector<double>{0.5, 0.5}));
  EXPECT_EQ(Tensor::scalar(3.0, DType::BF16).item(), 3.0);
}

TEST(Shape, ArithmeticThatWouldOverflowIsAnError) {
  EXPECT_EQ(shape_numel({3, 4, 5}), 60);
  EXPECT_EQ(shape_numel({}), 1);
  EXPECT_EQ(shape_numel({0, int64_t(1) << 62, int64_t(1) << 62}), 0);
  EXPECT_THROW(shape_numel({int64_t(1) << 32, int64_t(1) << 32}), std::length_error);
  EXPECT_THROW(shape_numel({int64_t(1) << 40, int64_t(1) << 23}), std::length_error);
  EXPECT_THROW(shape_numel({2, -1}), std::invalid_argument);
  EXPECT_THROW(Tensor::empty({int64_t(1) << 31, int64_t(1) << 31, 4}), std::length_error);
}

TEST(Tensor, FullAndScalarTakeADevice) {
  Tensor t = Tensor::full({2, 2}, 1.5, DType::F64, Device::CPU);
  EXPECT_EQ(t.device(), Device::CPU);
  EXPECT_EQ(t.to_vector<double>(), (std::vector<double>(4, 1.5)));
  Tensor like = Tensor::empty_like(t);
  EXPECT_EQ(like.shape(), t.shape());
  EXPECT_EQ(like.dtype(), DType::F64);
  EXPECT_FALSE(like.same_storage(t));
}

}  // namespace
}  // namespace clipgrad
