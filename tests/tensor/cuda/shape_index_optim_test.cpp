// CPU vs CUDA for the data-movement ops (permute, concat, narrow, heads),
// the row gathers (index_rows, embedding, gather_rows and their backwards),
// avg_pool2d and the optimizer's raw ops. Moves are exact, so the tolerance
// is 0 except where noted. Skips without a GPU.
#include "tests/tensor/cuda/cuda_vs_cpu.h"

#include "tensor/ops/attention.h"
#include "tensor/ops/conv.h"
#include "tensor/ops/optim.h"
#include "tensor/ops/shape.h"

namespace clipgrad::testing {
namespace {

using Inputs = std::vector<Tensor>;

TEST(CudaVsCpu, PermuteAnyRankAndDtype) {
  SKIP_WITHOUT_GPU();
  Generator generator(21);
  const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
      {{2, 3, 4, 5}, {3, 1, 0, 2}}, {{5, 1, 7}, {2, 1, 0}}, {{33, 65}, {1, 0}}, {{4, 0, 3}, {2, 0, 1}}, {{}, {}}};
  for (const auto& [shape, dims] : cases) {
    expect_cuda_matches_cpu(
        "permute f32 " + shape_str(shape), {normal_tensor(shape, generator)},
        [dims](const Inputs& in) { return Inputs{ops::permute(in[0], dims)}; }, 0);
    expect_cuda_matches_cpu(
        "permute i32 " + shape_str(shape), {random_ids(shape, 1000, generator)},
        [dims](const Inputs& in) { return Inputs{ops::permute(in[0], dims)}; }, 0);
  }
}

TEST(CudaVsCpu, ConcatNarrowAndNarrowBackward) {
  SKIP_WITHOUT_GPU();
  Generator generator(22);
  const Inputs parts{normal_tensor({2, 3, 4}, generator), normal_tensor({2, 1, 4}, generator),
                     normal_tensor({2, 0, 4}, generator)};
  expect_cuda_matches_cpu(
      "concat dim 1", parts, [](const Inputs& in) { return Inputs{ops::concat(in, 1)}; }, 0);
  const Inputs rows{normal_tensor({3, 5}, generator), normal_tensor({1, 5}, generator)};
  expect_cuda_matches_cpu(
      "concat dim 0", rows, [](const Inputs& in) { return Inputs{ops::concat(in, 0)}; }, 0);
  expect_cuda_matches_cpu(
      "concat i32 dim -1", {random_ids({3, 2}, 9, generator), random_ids({3, 5}, 9, generator)},
      [](const Inputs& in) { return Inputs{ops::concat(in, -1)}; }, 0);
  const Inputs x{normal_tensor({5, 8, 3}, generator), normal_tensor({5, 4, 3}, generator)};
  expect_cuda_matches_cpu(
      "narrow / narrow_backward", x,
      [](const Inputs& in) {
        return Inputs{ops::narrow(in[0], 1, 2, 4), ops::narrow(in[0], 0, 1, 1), ops::narrow(in[0], 2, 3, 0),
                      ops::narrow_backward(in[1], {5, 8, 3}, 1, 3)};
      },
      0);
}

TEST(CudaVsCpu, SplitAndMergeHeads) {
  SKIP_WITHOUT_GPU();
  Generator generator(23);
  expect_cuda_matches_cpu(
      "split/merge heads", {normal_tensor({2, 5, 12}, generator), normal_tensor({6, 5, 4}, generator)},
      [](const Inputs& in) {
        return Inputs{ops::split_heads(in[0], 3), ops::merge_heads(in[1], 3), ops::split_heads(in[0], 1)};
      },
      0);
}

TEST(CudaVsCpu, IndexRowsEmbeddingAndGatherRows) {
  SKIP_WITHOUT_GPU();
  Generator generator(24);
  expect_cuda_matches_cpu(
      "index_rows", {normal_tensor({7, 5}, generator)},
      [](const Inputs& in) {
        return Inputs{ops::index_rows(in[0], {6, 0, 0, 3}), ops::index_rows(in[0], {})};
      },
      0);
  expect_cuda_matches_cpu(
      "index_rows i32", {random_ids({4, 77}, 49408, generator)},
      [](const Inputs& in) {
        return Inputs{ops::index_rows(in[0], {3, 1})};
      },
      0);
  // Repeated ids: the backward adds several rows into one, in the CPU's order (same bits).
  const Inputs embedding_inputs{random_ids({4, 6}, 10, generator), normal_tensor({50, 9}, generator),
                                normal_tensor({4, 6, 9}, generator)};
  expect_cuda_matches_cpu(
      "embedding", embedding_inputs,
      [](const Inputs& in) {
        return Inputs{ops::embedding(in[0], in[1]), ops::embedding_backward(in[0], in[2], 50)};
      },
      0);
  const Inputs gather_inputs{normal_tensor({4, 7, 5}, generator), random_ids({4}, 7, generator),
                             normal_tensor({4, 5}, generator)};
  expect_cuda_matches_cpu(
      "gather_rows", gather_inputs,
      [](const Inputs& in) {
        return Inputs{ops::gather_rows(in[0], in[1]), ops::gather_rows_backward(in[2], in[1], 7)};
      },
      0);
  const std::string cpu = thrown_message([] {
    ops::embedding(Tensor::from_vector<int32_t>({2}, {1, 50}), Tensor::zeros({50, 3}));
  });
  const std::string cuda = thrown_message([] {
    ops::embedding(Tensor::from_vector<int32_t>({2}, {1, 50}).to(Device::CUDA),
                   Tensor::zeros({50, 3}, DType::F32, Device::CUDA));
  });
  EXPECT_FALSE(cpu.empty());
  EXPECT_EQ(cuda, cpu);
}

TEST(CudaVsCpu, AvgPoolAndBackwardDroppingTrailingRows) {
  SKIP_WITHOUT_GPU();
  Generator generator(25);
  const Inputs inputs{normal_tensor({2, 3, 9, 10}, generator), normal_tensor({2, 3, 3, 3}, generator)};
  expect_cuda_matches_cpu(
      "avg_pool2d", inputs,
      [](const Inputs& in) {
        return Inputs{ops::avg_pool2d(in[0], 3), ops::avg_pool2d_backward(in[1], {2, 3, 9, 10}, 3)};
      },
      0);
}

TEST(CudaVsCpu, AdamWUpdateIsTheCpuUpdateBitForBit) {
  SKIP_WITHOUT_GPU();
  Generator generator(26);
  const ops::AdamWCoefficients coefficients{1 - 1e-3 * 0.1, 0.1, 0.98, 0.02, 1e-3 / 0.1, std::sqrt(0.02), 1e-6};
  const Inputs inputs{normal_tensor({1000, 3}, generator), normal_tensor({1000, 3}, generator),
                      normal_tensor({1000, 3}, generator, 0, 0.1), uniform_tensor({1000, 3}, generator, 0, 0.01)};
  expect_cuda_matches_cpu(
      "adamw_update", inputs,
      [&](const Inputs& in) {
        Tensor param = in[0].clone(), exp_avg = in[2].clone(), exp_avg_sq = in[3].clone();
        for (int step = 0; step < 3; ++step) ops::adamw_update(param, in[1], exp_avg, exp_avg_sq, coefficients);
        return Inputs{param, exp_avg, exp_avg_sq};
      },
      0);
}

TEST(CudaVsCpu, SumSquaresInDouble) {
  SKIP_WITHOUT_GPU();
  Generator generator(27);
  for (const Shape& shape : {Shape{100000}, Shape{0}, Shape{17, 3}}) {
    const Tensor x = normal_tensor(shape, generator);
    const double cpu = ops::sum_squares(x), cuda = ops::sum_squares(x.to(Device::CUDA));
    // Chunks of 2^14 summed as a tree on the GPU, in sequence on the CPU: doubles agree to ~1e-15.
    EXPECT_NEAR(cuda, cpu, 1e-12 * std::max(1.0, cpu)) << shape_str(shape);
    EXPECT_EQ(ops::sum_squares(x.to(Device::CUDA)), cuda) << "not deterministic";
  }
}

}  // namespace
}  // namespace clipgrad::testing
