// Every raw op of the list (tensor/ops/op_list.h), from one table
// (op_cases.cpp): each device's kernel table is complete; every op has a
// test entry; each case's vjp matches central finite differences in f64 on
// the CPU (its gradcheck); and on CUDA (a GPU, or the emulator) each case's
// outputs and gradients match the CPU's in f32 and repeat bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "tensor/ops/dispatch.h"
#ifdef CLIPGRAD_CUDA_EMULATE
#include "cuda/emulator/controls.h"
#endif
#include "tests/tensor/cuda/cuda_vs_cpu.h"
#include "tests/tensor/ops/op_cases.h"

namespace clipgrad::testing {
namespace {

// sum(y * projection) in double.
double projected(const Tensor& y, const Tensor& projection) {
  const std::vector<double> a = y.to(DType::F64).to_vector<double>(), r = projection.to_vector<double>();
  double total = 0;
  for (size_t i = 0; i < a.size(); ++i) total += a[i] * r[i];
  return total;
}

// The largest |vjp - central difference| of input `which`, relative to the largest numeric gradient (at least 1).
double gradcheck_error(const OpCase& test, size_t which, const Tensor& analytic, const Tensor& projection) {
  const Tensors inputs = test.inputs();
  constexpr double kEps = 1e-6;
  double max_error = 0, max_reference = 0;
  const std::vector<double> got = analytic.to_vector<double>();
  for (int64_t e = 0; e < inputs[which].numel(); ++e) {
    auto evaluate = [&](double delta) {
      Tensors perturbed = inputs;
      perturbed[which] = inputs[which].clone();
      perturbed[which].data<double>()[e] += delta;
      return projected(test.forward(perturbed)[0], projection);
    };
    const double numeric = (evaluate(kEps) - evaluate(-kEps)) / (2 * kEps);
    max_error = std::max(max_error, std::abs(got[e] - numeric));
    max_reference = std::max(max_reference, std::abs(numeric));
  }
  return max_error / std::max(1.0, max_reference);
}

// Inputs on `device` with every floating tensor in f32 (the dtype CUDA runs for every op).
Tensors as_f32_on(const Tensors& inputs, Device device) {
  Tensors moved;
  for (const Tensor& input : inputs) {
    const bool floating = input.dtype() == DType::F64 || input.dtype() == DType::F32;
    moved.push_back((floating ? input.to(DType::F32) : input).to(device));
  }
  return moved;
}

// The case's outputs, then its gradients for a fixed projection of output 0.
Tensors outputs_and_gradients(const OpCase& test, const Tensors& inputs) {
  Tensors results = test.forward(inputs);
  if (test.vjp) {
    Tensor projection = random_tensor(results[0].shape(), 99, 1.0, results[0].dtype()).to(results[0].device());
    for (const Tensor& gradient : test.vjp(inputs, projection)) results.push_back(gradient);
  }
  return results;
}

TEST(OpTable, EveryDeviceTableHasEveryOp) {
  EXPECT_TRUE(ops::missing_kernels(ops::kernels_for(Device::CPU)).empty());
  if (!gpu_present()) GTEST_SKIP() << "no CUDA device: the CUDA table is checked where one runs";
  const std::vector<std::string> missing = ops::missing_kernels(ops::kernels_for(Device::CUDA));
  EXPECT_TRUE(missing.empty()) << "CUDA lacks " << ::testing::PrintToString(missing);
}

TEST(OpTable, EveryOpHasATestEntry) {
  for (RawOp op : ops::kAllRawOps) {
    const bool own_case = op_cases().count(op) > 0;
    const auto covered = checked_in_case_of().find(op);
    EXPECT_TRUE(own_case || covered != checked_in_case_of().end())
        << ops::op_name(op) << " is in tensor/ops/op_list.h but has no entry in tests/tensor/ops/op_cases.cpp";
    EXPECT_FALSE(own_case && covered != checked_in_case_of().end()) << ops::op_name(op) << " has two entries";
    if (covered != checked_in_case_of().end()) {
      ASSERT_TRUE(op_cases().count(covered->second)) << ops::op_name(op);
      EXPECT_TRUE(op_cases().at(covered->second).vjp) << ops::op_name(op) << " is checked by a case with no vjp";
    }
  }
}

TEST(OpTable, EveryCaseHasAGradcheckOrSaysWhyNot) {
  for (const auto& [op, test] : op_cases()) {
    SCOPED_TRACE(ops::op_name(op));
    if (!test.vjp) {
      EXPECT_FALSE(test.no_gradient.empty()) << "no vjp and no reason";
      continue;
    }
    const Tensors inputs = test.inputs();
    const Tensor y = test.forward(inputs)[0];
    const Tensor projection = random_tensor(y.shape(), 12345, 1.0, DType::F64);
    const Tensors gradients = test.vjp(inputs, projection);
    ASSERT_EQ(gradients.size(), test.wrt.size());
    for (size_t i = 0; i < test.wrt.size(); ++i) {
      const size_t which = test.wrt[i];
      ASSERT_EQ(gradients[i].shape(), inputs[which].shape()) << "gradient of input " << which;
      EXPECT_LE(gradcheck_error(test, which, gradients[i], projection), 1e-6) << "input " << which;
    }
  }
}

TEST(OpTable, CudaMatchesTheCpuOnEveryCase) {
  SKIP_WITHOUT_GPU();
  for (const auto& [op, test] : op_cases()) {
    SCOPED_TRACE(ops::op_name(op));
    const Tensors on_cpu = as_f32_on(test.inputs(), Device::CPU), on_gpu = as_f32_on(test.inputs(), Device::CUDA);
    const Tensors expected = outputs_and_gradients(test, on_cpu);
    const Tensors actual = outputs_and_gradients(test, on_gpu), again = outputs_and_gradients(test, on_gpu);
    ASSERT_EQ(actual.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      SCOPED_TRACE("result " + std::to_string(i));
      EXPECT_EQ(actual[i].device(), Device::CUDA);
      ASSERT_EQ(actual[i].shape(), expected[i].shape());
      EXPECT_LE(relative_error(expected[i], actual[i]), test.device_tolerance);
      EXPECT_TRUE(same_bits(actual[i], again[i])) << "not deterministic";
    }
  }
}

#ifdef CLIPGRAD_CUDA_EMULATE
// Under the emulator: every case's outputs and gradients are the same bits
// whatever order the threads of a block run in between barriers (and the
// blocks in): a kernel whose result depends on the order has a race.
TEST(OpTable, EveryCaseGivesTheSameBitsInEveryThreadOrder) {
  namespace emu = cuda::emulator;
  const emu::Schedule original = emu::schedule();
  for (const auto& [op, test] : op_cases()) {
    SCOPED_TRACE(ops::op_name(op));
    const Tensors inputs = as_f32_on(test.inputs(), Device::CUDA);
    std::vector<Tensors> runs;
    for (const char* order : {"forward", "reverse", "shuffled:7"}) {
      emu::set_schedule(emu::parse_schedule(order));
      runs.push_back(outputs_and_gradients(test, inputs));
    }
    emu::set_schedule(original);
    for (size_t run = 1; run < runs.size(); ++run)
      for (size_t i = 0; i < runs[0].size(); ++i)
        EXPECT_TRUE(same_bits(runs[0][i], runs[run][i]))
            << "result " << i << " depends on the thread order (run " << run << ")";
  }
}
#endif

}  // namespace
}  // namespace clipgrad::testing
