// matmul and linear, forward and backward, on the device's strided-batched
// GEMM: the shape logic here is the same on every device.
#include "tensor/ops/linalg.h"

#include <stdexcept>
#include <string>

#include "tensor/ops/dispatch.h"
#include "tensor/ops/elementwise.h"

namespace clipgrad::ops {

namespace {

// `batch` matrices of `rows` x `columns`, `stride` elements apart, must lie inside t.
void check_matrices(const Tensor& t, const GemmArgs& g, int64_t rows, int64_t columns, int64_t stride, const char* op,
                    const char* name) {
  if (rows * columns == 0) return;
  const int64_t needed = (g.batch - 1) * stride + rows * columns;
  if (stride < 0 || needed > t.numel())
    throw std::invalid_argument(std::string(op) + ": " + name + " " + shape_str(t.shape()) + " holds " +
                                std::to_string(t.numel()) + " elements, the product reads " + std::to_string(needed) +
                                " (" + std::to_string(g.batch) + " matrices [" + std::to_string(rows) + ", " +
                                std::to_string(columns) + "], " + std::to_string(stride) + " apart)");
}

// a and b of one dtype: f32 or f64 with c the same, or bf16 with c in f32 or bf16.
void check_gemm(const GemmArgs& g, const Tensor& a, const Tensor& b, const Tensor& c, const char* op) {
  const bool bf16 = a.dtype() == DType::BF16 && (c.dtype() == DType::F32 || c.dtype() == DType::BF16);
  if (a.dtype() != b.dtype() || (a.dtype() != c.dtype() && !bf16))
    throw std::invalid_argument(std::string(op) + ": operands have dtypes " + dtype_name(a.dtype()) + ", " +
                                dtype_name(b.dtype()) + " and " + dtype_name(c.dtype()) +
                                " (a and b share one; c too, or a and b are bf16 and c f32 or bf16)");
  if (!bf16) check_floating(a, op);
  if (g.batch < 1 || g.m < 0 || g.n < 0 || g.k < 0)
    throw std::invalid_argument(std::string(op) + ": negative sizes or a batch below 1");
  check_matrices(a, g, g.m, g.k, g.stride_a, op, "a");
  check_matrices(b, g, g.k, g.n, g.stride_b, op, "b");
  check_matrices(c, g, g.m, g.n, g.stride_c, op, "c");
}

}  // namespace

void gemm(const GemmArgs& args, const Tensor& a, const Tensor& b, Tensor& c) {
  check_gemm(args, a, b, c, "gemm");
  kernel<RawOp::gemm>({&a, &b, &c})(args, a, b, c);
}

void gemm_bias(const GemmArgs& args, const Tensor& a, const Tensor& b, const Tensor& bias, Tensor& c) {
  check_gemm(args, a, b, c, "gemm_bias");
  if (args.batch != 1 || bias.shape() != Shape{args.n} || bias.dtype() != c.dtype())
    throw std::invalid_argument("gemm_bias: needs batch 1 and a bias [" + std::to_string(args.n) +
                                "] of c's dtype, got " + shape_str(bias.shape()) + " " + dtype_name(bias.dtype()));
  kernel<RawOp::gemm_bias>({&a, &b, &bias, &c})(args, a, b, bias, c);
}

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

bool MatmulDims::empty() const { return batch * m * n * k == 0; }

// a [..., M, K] (trans_a: [..., K, M]), b [..., K, N] or [K, N] (trans_b: [..., N, K]) -> [..., M, N]
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const MatmulDims d = matmul_dims(a, b, trans_a, trans_b);
  if (d.empty()) return Tensor::zeros(d.out_shape, a.dtype(), a.device());
  Tensor out = Tensor::empty(d.out_shape, a.dtype(), a.device());
  if (d.b_shared && !trans_a) {
    // Stacked rows of a make one tall product: one large GEMM beats many small ones.
    gemm({.trans_b = trans_b, .m = d.batch * d.m, .n = d.n, .k = d.k}, a, b, out);
  } else {
    gemm({.trans_a = trans_a,
          .trans_b = trans_b,
          .batch = d.batch,
          .m = d.m,
          .n = d.n,
          .k = d.k,
          .stride_a = d.m * d.k,
          .stride_b = d.b_shared ? 0 : d.k * d.n,
          .stride_c = d.m * d.n},
         a, b, out);
  }
  return out;
}

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

}  // namespace clipgrad::ops
