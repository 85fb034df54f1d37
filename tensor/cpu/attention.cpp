// The CPU kernels of the attention family (tensor/ops/attention.h): batched
// GEMMs over batch x heads around a numerically stable softmax, and the
// backward through the softmax Jacobian. The CUDA twin is
// tensor/cuda/fused/attention.cu.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "tensor/cpu/gemm.h"
#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace clipgrad::cpu {

namespace {

std::string str(int64_t v) { return std::to_string(v); }

}  // namespace

Tensor attention_heads(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double scale,
                       Tensor& probs) {
  const int64_t B = q.shape()[0], Lq = q.shape()[1], hd = q.shape()[2], Lk = k.shape()[1];
  // The additive mask [Lq, Lk] in q's dtype.
  const Tensor additive = !mask.defined() || mask.dtype() == q.dtype() ? mask : mask.to(q.dtype());
  probs = Tensor::empty({B, Lq, Lk}, q.dtype());
  Tensor out = Tensor::empty({B, Lq, hd}, q.dtype());
  std::atomic<int64_t> blocked_row{-1};
  dispatch_floating(q.dtype(), "attention", [&]<class T>() {
    T* p = probs.data<T>();
    blas_gemm_batched<T>(false, true, B, Lq, Lk, hd, T(scale), q.data<T>(), Lq * hd, k.data<T>(), Lk * hd, T(0), p,
                         Lq * Lk);
    const T* add = additive.defined() ? additive.data<T>() : nullptr;
    const int64_t rows = B * Lq;
#pragma omp parallel for if (rows * Lk > kParallelElements)
    for (int64_t r = 0; r < rows; ++r) {
      T* row = p + r * Lk;
      const T* mask_row = add ? add + (r % Lq) * Lk : nullptr;
      T max = -std::numeric_limits<T>::infinity();
      for (int64_t j = 0; j < Lk; ++j) {
        if (mask_row) row[j] += mask_row[j];
        max = std::max(max, row[j]);
      }
      if (max == -std::numeric_limits<T>::infinity()) {
        blocked_row = r % Lq;  // no exception may leave an OpenMP region
        continue;
      }
      T total = 0;
      for (int64_t j = 0; j < Lk; ++j) {
        row[j] = std::exp(row[j] - max);
        total += row[j];
      }
      const T inverse = T(1) / total;
      for (int64_t j = 0; j < Lk; ++j) row[j] *= inverse;
    }
    if (blocked_row >= 0)
      throw std::invalid_argument("attention: mask row " + str(blocked_row) +
                                  " is -inf for every key, so its softmax is undefined; let each query see a key");
    blas_gemm_batched<T>(false, false, B, Lq, hd, Lk, T(1), p, Lq * Lk, v.data<T>(), Lk * hd, T(0), out.data<T>(),
                         Lq * hd);
  });
  return out;
}

void attention_heads_backward(const Tensor& grad, const Tensor& q, const Tensor& k, const Tensor& v,
                              const Tensor& probs, double scale, Tensor* grad_q, Tensor* grad_k, Tensor* grad_v) {
  const int64_t B = q.shape()[0], Lq = q.shape()[1], hd = q.shape()[2], Lk = k.shape()[1];
  dispatch_floating(q.dtype(), "attention_backward", [&]<class T>() {
    const T* p = probs.data<T>();
    const T* dout = grad.data<T>();
    if (grad_v)  // dv = p^T dout
      blas_gemm_batched<T>(true, false, B, Lk, hd, Lq, T(1), p, Lq * Lk, dout, Lq * hd, T(0), grad_v->data<T>(),
                           Lk * hd);
    if (!grad_q && !grad_k) return;
    // ds = p * (dp - rowsum(p * dp)) with dp = dout v^T: the softmax Jacobian.
    Tensor scores_grad = Tensor::empty({B, Lq, Lk}, q.dtype());  // [B, Lq, Lk]
    T* ds = scores_grad.data<T>();
    blas_gemm_batched<T>(false, true, B, Lq, Lk, hd, T(1), dout, Lq * hd, v.data<T>(), Lk * hd, T(0), ds, Lq * Lk);
    const int64_t rows = B * Lq;
#pragma omp parallel for if (rows * Lk > kParallelElements)
    for (int64_t r = 0; r < rows; ++r) {
      T* ds_row = ds + r * Lk;
      const T* p_row = p + r * Lk;
      T dot = 0;
      for (int64_t j = 0; j < Lk; ++j) dot += p_row[j] * ds_row[j];
      for (int64_t j = 0; j < Lk; ++j) ds_row[j] = p_row[j] * (ds_row[j] - dot);
    }
    if (grad_q)  // dq = scale * ds k
      blas_gemm_batched<T>(false, false, B, Lq, hd, Lk, T(scale), ds, Lq * Lk, k.data<T>(), Lk * hd, T(0),
                           grad_q->data<T>(), Lq * hd);
    if (grad_k)  // dk = scale * ds^T q
      blas_gemm_batched<T>(true, false, B, Lk, hd, Lq, T(scale), ds, Lq * Lk, q.data<T>(), Lq * hd, T(0),
                           grad_k->data<T>(), Lk * hd);
  });
}

}  // namespace clipgrad::cpu
