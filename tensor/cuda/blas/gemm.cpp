// The CUDA kernels of the gemm family (tensor/ops/linalg.h), the twin of
// tensor/cpu/gemm.cpp, on cuBLASLt. cuBLASLt is column-major and our tensors are row-major: a
// row-major [m, n] matrix is the column-major [n, m] matrix of its transpose,
// so c = op(a) op(b) is computed as c^T = op(b)^T op(a)^T, with b as
// cuBLASLt's first operand and a as its second and no data moved.
//
// A plan (descriptors, layouts and the heuristic's algorithm) is built once per
// shape, transposes, strides, dtype, TF32 setting, epilogue and operand
// alignment, and reused: the heuristic costs far more than the product of a
// small matrix.
//
// bf16 operands run on the tensor cores under CUBLAS_COMPUTE_32F (products
// summed in f32) with c, and the bias, in f32 or bf16 (cuBLASLt rounds D once).

#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>

#include "cuda/check.h"
#include "tensor/precision.h"
#include "cuda/stream.h"
#include "tensor/cuda/blas/gemm_edges.h"
#include "cuda/device.h"
#include "tensor/cuda/blas/library_handles.h"
#include "tensor/cuda/kernels.h"

namespace clipgrad::cuda {

namespace {

// The largest power of two (up to 256) dividing the address: cuBLASLt picks
// vectorised kernels only for operands aligned as the preference says.
uint32_t alignment_of(const void* pointer) {
  uint32_t alignment = 256;
  while (alignment > 2 && reinterpret_cast<uintptr_t>(pointer) % alignment != 0) alignment /= 2;
  return alignment;
}

cudaDataType_t data_type(DType dtype) {
  switch (dtype) {
    case DType::F64: return CUDA_R_64F;
    case DType::BF16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
}

struct PlanKey {
  bool trans_a, trans_b;
  int64_t batch, m, n, k, stride_a, stride_b, stride_c;
  DType dtype, c_dtype;  // a's and b's; c's (and the bias's)
  bool tf32, bias, beta_zero;
  uint32_t align_a, align_b, align_c, align_bias;  // align_bias 0 without the bias epilogue
  int device;
  auto tie() const {
    return std::tie(trans_a, trans_b, batch, m, n, k, stride_a, stride_b, stride_c, dtype, c_dtype, tf32, bias,
                    beta_zero, align_a, align_b, align_c, align_bias, device);
  }
  bool operator<(const PlanKey& other) const { return tie() < other.tie(); }
};

cublasLtMatrixLayout_t make_layout(cudaDataType_t type, uint64_t rows, uint64_t cols, int64_t ld, int64_t batch,
                                   int64_t stride) {
  cublasLtMatrixLayout_t layout = nullptr;
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&layout, type, rows, cols, ld));
  if (batch > 1) {
    const int32_t count = static_cast<int32_t>(batch);
    CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
    CUBLAS_CHECK(
        cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
  }
  return layout;
}

struct Plan {
  cublasLtMatmulDesc_t operation = nullptr;
  cublasLtMatrixLayout_t first = nullptr, second = nullptr, out = nullptr;  // b, a, c in cuBLASLt's order
  cublasLtMatmulAlgo_t algorithm{};
  bool found = false;  // false: the heuristic had no algorithm (only possible with the bias epilogue)
  ~Plan() {
    if (out) cublasLtMatrixLayoutDestroy(out);
    if (second) cublasLtMatrixLayoutDestroy(second);
    if (first) cublasLtMatrixLayoutDestroy(first);
    if (operation) cublasLtMatmulDescDestroy(operation);
  }
};

// bias: the epilogue's bias (null without it). cuBLASLt's heuristic reads the
// bias pointer's value for the alignment it may assume (cublasLt.h), so it is
// set before the heuristic runs, and its alignment is part of the plan's key.
std::unique_ptr<Plan> make_plan(const PlanKey& key, const void* bias) {
  auto plan = std::make_unique<Plan>();
  const bool f64 = key.dtype == DType::F64;
  const cudaDataType_t type = data_type(key.dtype), out_type = data_type(key.c_dtype);
  const cublasComputeType_t compute = f64        ? CUBLAS_COMPUTE_64F
                                      : key.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                 : CUBLAS_COMPUTE_32F;
  CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->operation, compute, f64 ? CUDA_R_64F : CUDA_R_32F));
  const cublasOperation_t op_first = key.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_second = key.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(plan->operation, CUBLASLT_MATMUL_DESC_TRANSA, &op_first, sizeof(op_first)));
  CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(plan->operation, CUBLASLT_MATMUL_DESC_TRANSB, &op_second, sizeof(op_second)));
  if (key.bias) {
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(plan->operation, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
    CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(plan->operation, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  }
  // Stored column-major: b is [n, k] (or [k, n] when trans_b), a is [k, m] (or [m, k]), c is [n, m].
  plan->first = key.trans_b ? make_layout(type, key.k, key.n, key.k, key.batch, key.stride_b)
                            : make_layout(type, key.n, key.k, key.n, key.batch, key.stride_b);
  plan->second = key.trans_a ? make_layout(type, key.m, key.k, key.m, key.batch, key.stride_a)
                             : make_layout(type, key.k, key.m, key.k, key.batch, key.stride_a);
  plan->out = make_layout(out_type, key.n, key.m, key.n, key.batch, key.stride_c);

  cublasLtMatmulPreference_t preference = nullptr;
  CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
  const size_t workspace_bytes = lt_workspace().bytes;
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                    &workspace_bytes, sizeof(workspace_bytes)));
  // cuBLASLt's A is our b and its B our a.
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                    &key.align_b, sizeof(key.align_b)));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                    &key.align_a, sizeof(key.align_a)));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                    &key.align_c, sizeof(key.align_c)));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                    &key.align_c, sizeof(key.align_c)));
  cublasLtMatmulHeuristicResult_t result{};
  int returned = 0;
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(lt_handle(), plan->operation, plan->first, plan->second,
                                                               plan->out, plan->out, preference, 1, &result, &returned);
  cublasLtMatmulPreferenceDestroy(preference);
  if (status != CUBLAS_STATUS_SUCCESS && status != CUBLAS_STATUS_NOT_SUPPORTED) CUBLAS_CHECK(status);
  plan->found = status == CUBLAS_STATUS_SUCCESS && returned > 0;
  if (plan->found) plan->algorithm = result.algo;
  if (!plan->found && !key.bias)
    throw std::runtime_error("gemm: cuBLASLt has no algorithm for [" + std::to_string(key.m) + "x" +
                             std::to_string(key.k) + "] @ [" + std::to_string(key.k) + "x" + std::to_string(key.n) +
                             "] x " + std::to_string(key.batch) + " in " + dtype_name(key.dtype) + " to " +
                             dtype_name(key.c_dtype));
  return plan;
}

std::mutex g_plans_mutex;
// Never destroyed: descriptors freed by a static destructor could outlive the CUDA context.
auto& g_plans = *new std::map<PlanKey, std::unique_ptr<Plan>>;

// Runs one product through its plan; false when the plan has no algorithm (bias epilogue only).
bool run_matmul(const ops::GemmArgs& g, const Tensor& a, const Tensor& b, const Tensor* bias, Tensor& c) {
  const PlanKey key{g.trans_a,
                    g.trans_b,
                    g.batch,
                    g.m,
                    g.n,
                    g.k,
                    g.stride_a,
                    g.stride_b,
                    g.stride_c,
                    a.dtype(),
                    c.dtype(),
                    a.dtype() == DType::F32 && tf32_enabled(),
                    bias != nullptr,
                    g.beta == 0.0,
                    alignment_of(a.raw_data()),
                    alignment_of(b.raw_data()),
                    alignment_of(c.raw_data()),
                    bias ? alignment_of(bias->raw_data()) : 0u,
                    current_device()};
  std::lock_guard<std::mutex> lock(g_plans_mutex);
  std::unique_ptr<Plan>& plan = g_plans[key];
  if (!plan) plan = make_plan(key, bias ? bias->raw_data() : nullptr);
  if (!plan->found) return false;
  if (bias) {
    const void* bias_pointer = bias->raw_data();
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->operation, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_pointer,
                                                sizeof(bias_pointer)));
  }
  const Workspace workspace = lt_workspace();
  const float alpha32 = float(g.alpha), beta32 = float(g.beta);
  const bool f64 = a.dtype() == DType::F64;
  const void* alpha = f64 ? static_cast<const void*>(&g.alpha) : &alpha32;
  const void* beta = f64 ? static_cast<const void*>(&g.beta) : &beta32;
  CUBLAS_CHECK(cublasLtMatmul(lt_handle(), plan->operation, alpha, b.raw_data(), plan->first, a.raw_data(),
                              plan->second, beta, c.raw_data(), plan->out, c.raw_data(), plan->out, &plan->algorithm,
                              workspace.data, workspace.bytes, cuda::compute_stream()));
  return true;
}

}  // namespace

namespace {

// The edge cases below work on an f32 or f64 c; a bf16 c is widened for them
// and rounded back once (as cuBLASLt would round D).
template <class Body>
void on_wide_c(Tensor& c, Body&& body) {
  if (c.dtype() != DType::BF16) return body(c);
  Tensor wide = cuda::convert(c, DType::F32);
  body(wide);
  c.copy_from(cuda::convert(wide, DType::BF16));
}

}  // namespace

void gemm(const ops::GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c) {
  if (g.m == 0 || g.n == 0) return;
  // An empty inner dimension leaves beta * c, which cuBLASLt does not accept as a product.
  if (g.k == 0) return on_wide_c(c, [&](Tensor& out) { scale_matrices(out, g.batch, g.m, g.n, g.stride_c, g.beta); });
  run_matmul(g, a, b, nullptr, c);
}

void gemm_bias(const ops::GemmArgs& g, const Tensor& a, const Tensor& b, const Tensor& bias, Tensor& c) {
  if (g.m == 0 || g.n == 0) return;
  ops::GemmArgs product = g;
  product.beta = 0.0;
  if (g.k > 0 && run_matmul(product, a, b, &bias, c)) return;
  // No bias epilogue for this case (f64, k = 0): rows of bias, then the product accumulated onto them.
  on_wide_c(c, [&](Tensor& out) {
    fill_rows_with_bias(out, cuda::convert(bias, out.dtype()), g.m, g.n);
    product.beta = 1.0;
    cuda::gemm(product, a, b, out);
  });
}

}  // namespace clipgrad::cuda
