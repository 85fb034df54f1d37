// cuBLASLt's heuristic and matmul on the host (cublasLt.h): D = alpha op(A)
// op(B) + beta C (+ bias[row]) for each matrix of a strided batch,
// column-major, over emulated device memory.
//
// The heuristic checks the problem as cuBLASLt would and returns one
// algorithm, which carries what it promised: its workspace and the
// alignments the preference allowed. cublasLtMatmul holds the call to them:
// a workspace smaller than the algorithm's, or an operand less aligned than
// the algorithm was chosen for, is CUBLAS_STATUS_INVALID_VALUE (a GPU kernel
// chosen for 16-byte vectors would fault or misread); an operand outside
// device memory throws KernelError before anything is computed.
#include <algorithm>
#include <bit>
#include <type_traits>
#include <cstdlib>
#include <optional>
#include <string>

#include "cuda/emulator/vendor/cublaslt_objects.h"
#include "cuda/emulator/vendor/ordered_product.h"
#include "cuda/emulator/counters.h"
#include "cuda/emulator/vendor/library_call.h"

namespace {

using namespace clipgrad::cuda::emulator::detail;
using clipgrad::cuda::emulator::detail::count;
using clipgrad::cuda::emulator::detail::Counted;

// The algorithm, as it travels in cublasLtMatmulAlgo_t::data.
constexpr uint64_t kAlgorithmTag = 0x4c756d6570696c63ull;  // "clipemuL"
constexpr size_t kAlgorithmWorkspace = 4096;
enum AlgoField { kTag, kWorkspace, kAlignA, kAlignB, kAlignC, kAlignD, kAlignBias };
constexpr const char* kOperands[4] = {"A", "B", "C", "D"};

std::string describe(const cublasLtMatrixLayoutOpaque_t& layout) {
  std::string text = std::to_string(layout.rows) + "x" + std::to_string(layout.cols) + ", ld " +
                     std::to_string(layout.ld) + ", " + type_name(layout.type);
  if (layout.batch > 1)
    text =
        "batch of " + std::to_string(layout.batch) + " matrices " + text + ", stride " + std::to_string(layout.stride);
  return text;
}

// The bytes a layout's matrices occupy, counted from the pointer.
Extent extent_of(const cublasLtMatrixLayoutOpaque_t& layout) {
  const int64_t span = (int64_t(layout.cols) - 1) * layout.ld + int64_t(layout.rows);
  const int64_t last_offset = int64_t(layout.batch - 1) * layout.stride;
  const int64_t bytes = int64_t(element_bytes(layout.type));
  return {std::min<int64_t>(0, last_offset) * bytes, (std::max<int64_t>(0, last_offset) + span) * bytes};
}

bool transposed(int32_t operation) { return operation != CUBLAS_OP_N; }  // CUBLAS_OP_C on real data is T

uint32_t alignment_of(const void* pointer) {
  uint32_t alignment = 256;
  while (alignment > 1 && reinterpret_cast<uintptr_t>(pointer) % alignment != 0) alignment /= 2;
  return alignment;
}

// A matmul the emulator computes, checked: `batch` products of m x n outputs, k deep.
struct Problem {
  const cublasLtMatmulDescOpaque_t* desc;
  const cublasLtMatrixLayoutOpaque_t* layouts[4];  // A, B, C, D
  int64_t m, n, k, batch;
  bool f64;
  bool bf16_operands;  // A and B in bf16 (C and D in f32 or bf16)
};

// What cuBLASLt checks before it computes (the heuristic and matmul alike):
// live descriptors, a type combination the emulator computes, dimensions that
// fit, D's matrices apart. Null (and a kept reason) when the problem is refused.
std::optional<Problem> check_problem(const char* function, cublasStatus_t& status, cublasLtMatmulDesc_t desc,
                                     cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c,
                                     cublasLtMatrixLayout_t d) {
  const auto reject = [&](cublasStatus_t code, const std::string& reason) {
    status = lt_status(function, code, reason);
    return std::optional<Problem>();
  };
  if (!is_live_object(desc))
    return reject(CUBLAS_STATUS_INVALID_VALUE, "the matmul descriptor was destroyed or never created");
  const cublasLtMatrixLayoutOpaque_t* layouts[4] = {a, b, c, d};
  for (int i = 0; i < 4; ++i)
    if (!is_live_object(layouts[i]))
      return reject(CUBLAS_STATUS_INVALID_VALUE,
                    std::string("the layout of ") + kOperands[i] + " was destroyed or never created");
  const bool f64 = desc->compute == CUBLAS_COMPUTE_64F || desc->compute == CUBLAS_COMPUTE_64F_PEDANTIC;
  const bool f32 = desc->compute == CUBLAS_COMPUTE_32F || desc->compute == CUBLAS_COMPUTE_32F_PEDANTIC ||
                   desc->compute == CUBLAS_COMPUTE_32F_FAST_TF32;
  if (!f32 && !f64)
    return reject(CUBLAS_STATUS_NOT_SUPPORTED, "compute type " + std::to_string(int(desc->compute)) +
                                                   " is not emulated (32F, 32F_FAST_TF32, 64F are)");
  const cudaDataType type = f64 ? CUDA_R_64F : CUDA_R_32F;
  if (desc->scale != type)
    return reject(CUBLAS_STATUS_NOT_SUPPORTED, std::string("scale type ") + type_name(desc->scale) + " under a " +
                                                   type_name(type) + " compute type is not emulated");
  // One type throughout, or bf16 A and B under 32F with C and D both f32 or both bf16.
  const bool bf16 = !f64 && desc->compute != CUBLAS_COMPUTE_32F_FAST_TF32 && a->type == CUDA_R_16BF;
  const bool out_ok = d->type == c->type && (d->type == CUDA_R_32F || d->type == CUDA_R_16BF);
  if (bf16 && (b->type != CUDA_R_16BF || !out_ok))
    return reject(CUBLAS_STATUS_NOT_SUPPORTED, std::string("A is bf16, B ") + type_name(b->type) + ", C " +
                                                   type_name(c->type) + ", D " + type_name(d->type) +
                                                   ": the emulator computes bf16 A and B into f32 or bf16 C = D");
  for (int i = 0; i < 4; ++i) {
    const cublasLtMatrixLayoutOpaque_t& layout = *layouts[i];
    if (!bf16 && layout.type != type)
      return reject(CUBLAS_STATUS_NOT_SUPPORTED, std::string(kOperands[i]) + " is " + type_name(layout.type) +
                                                     " under a " + type_name(type) +
                                                     " compute type: the emulator computes one type throughout"
                                                     " (or bf16 A and B under 32F)");
    if (layout.order != CUBLASLT_ORDER_COL)
      return reject(CUBLAS_STATUS_NOT_SUPPORTED,
                    std::string(kOperands[i]) + " is not column-major (CUBLASLT_ORDER_COL)");
    if (layout.ld < int64_t(std::max<uint64_t>(1, layout.rows)))
      return reject(CUBLAS_STATUS_INVALID_VALUE,
                    std::string(kOperands[i]) + " (" + describe(layout) + ") has a leading dimension below its rows");
  }
  if (desc->pointer_mode != CUBLASLT_POINTER_MODE_HOST)
    return reject(CUBLAS_STATUS_NOT_SUPPORTED, "alpha and beta in device memory are not emulated");
  if (desc->trans_c != CUBLAS_OP_N) return reject(CUBLAS_STATUS_NOT_SUPPORTED, "CUBLASLT_MATMUL_DESC_TRANSC must be N");
  const bool ta = transposed(desc->trans_a), tb = transposed(desc->trans_b);
  const int64_t m = int64_t(d->rows), n = int64_t(d->cols);
  const int64_t a_rows = int64_t(ta ? a->cols : a->rows), k = int64_t(ta ? a->rows : a->cols);
  const int64_t b_rows = int64_t(tb ? b->cols : b->rows), b_cols = int64_t(tb ? b->rows : b->cols);
  const std::string shapes = "op(A) " + std::to_string(a_rows) + "x" + std::to_string(k) + ", op(B) " +
                             std::to_string(b_rows) + "x" + std::to_string(b_cols) + ", C " + std::to_string(c->rows) +
                             "x" + std::to_string(c->cols) + ", D " + std::to_string(m) + "x" + std::to_string(n);
  if (a_rows != m || b_rows != k || b_cols != n || int64_t(c->rows) != m || int64_t(c->cols) != n)
    return reject(CUBLAS_STATUS_INVALID_VALUE, "the matrices do not fit: " + shapes);
  if (m == 0 || n == 0 || k == 0)
    return reject(CUBLAS_STATUS_INVALID_VALUE, "an empty product (" + shapes + "): handle it before cuBLASLt");
  const int32_t batch = d->batch;
  if (batch < 1 || a->batch != batch || b->batch != batch || c->batch != batch)
    return reject(CUBLAS_STATUS_INVALID_VALUE, "batch counts differ: A " + std::to_string(a->batch) + ", B " +
                                                   std::to_string(b->batch) + ", C " + std::to_string(c->batch) +
                                                   ", D " + std::to_string(batch));
  const int64_t d_span = (n - 1) * d->ld + m;
  if (batch > 1 && std::abs(d->stride) < d_span)
    return reject(CUBLAS_STATUS_INVALID_VALUE,
                  "the matrices of D overlap (" + describe(*d) + "): the batch would write some elements twice");
  return Problem{desc, {a, b, c, d}, m, n, k, batch, f64, bf16};
}

// An f32 operand as a tensor core reads it under CUBLAS_COMPUTE_32F_FAST_TF32:
// 10 mantissa bits, rounded to nearest even (infinities and NaNs kept).
float round_to_tf32(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7f800000u) == 0x7f800000u) return value;
  bits += 0xfffu + ((bits >> 13) & 1u);
  return std::bit_cast<float>(bits & 0xffffe000u);
}

// A bf16 element as the tensor cores read it (exactly, widened), and an f32
// result as cuBLASLt stores it in a bf16 D: rounded to nearest, ties to even,
// NaN kept NaN.
struct Bf16 {
  uint16_t bits;
};
float widen(Bf16 value) { return std::bit_cast<float>(uint32_t(value.bits) << 16); }
template <class T>
T widen(T value) {
  return value;
}
template <class Out, class T>
Out narrow(T value) {
  if constexpr (std::is_same_v<Out, Bf16>) {
    const uint32_t bits = std::bit_cast<uint32_t>(float(value));
    if ((bits & 0x7fffffffu) > 0x7f800000u) return Bf16{uint16_t((bits >> 16) | 0x0040u)};
    return Bf16{uint16_t((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16)};
  } else {
    return value;
  }
}

// D = alpha op(A) op(B) + beta C (+ bias), summed in T; operands of type In, C, D and the bias of type Out.
template <class T, class In = T, class Out = T>
void compute(const Problem& problem, T alpha, T beta, const In* a, const In* b, const Out* c, Out* d, const Out* bias) {
  const cublasLtMatrixLayoutOpaque_t &la = *problem.layouts[0], &lb = *problem.layouts[1];
  const cublasLtMatrixLayoutOpaque_t &lc = *problem.layouts[2], &ld = *problem.layouts[3];
  const bool ta = transposed(problem.desc->trans_a), tb = transposed(problem.desc->trans_b);
  for (int64_t batch = 0; batch < problem.batch; ++batch) {
    const In* a_matrix = a + batch * la.stride;
    const In* b_matrix = b + batch * lb.stride;
    const Out* c_matrix = c + batch * lc.stride;
    Out* d_matrix = d + batch * ld.stride;
    const bool tf32 = std::is_same_v<T, float> && problem.desc->compute == CUBLAS_COMPUTE_32F_FAST_TF32;
    const auto operand = [tf32](In stored) {
      const T value = widen(stored);
      return tf32 ? T(round_to_tf32(float(value))) : value;
    };
    const auto op_a = [&](int64_t i, int64_t p) {
      return operand(ta ? a_matrix[p + i * la.ld] : a_matrix[i + p * la.ld]);
    };
    const auto op_b = [&](int64_t p, int64_t j) {
      return operand(tb ? b_matrix[j + p * lb.ld] : b_matrix[p + j * lb.ld]);
    };
    const auto store = [&](int64_t i, int64_t j, T sum) {
      // beta 0: C is not read (NaNs there stay out); one bias for every matrix of the batch.
      const T prior = beta != T(0) ? widen(c_matrix[i + j * lc.ld]) : T(0);
      const T value = blend(alpha, sum, beta, &prior);
      d_matrix[i + j * ld.ld] = narrow<Out>(bias ? value + widen(bias[i]) : value);
    };
    ordered_product<T>(problem.m, problem.n, problem.k, op_a, op_b, store);
  }
}

// The product in the problem's types: f32 or f64 throughout, or bf16 A and B into f32 or bf16 C = D.
void compute_problem(const Problem& problem, const void* alpha, const void* beta, const void* A, const void* B,
                     const void* C, void* D, const void* bias) {
  if (problem.bf16_operands && problem.layouts[3]->type == CUDA_R_16BF)
    compute<float, Bf16, Bf16>(problem, *static_cast<const float*>(alpha), *static_cast<const float*>(beta),
                               static_cast<const Bf16*>(A), static_cast<const Bf16*>(B), static_cast<const Bf16*>(C),
                               static_cast<Bf16*>(D), static_cast<const Bf16*>(bias));
  else if (problem.bf16_operands)
    compute<float, Bf16, float>(problem, *static_cast<const float*>(alpha), *static_cast<const float*>(beta),
                                static_cast<const Bf16*>(A), static_cast<const Bf16*>(B), static_cast<const float*>(C),
                                static_cast<float*>(D), static_cast<const float*>(bias));
  else if (problem.f64)
    compute<double>(problem, *static_cast<const double*>(alpha), *static_cast<const double*>(beta),
                    static_cast<const double*>(A), static_cast<const double*>(B), static_cast<const double*>(C),
                    static_cast<double*>(D), static_cast<const double*>(bias));
  else
    compute<float>(problem, *static_cast<const float*>(alpha), *static_cast<const float*>(beta),
                   static_cast<const float*>(A), static_cast<const float*>(B), static_cast<const float*>(C),
                   static_cast<float*>(D), static_cast<const float*>(bias));
}

}  // namespace

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t operationDesc,
                                              cublasLtMatrixLayout_t Adesc, cublasLtMatrixLayout_t Bdesc,
                                              cublasLtMatrixLayout_t Cdesc, cublasLtMatrixLayout_t Ddesc,
                                              cublasLtMatmulPreference_t preference, int requestedAlgoCount,
                                              cublasLtMatmulHeuristicResult_t heuristicResultsArray[],
                                              int* returnAlgoCount) {
  constexpr const char* function = "cublasLtMatmulAlgoGetHeuristic";
  if (!is_live_object(lightHandle))
    return lt_status(function, CUBLAS_STATUS_NOT_INITIALIZED, "the handle was destroyed or never created");
  if (!is_live_object(preference))
    return lt_status(function, CUBLAS_STATUS_INVALID_VALUE, "the preference was destroyed or never created");
  if (requestedAlgoCount <= 0 || !heuristicResultsArray || !returnAlgoCount)
    return lt_status(function, CUBLAS_STATUS_INVALID_VALUE,
                     "no room for results (requestedAlgoCount " + std::to_string(requestedAlgoCount) + ")");
  *returnAlgoCount = 0;
  cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
  const std::optional<Problem> problem = check_problem(function, status, operationDesc, Adesc, Bdesc, Cdesc, Ddesc);
  if (!problem) return status;
  // No algorithm (an answer, not an error: logged at level 3 only).
  const auto none = [&](const std::string& reason) {
    return lt_status(function, CUBLAS_STATUS_NOT_SUPPORTED, "no algorithm: " + reason, 3);
  };
  if (operationDesc->epilogue == CUBLASLT_EPILOGUE_BIAS && !clipgrad::cuda::emulator::lt_bias_epilogue())
    return none("the bias epilogue is switched off (emulator::set_lt_bias_epilogue, CLIPGRAD_EMU_LT_BIAS_EPILOGUE)");
  const cublasLtMatrixLayout_t layouts[4] = {Adesc, Bdesc, Cdesc, Ddesc};
  for (int i = 0; i < 4; ++i) {
    const uint32_t element = uint32_t(element_bytes(layouts[i]->type));
    if (preference->alignment[i] < element || preference->alignment[i] % element != 0)
      return none(std::string("operand ") + kOperands[i] + " aligned to " + std::to_string(preference->alignment[i]) +
                  " bytes, below its element's " + std::to_string(element));
  }
  cublasLtMatmulHeuristicResult_t& result = heuristicResultsArray[0];
  result = {};
  result.algo.data[kTag] = kAlgorithmTag;
  result.algo.data[kWorkspace] = std::min<uint64_t>(kAlgorithmWorkspace, preference->max_workspace);
  for (int i = 0; i < 4; ++i) result.algo.data[kAlignA + i] = std::min<uint32_t>(preference->alignment[i], 256);
  // cuBLASLt reads the bias pointer's alignment from its value here (cublasLt.h: "routines that don't
  // dereference this pointer, like cublasLtMatmulAlgoGetHeuristic(), depend on its value"); a bias set
  // only later (null now) promises nothing the emulator can hold the call to.
  if (operationDesc->epilogue == CUBLASLT_EPILOGUE_BIAS && operationDesc->bias)
    result.algo.data[kAlignBias] = alignment_of(operationDesc->bias);
  result.workspaceSize = size_t(result.algo.data[kWorkspace]);
  result.state = CUBLAS_STATUS_SUCCESS;
  result.wavesCount = 1.0f;
  *returnAlgoCount = 1;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t computeDesc, const void* alpha,
                              const void* A, cublasLtMatrixLayout_t Adesc, const void* B, cublasLtMatrixLayout_t Bdesc,
                              const void* beta, const void* C, cublasLtMatrixLayout_t Cdesc, void* D,
                              cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t* algo, void* workspace,
                              size_t workspaceSizeInBytes, cudaStream_t, std::source_location where) {
  constexpr const char* function = "cublasLtMatmul";
  if (!is_live_object(lightHandle))
    return lt_status(function, CUBLAS_STATUS_NOT_INITIALIZED, "the handle was destroyed or never created");
  cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
  const std::optional<Problem> problem = check_problem(function, status, computeDesc, Adesc, Bdesc, Cdesc, Ddesc);
  if (!problem) return status;
  // Null: the heuristic's algorithm for default preferences, which allow no workspace.
  cublasLtMatmulAlgo_t implicit{};
  if (!algo) {
    implicit.data[kTag] = kAlgorithmTag;
    for (int i = 0; i < 4; ++i) implicit.data[kAlignA + i] = 256;
    algo = &implicit;
  }
  if (algo->data[kTag] != kAlgorithmTag)
    return lt_status(function, CUBLAS_STATUS_INVALID_VALUE, "the algorithm did not come from the heuristic");
  const size_t needed = size_t(algo->data[kWorkspace]);
  if (workspaceSizeInBytes < needed)
    return lt_status(function, CUBLAS_STATUS_INVALID_VALUE,
                     "a workspace of " + std::to_string(workspaceSizeInBytes) + " bytes; the algorithm needs " +
                         std::to_string(needed));
  const void* pointers[4] = {A, B, C, D};
  for (int i = 0; i < 4; ++i) {
    const uint32_t promised = uint32_t(algo->data[kAlignA + i]);
    if (pointers[i] && alignment_of(pointers[i]) < promised)
      return lt_status(function, CUBLAS_STATUS_INVALID_VALUE,
                       std::string(kOperands[i]) + " at " + address(pointers[i]) + " is aligned to " +
                           std::to_string(alignment_of(pointers[i])) + " bytes; the algorithm was chosen for " +
                           std::to_string(promised) + " (CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_" + kOperands[i] +
                           "_BYTES)");
  }
  const bool bias = computeDesc->epilogue == CUBLASLT_EPILOGUE_BIAS;
  const int64_t element = int64_t(element_bytes(Ddesc->type));
  if (bias && !computeDesc->bias)
    return lt_status(function, CUBLAS_STATUS_INVALID_VALUE, "CUBLASLT_EPILOGUE_BIAS without a bias pointer");
  if (bias && alignment_of(computeDesc->bias) < std::max<uint64_t>(element, algo->data[kAlignBias]))
    return lt_status(function, CUBLAS_STATUS_INVALID_VALUE,
                     "the bias at " + address(computeDesc->bias) + " is aligned to " +
                         std::to_string(alignment_of(computeDesc->bias)) + " bytes; its elements need " +
                         std::to_string(element) + ", and the algorithm was chosen for a bias aligned to " +
                         std::to_string(algo->data[kAlignBias]));
  if (C == D && (Cdesc->ld != Ddesc->ld || Cdesc->stride != Ddesc->stride))
    return lt_status(function, CUBLAS_STATUS_INVALID_VALUE,
                     "in place (C == D) with different layouts: C " + describe(*Cdesc) + ", D " + describe(*Ddesc));

  // Faults, as a GPU would meet them: every operand wholly in device memory.
  const LibraryCall call{Library::CublasLt, function, where};
  count(Counted::LibraryCall);
  check_host_scalar(call, "alpha", 2, alpha);
  check_host_scalar(call, "beta", 7, beta);
  const int arguments[4] = {3, 5, 8, 10};
  const double beta_read = problem->f64 ? *static_cast<const double*>(beta) : *static_cast<const float*>(beta);
  for (int i = 0; i < 4; ++i) {
    if (i == 2 && beta_read == 0.0) continue;  // C is not read
    check_operand(call, kOperands[i], arguments[i], pointers[i], extent_of(*problem->layouts[i]),
                  describe(*problem->layouts[i]));
  }
  if (bias)
    check_operand(call, "the bias (CUBLASLT_MATMUL_DESC_BIAS_POINTER)", 1, computeDesc->bias, {0, problem->m * element},
                  "vector of " + std::to_string(problem->m) + " " + type_name(Ddesc->type));
  check_operand(call, "workspace", 13, workspace, {0, int64_t(workspaceSizeInBytes)},
                std::to_string(workspaceSizeInBytes) + " bytes");

  use_workspace(workspace, needed);
  compute_problem(*problem, alpha, beta, A, B, C, D, bias ? computeDesc->bias : nullptr);
  return CUBLAS_STATUS_SUCCESS;
}
