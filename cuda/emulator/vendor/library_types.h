// The emulator's stand-in for NVIDIA's <library_types.h>: the data types that
// cuBLASLt and cuDNN descriptors name, with NVIDIA's numeric values (so a value
// logged or stored in a plan reads the same as on a GPU). Only the real types
// clipgrad's stand-ins compute in are listed; cublasLt.h and cudnn.h refuse
// the others (CUBLAS_STATUS_NOT_SUPPORTED, CUDNN_STATUS_NOT_SUPPORTED).
#pragma once

typedef enum cudaDataType_t {
  CUDA_R_32F = 0,
  CUDA_R_64F = 1,
  CUDA_R_16F = 2,
  CUDA_R_16BF = 14,
} cudaDataType;
