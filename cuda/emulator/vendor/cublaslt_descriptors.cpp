// cuBLASLt's handle, status strings, and the three descriptors with their
// attributes (cublasLt.h). Each attribute's buffer must have the size
// NVIDIA documents for it (CUBLAS_STATUS_INVALID_VALUE otherwise); values the
// emulator does not compute are refused here (CUBLAS_STATUS_NOT_SUPPORTED)
// or by the heuristic.
#include <cstring>

#include "cuda/emulator/vendor/cublaslt_objects.h"
#include "cuda/emulator/vendor/library_call.h"

namespace clipgrad::cuda::emulator::detail {

cublasStatus_t lt_status(const char* function, cublasStatus_t status, const std::string& reason, int level) {
  note_library_status(Library::CublasLt, function, cublasLtGetStatusName(status), reason, level);
  return status;
}

const char* type_name(cudaDataType type) {
  switch (type) {
    case CUDA_R_32F: return "f32";
    case CUDA_R_64F: return "f64";
    case CUDA_R_16F: return "f16";
    case CUDA_R_16BF: return "bf16";
  }
  return "an unknown type";
}

}  // namespace clipgrad::cuda::emulator::detail

namespace {

using namespace clipgrad::cuda::emulator::detail;

template <class T>
cublasStatus_t create(const char* function, T** out) {
  if (!out) return lt_status(function, CUBLAS_STATUS_INVALID_VALUE, "a null pointer for the new object");
  *out = new T{};
  remember_object(*out);
  return CUBLAS_STATUS_SUCCESS;
}

template <class T>
cublasStatus_t destroy(const char* function, T* object) {
  if (!object) return CUBLAS_STATUS_SUCCESS;
  if (!forget_object(object))
    return lt_status(function, CUBLAS_STATUS_INVALID_VALUE, "destroyed twice, or never created");
  delete object;
  return CUBLAS_STATUS_SUCCESS;
}

// One attribute's value, copied once its buffer has the documented size.
class AttributeValue {
 public:
  AttributeValue(const char* function, const void* buf, size_t size) : function_(function), buf_(buf), size_(size) {}
  template <class V>
  cublasStatus_t into(V& value) const {
    if (!buf_ || size_ != sizeof(V))
      return lt_status(function_, CUBLAS_STATUS_INVALID_VALUE,
                       (buf_ ? "a buffer of " + std::to_string(size_) + " bytes" : std::string("a null buffer")) +
                           " for an attribute of " + std::to_string(sizeof(V)) + " bytes");
    std::memcpy(&value, buf_, sizeof(V));
    return CUBLAS_STATUS_SUCCESS;
  }

 private:
  const char* function_;
  const void* buf_;
  size_t size_;
};

cublasStatus_t not_emulated(const char* function, const char* what, int value) {
  return lt_status(
      function, CUBLAS_STATUS_NOT_SUPPORTED,
      std::string(what) + " " + std::to_string(value) + " is not emulated (cuda/emulator/vendor/cublasLt.h)");
}

}  // namespace

const char* cublasLtGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "<unrecognized cuBLAS status>";
}

const char* cublasLtGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "the operation completed successfully";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "an absent device architectural feature is required";
    case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    case CUBLAS_STATUS_LICENSE_ERROR: return "the functionality requested requires some license";
  }
  return "<unrecognized cuBLAS status>";
}

cublasStatus_t cublasLtCreate(cublasLtHandle_t* lightHandle) { return create("cublasLtCreate", lightHandle); }

cublasStatus_t cublasLtDestroy(cublasLtHandle_t lightHandle) {
  if (!lightHandle) return lt_status("cublasLtDestroy", CUBLAS_STATUS_NOT_INITIALIZED, "a null handle");
  return destroy("cublasLtDestroy", lightHandle);
}

// ---- matrix layouts ----

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* matLayout, cudaDataType type, uint64_t rows,
                                          uint64_t cols, int64_t ld) {
  const cublasStatus_t status = create("cublasLtMatrixLayoutCreate", matLayout);
  if (status != CUBLAS_STATUS_SUCCESS) return status;
  (*matLayout)->type = type;
  (*matLayout)->rows = rows;
  (*matLayout)->cols = cols;
  (*matLayout)->ld = ld;
  return status;
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t matLayout) {
  return destroy("cublasLtMatrixLayoutDestroy", matLayout);
}

cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t matLayout, cublasLtMatrixLayoutAttribute_t attr,
                                                const void* buf, size_t sizeInBytes) {
  constexpr const char* function = "cublasLtMatrixLayoutSetAttribute";
  if (!is_live_object(matLayout))
    return lt_status(function, CUBLAS_STATUS_INVALID_VALUE, "the layout was destroyed or never created");
  cublasLtMatrixLayoutOpaque_t& layout = *matLayout;
  const AttributeValue value(function, buf, sizeInBytes);
  switch (attr) {
    case CUBLASLT_MATRIX_LAYOUT_TYPE: {
      uint32_t type = 0;
      const cublasStatus_t status = value.into(type);
      if (status == CUBLAS_STATUS_SUCCESS) layout.type = cudaDataType(type);
      return status;
    }
    case CUBLASLT_MATRIX_LAYOUT_ORDER: return value.into(layout.order);
    case CUBLASLT_MATRIX_LAYOUT_ROWS: return value.into(layout.rows);
    case CUBLASLT_MATRIX_LAYOUT_COLS: return value.into(layout.cols);
    case CUBLASLT_MATRIX_LAYOUT_LD: return value.into(layout.ld);
    case CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT: return value.into(layout.batch);
    case CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET: return value.into(layout.stride);
  }
  return not_emulated(function, "layout attribute", int(attr));
}

// ---- matmul descriptors ----

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* matmulDesc, cublasComputeType_t computeType,
                                        cudaDataType_t scaleType) {
  const cublasStatus_t status = create("cublasLtMatmulDescCreate", matmulDesc);
  if (status != CUBLAS_STATUS_SUCCESS) return status;
  (*matmulDesc)->compute = computeType;
  (*matmulDesc)->scale = scaleType;
  return status;
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t matmulDesc) {
  return destroy("cublasLtMatmulDescDestroy", matmulDesc);
}

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t matmulDesc, cublasLtMatmulDescAttributes_t attr,
                                              const void* buf, size_t sizeInBytes) {
  constexpr const char* function = "cublasLtMatmulDescSetAttribute";
  if (!is_live_object(matmulDesc))
    return lt_status(function, CUBLAS_STATUS_INVALID_VALUE, "the matmul descriptor was destroyed or never created");
  cublasLtMatmulDescOpaque_t& desc = *matmulDesc;
  const AttributeValue value(function, buf, sizeInBytes);
  int32_t number = 0;
  switch (attr) {
    case CUBLASLT_MATMUL_DESC_COMPUTE_TYPE: {
      const cublasStatus_t status = value.into(number);
      if (status == CUBLAS_STATUS_SUCCESS) desc.compute = cublasComputeType_t(number);
      return status;
    }
    case CUBLASLT_MATMUL_DESC_SCALE_TYPE: {
      const cublasStatus_t status = value.into(number);
      if (status == CUBLAS_STATUS_SUCCESS) desc.scale = cudaDataType(number);
      return status;
    }
    case CUBLASLT_MATMUL_DESC_POINTER_MODE: return value.into(desc.pointer_mode);
    case CUBLASLT_MATMUL_DESC_TRANSA:
    case CUBLASLT_MATMUL_DESC_TRANSB:
    case CUBLASLT_MATMUL_DESC_TRANSC: {
      const cublasStatus_t status = value.into(number);
      if (status != CUBLAS_STATUS_SUCCESS) return status;
      if (number < CUBLAS_OP_N || number > CUBLAS_OP_C)
        return lt_status(function, CUBLAS_STATUS_INVALID_VALUE,
                         "operation " + std::to_string(number) + " is not a cublasOperation_t");
      (attr == CUBLASLT_MATMUL_DESC_TRANSA   ? desc.trans_a
       : attr == CUBLASLT_MATMUL_DESC_TRANSB ? desc.trans_b
                                             : desc.trans_c) = number;
      return status;
    }
    case CUBLASLT_MATMUL_DESC_EPILOGUE: {
      uint32_t epilogue = 0;
      const cublasStatus_t status = value.into(epilogue);
      if (status != CUBLAS_STATUS_SUCCESS) return status;
      if (epilogue != CUBLASLT_EPILOGUE_DEFAULT && epilogue != CUBLASLT_EPILOGUE_BIAS)
        return not_emulated(function, "epilogue", int(epilogue));
      desc.epilogue = epilogue;
      return status;
    }
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER: return value.into(desc.bias);
  }
  return not_emulated(function, "matmul descriptor attribute", int(attr));
}

// ---- heuristic preferences ----

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
  return create("cublasLtMatmulPreferenceCreate", pref);
}

cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
  return destroy("cublasLtMatmulPreferenceDestroy", pref);
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                    cublasLtMatmulPreferenceAttributes_t attr, const void* buf,
                                                    size_t sizeInBytes) {
  constexpr const char* function = "cublasLtMatmulPreferenceSetAttribute";
  if (!is_live_object(pref))
    return lt_status(function, CUBLAS_STATUS_INVALID_VALUE, "the preference was destroyed or never created");
  cublasLtMatmulPreferenceOpaque_t& preference = *pref;
  const AttributeValue value(function, buf, sizeInBytes);
  switch (attr) {
    case CUBLASLT_MATMUL_PREF_SEARCH_MODE: {
      uint32_t search = 0;
      const cublasStatus_t status = value.into(search);
      if (status != CUBLAS_STATUS_SUCCESS) return status;
      if (search != CUBLASLT_SEARCH_BEST_FIT) return not_emulated(function, "search mode", int(search));
      return status;
    }
    case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES: return value.into(preference.max_workspace);
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES:
      return value.into(preference.alignment[attr - CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES]);
  }
  return not_emulated(function, "preference attribute", int(attr));
}
