// The PyTorch parity rule, shared by the model, objective and CLI parity tests:
// every tensor of a float64 PyTorch export (but its inputs) against a dump.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <string>

#include "io/safetensors.h"

namespace clipgrad::testing {

using TensorMap = std::map<std::string, Tensor>;

// The fixtures folder: the source tree's, or CLIPGRAD_FIXTURES_DIR when a build
// runs on another machine than the one it was made on (bench/device_check.sh).
inline const std::string kFixtures = [] {
  const char* moved = std::getenv("CLIPGRAD_FIXTURES_DIR");
  return std::string(moved && *moved ? moved : CLIPGRAD_FIXTURES);
}();

inline double norm(const Tensor& t) {
  Tensor values = t.to(DType::F64);
  double total = 0;
  for (int64_t i = 0; i < values.numel(); ++i) total += values.data<double>()[i] * values.data<double>()[i];
  return std::sqrt(total);
}

inline double distance(const Tensor& a, const Tensor& b) {
  Tensor x = a.to(DType::F64), y = b.to(DType::F64);
  double total = 0;
  for (int64_t i = 0; i < x.numel(); ++i) total += std::pow(x.data<double>()[i] - y.data<double>()[i], 2);
  return std::sqrt(total);
}

// Requires ||got - ref|| / ||ref|| <= tolerance for every tensor of the
// expect file but its inputs: 1e-4 for a float32 dump; 1e-6 for a float64
// dump (the float64 references are stored float32-rounded, about 6e-8).
//
// Some gradients are zero in exact arithmetic: softmax ignores a constant
// added to every logit of a query, and the key bias adds exactly that
// (q . b_k), so the gradient of the key bias (k_proj.bias, the k third of
// in_proj_bias) is zero and both sides hold only rounding noise (~1e-16 in
// float64, ~1e-8 in float32). A relative error of noise is meaningless, so
// where the reference's norm is below 10 x tolerance x the largest gradient
// norm of the model, the absolute error is held to that floor instead.
inline void expect_matches(const TensorMap& got, const std::string& expect_path, double tolerance = 1e-4) {
  io::SafetensorsFile expect = io::read_safetensors(expect_path);
  double largest_grad = 0;
  for (const auto& [name, stored] : expect.tensors)
    if (name.rfind("grad.", 0) == 0) largest_grad = std::max(largest_grad, norm(stored.value));
  const double floor = 10 * tolerance * largest_grad;
  int compared = 0;
  for (const auto& [name, stored] : expect.tensors) {
    if (name.rfind("input.", 0) == 0) continue;
    auto found = got.find(name);
    if (found == got.end()) {
      ADD_FAILURE() << expect_path << ": dump lacks '" << name << "'";
      continue;
    }
    const Tensor& reference = stored.value;
    ASSERT_EQ(found->second.shape(), reference.shape()) << name;
    double error = distance(found->second, reference), scale = norm(reference);
    if (name.rfind("grad.", 0) == 0 && scale < floor) {
      EXPECT_LE(error, floor) << name << " (a zero gradient: held to the absolute floor)";
    } else {
      EXPECT_LE(error, tolerance * scale) << name << ": relative error " << error / scale;
    }
    ++compared;
  }
  EXPECT_GT(compared, 0) << expect_path;
}

}  // namespace clipgrad::testing
