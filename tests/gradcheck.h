// Finite-difference gradient check in f64.
//
// For y = f(inputs) and a fixed random projection R of y's shape, compares
// the analytic gradient of sum(y * R) (one backward with seed R) with central
// differences, element by element, for every input that requires a gradient.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/variable.h"
#include "tensor/random.h"

namespace clipgrad::testing {

using GradFn = std::function<Variable(const std::vector<Variable>&)>;

inline Tensor random_f64(const Shape& shape, uint64_t seed, double std = 1.0) {
  Tensor t = Tensor::empty(shape, DType::F64);
  Generator generator(seed);
  fill_normal(t, 0.0, std, generator);
  return t;
}

inline double projected(const Tensor& y, const Tensor& projection) {
  const double* a = y.data<double>();
  const double* r = projection.data<double>();
  double total = 0;
  for (int64_t i = 0; i < y.numel(); ++i) total += a[i] * r[i];
  return total;
}

// requires_grad[i] false marks an input as a constant (defaults to all true).
inline void expect_gradcheck(const GradFn& f, const std::vector<Tensor>& inputs, std::vector<bool> requires_grad = {},
                             double eps = 1e-6, double tolerance = 1e-6) {
  if (requires_grad.empty()) requires_grad.assign(inputs.size(), true);
  std::vector<Variable> variables;
  for (size_t i = 0; i < inputs.size(); ++i) variables.emplace_back(inputs[i].clone(), requires_grad[i]);
  Variable y = f(variables);
  ASSERT_EQ(y.dtype(), DType::F64);
  Tensor projection = random_f64(y.shape(), 12345);
  y.backward(projection);

  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!requires_grad[i]) continue;
    Tensor analytic = variables[i].has_grad() ? variables[i].grad() : Tensor::zeros(inputs[i].shape(), DType::F64);
    double max_error = 0, max_reference = 0;
    for (int64_t e = 0; e < inputs[i].numel(); ++e) {
      auto evaluate = [&](double delta) {
        NoGradGuard no_grad;
        std::vector<Variable> perturbed;
        for (size_t j = 0; j < inputs.size(); ++j) {
          Tensor value = inputs[j].clone();
          if (j == i) value.data<double>()[e] += delta;
          perturbed.emplace_back(value, false);
        }
        return projected(f(perturbed).value(), projection);
      };
      double numeric = (evaluate(eps) - evaluate(-eps)) / (2 * eps);
      double got = analytic.data<double>()[e];
      max_error = std::max(max_error, std::abs(got - numeric));
      max_reference = std::max(max_reference, std::abs(numeric));
    }
    EXPECT_LE(max_error, tolerance * std::max(1.0, max_reference))
        << "input " << i << " of shape " << shape_str(inputs[i].shape()) << ": max |analytic - numeric| " << max_error
        << " (largest numeric gradient " << max_reference << ")";
  }
}

}  // namespace clipgrad::testing
