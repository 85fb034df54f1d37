// Matrix products on top of ops::gemm_batched (OpenBLAS).
#include <stdexcept>
#include <string>

#include "autograd/functional.h"
#include "tensor/ops/elementwise.h"
#include "tensor/ops/gemm.h"

namespace clipgrad::fn {

namespace {

// The sizes of one matmul: `batch` products of op(a) [M, K] and op(b) [K, N];
// b_shared when one 2-D b serves every batch entry.
struct MatmulDims {
  int64_t batch = 1, m = 0, n = 0, k = 0;
  bool b_shared = false;
  Shape out_shape;  // [..., M, N]
};

MatmulDims matmul_dims(const Shape& a, const Shape& b, bool trans_a, bool trans_b) {
  auto fail = [&](const std::string& why) {
    return std::invalid_argument("matmul: a " + shape_str(a) + (trans_a ? " (transposed)" : "") + " and b " +
                                 shape_str(b) + (trans_b ? " (transposed)" : "") + ": " + why);
  };
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

template <class T>
void matmul_forward(const MatmulDims& d, bool ta, bool tb, const T* a, const T* b, T* c) {
  if (d.b_shared && !ta) {
    // Stacked rows of a make one tall product: one large GEMM beats many small ones.
    ops::gemm<T>(false, tb, d.batch * d.m, d.n, d.k, T(1), a, b, T(0), c);
  } else {
    ops::gemm_batched<T>(ta, tb, d.batch, d.m, d.n, d.k, T(1), a, d.m * d.k, b, d.b_shared ? 0 : d.k * d.n, T(0), c,
                         d.m * d.n);
  }
}

// grad_a [..., shape of a] from g [..., M, N]:
//   a untransposed: g @ op(b)^T;   a transposed: op(b) @ g^T
template <class T>
void matmul_grad_a(const MatmulDims& d, bool ta, bool tb, const T* g, const T* b, T* grad_a) {
  const int64_t stride_b = d.b_shared ? 0 : d.k * d.n;
  if (!ta && d.b_shared) {
    ops::gemm<T>(false, !tb, d.batch * d.m, d.k, d.n, T(1), g, b, T(0), grad_a);
  } else if (!ta) {
    ops::gemm_batched<T>(false, !tb, d.batch, d.m, d.k, d.n, T(1), g, d.m * d.n, b, stride_b, T(0), grad_a,
                         d.m * d.k);
  } else {
    ops::gemm_batched<T>(tb, true, d.batch, d.k, d.m, d.n, T(1), b, stride_b, g, d.m * d.n, T(0), grad_a,
                         d.k * d.m);
  }
}

// grad_b [..., shape of b] from g [..., M, N]:
//   b untransposed: op(a)^T @ g;   b transposed: g^T @ op(a)
// A shared b sums its gradient over the batch.
template <class T>
void matmul_grad_b(const MatmulDims& d, bool ta, bool tb, const T* a, const T* g, T* grad_b) {
  if (d.b_shared && !ta) {
    // The batch folds into the inner dim of one GEMM over the stacked rows.
    const int64_t rows = d.batch * d.m;
    if (!tb) {
      ops::gemm<T>(true, false, d.k, d.n, rows, T(1), a, g, T(0), grad_b);
    } else {
      ops::gemm<T>(true, false, d.n, d.k, rows, T(1), g, a, T(0), grad_b);
    }
    return;
  }
  if (!d.b_shared) {
    if (!tb) {
      ops::gemm_batched<T>(!ta, false, d.batch, d.k, d.n, d.m, T(1), a, d.m * d.k, g, d.m * d.n, T(0), grad_b,
                           d.k * d.n);
    } else {
      ops::gemm_batched<T>(true, ta, d.batch, d.n, d.k, d.m, T(1), g, d.m * d.n, a, d.m * d.k, T(0), grad_b,
                           d.n * d.k);
    }
    return;
  }
  // A shared b with transposed a cannot stack rows: accumulate one product per batch entry.
  for (int64_t i = 0; i < d.batch; ++i) {
    const T* a_i = a + i * d.m * d.k;  // [K, M]
    const T* g_i = g + i * d.m * d.n;  // [M, N]
    const T beta = i == 0 ? T(0) : T(1);
    if (!tb) {
      ops::gemm<T>(false, false, d.k, d.n, d.m, T(1), a_i, g_i, beta, grad_b);
    } else {
      ops::gemm<T>(true, true, d.n, d.k, d.m, T(1), g_i, a_i, beta, grad_b);
    }
  }
}

void check_same_dtype(const Variable& a, const Variable& b, const char* op) {
  if (a.dtype() != b.dtype())
    throw std::invalid_argument(std::string(op) + ": operands have dtypes " + dtype_name(a.dtype()) + " and " +
                                dtype_name(b.dtype()) + "; convert one with to(dtype)");
}

}  // namespace

// a [..., M, K] (trans_a: [..., K, M]), b [..., K, N] or [K, N] (trans_b: [..., N, K]) -> [..., M, N]
Variable matmul(const Variable& a, const Variable& b, bool trans_a, bool trans_b) {
  check_same_dtype(a, b, "matmul");
  const MatmulDims dims = matmul_dims(a.shape(), b.shape(), trans_a, trans_b);
  // BLAS rejects a zero leading dimension: an empty product is all zeros.
  const bool empty = dims.batch * dims.m * dims.n * dims.k == 0;
  Tensor out = empty ? Tensor::zeros(dims.out_shape, a.dtype()) : Tensor::empty(dims.out_shape, a.dtype());
  if (!empty) {
    dispatch_floating(a.dtype(), "matmul", [&]<class T>() {
      matmul_forward<T>(dims, trans_a, trans_b, a.value().data<T>(), b.value().data<T>(), out.data<T>());
    });
  }
  return make_result(out, {a, b}, [dims, trans_a, trans_b, empty](const Tensor& g, std::vector<Variable>& in) {
    const Tensor& a_value = in[0].value();
    const Tensor& b_value = in[1].value();
    if (empty) {
      for (Variable& input : in)
        if (input.requires_grad()) input.add_grad(Tensor::zeros(input.shape(), input.dtype()));
      return;
    }
    dispatch_floating(g.dtype(), "matmul backward", [&]<class T>() {
      if (in[0].requires_grad()) {
        Tensor grad_a = Tensor::empty(a_value.shape(), a_value.dtype());
        matmul_grad_a<T>(dims, trans_a, trans_b, g.data<T>(), b_value.data<T>(), grad_a.data<T>());
        in[0].add_grad(grad_a);
      }
      if (in[1].requires_grad()) {
        Tensor grad_b = Tensor::empty(b_value.shape(), b_value.dtype());
        matmul_grad_b<T>(dims, trans_a, trans_b, a_value.data<T>(), g.data<T>(), grad_b.data<T>());
        in[1].add_grad(grad_b);
      }
    });
  });
}

// x [..., in], weight [out, in], bias [out] or undefined -> [..., out]
Variable linear(const Variable& x, const Variable& weight, const Variable& bias) {
  check_same_dtype(x, weight, "linear");
  if (weight.dim() != 2 || x.dim() < 1 || x.size(-1) != weight.size(1))
    throw std::invalid_argument("linear: x " + shape_str(x.shape()) + " does not fit weight " +
                                shape_str(weight.shape()) + " (need x [..., in] and weight [out, in])");
  const int64_t in_features = weight.size(1), out_features = weight.size(0);
  if (bias.defined()) {
    check_same_dtype(x, bias, "linear");
    if (bias.shape() != Shape{out_features})
      throw std::invalid_argument("linear: bias " + shape_str(bias.shape()) + " does not fit weight " +
                                  shape_str(weight.shape()) + " (need bias [out])");
  }
  const int64_t rows = shape_numel(Shape(x.shape().begin(), x.shape().end() - 1));
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  // BLAS rejects a zero leading dimension: with no rows, features or
  // outputs, the product part is all zeros.
  const bool empty = rows * in_features * out_features == 0;
  Tensor out = bias.defined() ? ops::broadcast_to(bias.value(), out_shape)
               : empty        ? Tensor::zeros(out_shape, x.dtype())
                              : Tensor::empty(out_shape, x.dtype());
  if (!empty) {
    dispatch_floating(x.dtype(), "linear", [&]<class T>() {
      // out [rows, out] (+)= x [rows, in] @ weight^T
      ops::gemm<T>(false, true, rows, out_features, in_features, T(1), x.value().data<T>(),
                   weight.value().data<T>(), bias.defined() ? T(1) : T(0), out.data<T>());
    });
  }
  std::vector<Variable> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  return make_result(out, std::move(inputs), [rows, in_features, out_features, empty](const Tensor& g,
                                                                                      std::vector<Variable>& in) {
    const Tensor& x_value = in[0].value();
    const Tensor& weight_value = in[1].value();
    auto gradient_like = [empty](const Tensor& value) {
      return empty ? Tensor::zeros(value.shape(), value.dtype()) : Tensor::empty(value.shape(), value.dtype());
    };
    dispatch_floating(g.dtype(), "linear backward", [&]<class T>() {
      if (in[0].requires_grad()) {
        // grad_x [rows, in] = g [rows, out] @ weight [out, in]
        Tensor grad_x = gradient_like(x_value);
        if (!empty)
          ops::gemm<T>(false, false, rows, in_features, out_features, T(1), g.data<T>(), weight_value.data<T>(),
                       T(0), grad_x.data<T>());
        in[0].add_grad(grad_x);
      }
      if (in[1].requires_grad()) {
        // grad_weight [out, in] = g^T [out, rows] @ x [rows, in]
        Tensor grad_weight = gradient_like(weight_value);
        if (!empty)
          ops::gemm<T>(true, false, out_features, in_features, rows, T(1), g.data<T>(), x_value.data<T>(), T(0),
                       grad_weight.data<T>());
        in[1].add_grad(grad_weight);
      }
    });
    if (in.size() > 2 && in[2].requires_grad())
      in[2].add_grad(ops::sum_to_shape(g.reshape({rows, out_features}), {out_features}));
  });
}

}  // namespace clipgrad::fn
