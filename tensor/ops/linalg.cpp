// matmul and linear, forward and backward, on the device's strided-batched
// GEMM: the shape logic here is the same on every device.
#include "tensor/ops/linalg.h"

#include <atomic>
#include <stdexcept>
#include <string>

#include "tensor/ops/dispatch.h"
#include "tensor/ops/elementwise.h"

namespace clipgrad::ops {

void gemm(const GemmArgs& args, const Tensor& a, const Tensor& b, Tensor& c) {
  kernel("gemm", &Kernels::gemm, {&a, &b, &c})(args, a, b, c);
}

void gemm_bias(const GemmArgs& args, const Tensor& a, const Tensor& b, const Tensor& bias, Tensor& c) {
  kernel("gemm_bias", &Kernels::gemm_bias, {&a, &b, &bias, &c})(args, a, b, bias, c);
}

namespace {
std::atomic<bool> g_tf32{false};
}  // namespace

void set_tf32(bool enabled) { g_tf32.store(enabled, std::memory_order_relaxed); }
bool tf32_enabled() { return g_tf32.load(std::memory_order_relaxed); }

namespace {

// The sizes of one matmul: `batch` products of op(a) [M, K] and op(b) [K, N];
// b_shared when one 2-D b serves every batch entry.
struct MatmulDims {
  int64_t batch = 1, m = 0, n = 0, k = 0;
  bool b_shared = false;
  Shape out_shape;  // [..., M, N]
};

MatmulDims matmul_dims(const Tensor& a_tensor, const Tensor& b_tensor, bool trans_a, bool trans_b) {
  const Shape& a = a_tensor.shape();
  const Shape& b = b_tensor.shape();
  auto fail = [&](const std::string& why) {
    return std::invalid_argument("matmul: a " + shape_str(a) + (trans_a ? " (transposed)" : "") + " and b " +
                                 shape_str(b) + (trans_b ? " (transposed)" : "") + ": " + why);
  };
  if (a_tensor.dtype() != b_tensor.dtype())
    throw fail(std::string("dtypes differ (") + dtype_name(a_tensor.dtype()) + " and " + dtype_name(b_tensor.dtype()) +
               "); convert one with to(dtype)");
  if (a.size() < 2 || b.size() < 2) throw fail("both operands need at least 2 dims");
  MatmulDims dims;
  const size_t ra = a.size(), rb = b.size();
  dims.m = trans_a ? a[ra - 1] : a[ra - 2];
  dims.k = trans_a ? a[ra - 2] : a[ra - 1];
  const int64_t k_b = trans_b ? b[rb - 1] : b[rb - 2];
  dims.n = trans_b ? b[rb - 2] : b[rb - 1];
  if (dims.k != k_b) throw fail("inner sizes differ (" + std::to_string(dims.k) + " vs " + std::to_string(k_b) + ")");
  const Shape batch_a(a.begin(), a.end() - 2), batch_b(b.begin(), b.end() - 2);
  dims.b_shared = batch_b.empty();
  if (!dims.b_shared && batch_a != batch_b)
    throw fail("batch dims must match, or b must be 2-D and shared across the batch");
  dims.batch = shape_numel(batch_a);
  dims.out_shape = batch_a;
  dims.out_shape.push_back(dims.m);
  dims.out_shape.push_back(dims.n);
  return dims;
}

// BLAS rejects a zero leading dimension: an empty product is all zeros.
bool is_empty(const MatmulDims& d) { return d.batch * d.m * d.n * d.k == 0; }

}  // namespace

// a [..., M, K] (trans_a: [..., K, M]), b [..., K, N] or [K, N] (trans_b: [..., N, K]) -> [..., M, N]
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const MatmulDims d = matmul_dims(a, b, trans_a, trans_b);
  if (is_empty(d)) return Tensor::zeros(d.out_shape, a.dtype(), a.device());
  Tensor out = Tensor::empty(d.out_shape, a.dtype(), a.device());
  if (d.b_shared && !trans_a) {
    // Stacked rows of a make one tall product: one large GEMM beats many small ones.
    gemm({.trans_b = trans_b, .m = d.batch * d.m, .n = d.n, .k = d.k}, a, b, out);
  } else {
    gemm({.trans_a = trans_a, .trans_b = trans_b, .batch = d.batch, .m = d.m, .n = d.n, .k = d.k,
          .stride_a = d.m * d.k, .stride_b = d.b_shared ? 0 : d.k * d.n, .stride_c = d.m * d.n},
         a, b, out);
  }
  return out;
}

MatmulGrads matmul_backward(const Tensor& g, const Tensor& a, const Tensor& b, bool ta, bool tb, bool need_a,
                            bool need_b) {
  const MatmulDims d = matmul_dims(a, b, ta, tb);
  MatmulGrads grads;
  if (is_empty(d)) {
    if (need_a) grads.a = Tensor::zeros(a.shape(), a.dtype(), a.device());
    if (need_b) grads.b = Tensor::zeros(b.shape(), b.dtype(), b.device());
    return grads;
  }
  const int64_t stride_b = d.b_shared ? 0 : d.k * d.n;
  if (need_a) {
    // a untransposed: g @ op(b)^T;   a transposed: op(b) @ g^T
    grads.a = Tensor::empty_like(a);
    if (!ta && d.b_shared) {
      gemm({.trans_b = !tb, .m = d.batch * d.m, .n = d.k, .k = d.n}, g, b, grads.a);
    } else if (!ta) {
      gemm({.trans_b = !tb, .batch = d.batch, .m = d.m, .n = d.k, .k = d.n, .stride_a = d.m * d.n,
            .stride_b = stride_b, .stride_c = d.m * d.k},
           g, b, grads.a);
    } else {
      gemm({.trans_a = tb, .trans_b = true, .batch = d.batch, .m = d.k, .n = d.m, .k = d.n, .stride_a = stride_b,
            .stride_b = d.m * d.n, .stride_c = d.k * d.m},
           b, g, grads.a);
    }
  }
  if (need_b) {
    // b untransposed: op(a)^T @ g;   b transposed: g^T @ op(a). A shared b sums over the batch.
    grads.b = Tensor::empty_like(b);
    if (d.b_shared && !ta) {
      // The batch folds into the inner dim of one GEMM over the stacked rows.
      const int64_t rows = d.batch * d.m;
      if (!tb) {
        gemm({.trans_a = true, .m = d.k, .n = d.n, .k = rows}, a, g, grads.b);
      } else {
        gemm({.trans_a = true, .m = d.n, .n = d.k, .k = rows}, g, a, grads.b);
      }
    } else if (!d.b_shared) {
      if (!tb) {
        gemm({.trans_a = !ta, .batch = d.batch, .m = d.k, .n = d.n, .k = d.m, .stride_a = d.m * d.k,
              .stride_b = d.m * d.n, .stride_c = d.k * d.n},
             a, g, grads.b);
      } else {
        gemm({.trans_a = true, .trans_b = ta, .batch = d.batch, .m = d.n, .n = d.k, .k = d.m, .stride_a = d.m * d.n,
              .stride_b = d.m * d.k, .stride_c = d.n * d.k},
             g, a, grads.b);
      }
    } else {
      // A shared b with transposed a cannot stack rows: accumulate one product per batch entry.
      const Tensor a3 = a.reshape({d.batch, d.k, d.m}), g3 = g.reshape({d.batch, d.m, d.n});
      for (int64_t i = 0; i < d.batch; ++i) {
        const Tensor a_i = a3.rows(i, i + 1), g_i = g3.rows(i, i + 1);  // [K, M], [M, N]
        const double beta = i == 0 ? 0.0 : 1.0;
        if (!tb) {
          gemm({.m = d.k, .n = d.n, .k = d.m, .beta = beta}, a_i, g_i, grads.b);
        } else {
          gemm({.trans_a = true, .trans_b = true, .m = d.n, .n = d.k, .k = d.m, .beta = beta}, g_i, a_i, grads.b);
        }
      }
    }
  }
  return grads;
}

namespace {

// The rows, input and output features of linear(x, weight, bias); throws for shapes that do not fit.
struct LinearDims {
  int64_t rows, in, out;
};

LinearDims linear_dims(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (x.dtype() != weight.dtype() || (bias.defined() && bias.dtype() != x.dtype()))
    throw std::invalid_argument(std::string("linear: operands have dtypes ") + dtype_name(x.dtype()) + " and " +
                                dtype_name(weight.dtype()) + "; convert one with to(dtype)");
  if (weight.dim() != 2 || x.dim() < 1 || x.size(-1) != weight.size(1))
    throw std::invalid_argument("linear: x " + shape_str(x.shape()) + " does not fit weight " +
                                shape_str(weight.shape()) + " (need x [..., in] and weight [out, in])");
  if (bias.defined() && bias.shape() != Shape{weight.size(0)})
    throw std::invalid_argument("linear: bias " + shape_str(bias.shape()) + " does not fit weight " +
                                shape_str(weight.shape()) + " (need bias [out])");
  return {shape_numel(Shape(x.shape().begin(), x.shape().end() - 1)), weight.size(1), weight.size(0)};
}

}  // namespace

// x [..., in], weight [out, in], bias [out] or undefined -> [..., out]
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const LinearDims d = linear_dims(x, weight, bias);
  Shape out_shape = x.shape();
  out_shape.back() = d.out;
  // BLAS rejects a zero leading dimension: with no rows, features or outputs
  // the product part is all zeros.
  const bool empty = d.rows * d.in * d.out == 0;
  if (empty) return bias.defined() ? broadcast_to(bias, out_shape) : Tensor::zeros(out_shape, x.dtype(), x.device());
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  // out [rows, out] = x [rows, in] @ weight^T (+ bias on every row)
  const GemmArgs product{.trans_b = true, .m = d.rows, .n = d.out, .k = d.in};
  if (bias.defined()) {
    gemm_bias(product, x, weight, bias, out);
  } else {
    gemm(product, x, weight, out);
  }
  return out;
}

LinearGrads linear_backward(const Tensor& g, const Tensor& x, const Tensor& weight, bool need_x, bool need_weight,
                            bool need_bias) {
  const LinearDims d = linear_dims(x, weight, Tensor());
  const bool empty = d.rows * d.in * d.out == 0;
  auto gradient_like = [empty](const Tensor& value) {
    return empty ? Tensor::zeros(value.shape(), value.dtype(), value.device()) : Tensor::empty_like(value);
  };
  LinearGrads grads;
  if (need_x) {
    // grad_x [rows, in] = g [rows, out] @ weight [out, in]
    grads.x = gradient_like(x);
    if (!empty) gemm({.m = d.rows, .n = d.in, .k = d.out}, g, weight, grads.x);
  }
  if (need_weight) {
    // grad_weight [out, in] = g^T [out, rows] @ x [rows, in]
    grads.weight = gradient_like(weight);
    if (!empty) gemm({.trans_a = true, .m = d.out, .n = d.in, .k = d.rows}, g, x, grads.weight);
  }
  if (need_bias) grads.bias = sum_to_shape(g.reshape({d.rows, d.out}), {d.out});
  return grads;
}

}  // namespace clipgrad::ops
