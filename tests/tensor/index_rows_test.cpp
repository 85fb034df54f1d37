// ops::index_rows: rows picked by index, in order, any dtype.
#include <gtest/gtest.h>

#include "tensor/ops/shape.h"

using namespace clipgrad;

TEST(IndexRows, PicksRowsInOrderForAnyDtype) {
  Tensor ids = Tensor::from_vector<int32_t>({3, 2}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(ops::index_rows(ids, {2, 0, 2}).to_vector<int32_t>(), (std::vector<int32_t>{5, 6, 1, 2, 5, 6}));
  Tensor x = Tensor::from_vector<float>({2, 1, 2}, {1.5f, 2.5f, 3.5f, 4.5f});
  Tensor picked = ops::index_rows(x, {1});
  EXPECT_EQ(picked.shape(), (Shape{1, 1, 2}));
  EXPECT_EQ(picked.to_vector<float>(), (std::vector<float>{3.5f, 4.5f}));
  EXPECT_EQ(ops::index_rows(x, {}).shape(), (Shape{0, 1, 2}));
}

TEST(IndexRows, RejectsRowsOutsideTheTensor) {
  Tensor x = Tensor::zeros({2, 3});
  EXPECT_THROW(ops::index_rows(x, {2}), std::out_of_range);
  EXPECT_THROW(ops::index_rows(x, {-1}), std::out_of_range);
  EXPECT_THROW(ops::index_rows(Tensor::scalar(1.0), {0}), std::invalid_argument);
}
