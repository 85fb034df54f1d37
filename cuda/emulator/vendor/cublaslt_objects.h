// Inside the cuBLASLt stand-in (cublasLt.h): what its handles and descriptors
// hold, and the status helper. Shared by cublaslt_descriptors.cpp and cublaslt_matmul.cpp.
#pragma once

#include <cstdint>
#include <string>

#include "cuda/emulator/vendor/cublasLt.h"

struct cublasLtContext {};

struct cublasLtMatrixLayoutOpaque_t {
  cudaDataType type = CUDA_R_32F;
  int32_t order = CUBLASLT_ORDER_COL;
  uint64_t rows = 0, cols = 0;
  int64_t ld = 0;
  int32_t batch = 1;
  int64_t stride = 0;  // elements from one matrix of the batch to the next
};

struct cublasLtMatmulDescOpaque_t {
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  cudaDataType scale = CUDA_R_32F;
  int32_t pointer_mode = CUBLASLT_POINTER_MODE_HOST;
  int32_t trans_a = CUBLAS_OP_N, trans_b = CUBLAS_OP_N, trans_c = CUBLAS_OP_N;
  uint32_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;
};

struct cublasLtMatmulPreferenceOpaque_t {
  uint32_t search = CUBLASLT_SEARCH_BEST_FIT;
  uint64_t max_workspace = 0;
  uint32_t alignment[4] = {256, 256, 256, 256};  // A, B, C, D: cuBLASLt's defaults
};

namespace clipgrad::cuda::emulator::detail {

// Keeps the reason (library_call.h) and returns status.
cublasStatus_t lt_status(const char* function, cublasStatus_t status, const std::string& reason, int level = 1);

inline size_t element_bytes(cudaDataType type) { return type == CUDA_R_64F ? 8 : type == CUDA_R_16BF ? 2 : 4; }
const char* type_name(cudaDataType type);

}  // namespace clipgrad::cuda::emulator::detail
