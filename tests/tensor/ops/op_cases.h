// One test entry per raw op of tensor/ops/op_list.h, in the manner of ggml's
// test-backend-ops: each case builds its inputs, runs the op through ops::,
// and states the op's vector-Jacobian product from raw ops (its backward
// kernel, or the raw ops its backward is made of). op_table_test.cpp then
// gives every case a finite-difference gradcheck in f64 on the CPU and, where
// a CUDA device runs (a GPU or the emulator), CPU-vs-CUDA parity in f32.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tensor/ops/kernels.h"

namespace clipgrad::testing {

using ops::RawOp;

using Tensors = std::vector<Tensor>;

struct OpCase {
  // The inputs, on the CPU: floating ones in f64 (the parity check runs them
  // in f32), index tensors in i32.
  std::function<Tensors()> inputs;
  // The op on those inputs (on whatever device they are): its outputs, all
  // compared across devices; output 0 is the one differentiated. An op that
  // works in place runs on clones, so the inputs stay as they were.
  std::function<Tensors(const Tensors& inputs)> forward;
  // d sum(forward(inputs)[0] * grad) / d inputs[i] for each i of `wrt`, in
  // that order, computed with raw ops only.
  std::function<Tensors(const Tensors& inputs, const Tensor& grad)> vjp;
  std::vector<size_t> wrt;
  // Why the op has no gradcheck (it is not differentiable), when vjp is null.
  std::string no_gradient;
  // CPU vs CUDA in f32: the largest relative error (max |difference| / max |value|).
  double device_tolerance = 1e-5;
};

// The cases, one per raw op that has its own.
const std::map<RawOp, OpCase>& op_cases();

// The raw ops that are checked inside another op's case (a backward kernel is
// the vjp of its forward's case), with that op.
const std::map<RawOp, RawOp>& checked_in_case_of();

}  // namespace clipgrad::testing
