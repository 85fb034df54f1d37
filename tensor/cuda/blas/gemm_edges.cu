// The edges of GEMM that cuBLASLt does not cover: an empty inner dimension
// (c = beta * c) and the bias rows under a product that has no bias epilogue.
#include "tensor/cuda/blas/gemm_edges.h"
#include "tensor/cuda/device_tensor.h"

namespace clipgrad::cuda {

namespace {

// ---- kernels ----

// c: `batch` matrices [m, n], stride_c apart; one thread per element of one matrix, blockIdx.y the matrix.
template <class T>
__global__ void scale_matrices_kernel(T* c, int64_t elements, int64_t stride_c, T beta) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= elements) return;
  T* matrix = c + int64_t(blockIdx.y) * stride_c;
  matrix[i] = beta == T(0) ? T(0) : matrix[i] * beta;  // beta 0 overwrites, as BLAS does (NaNs included)
}

// c [m, n], bias [n]: one thread per element.
template <class T>
__global__ void fill_rows_kernel(T* c, const T* bias, int64_t m, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < m * n) c[i] = bias[i % n];
}

// ---- launchers ----

unsigned blocks_for(int64_t elements) { return unsigned((elements + kThreads - 1) / kThreads); }

}  // namespace

// ---- launchers ----

void scale_matrices(Tensor& c, int64_t batch, int64_t m, int64_t n, int64_t stride_c, double beta) {
  if (batch > 65535) throw std::invalid_argument("gemm: a batch past 65535 with k = 0 is not supported on CUDA");
  const dim3 grid(blocks_for(m * n), unsigned(batch));
  dispatch_floating(c.dtype(), "gemm", [&]<class T>() {
    launch("scale_matrices_kernel", scale_matrices_kernel<T>, {grid, kThreads}, device_data<T>(c), m * n, stride_c,
           T(beta));
  });
}

void fill_rows_with_bias(Tensor& c, const Tensor& bias, int64_t m, int64_t n) {
  dispatch_floating(c.dtype(), "gemm_bias", [&]<class T>() {
    launch("fill_rows_kernel", fill_rows_kernel<T>, {blocks_for(m * n), kThreads}, device_data<T>(c),
           device_data<T>(bias), m, n);
  });
}

}  // namespace clipgrad::cuda
