// Inside the cuDNN stand-in (cudnn.h): what its handle and descriptors hold,
// and the status helper. Shared by cudnn_descriptors.cpp and
// cudnn_convolution.cpp.
#pragma once

#include <string>

#include "cuda/emulator/vendor/cudnn.h"

struct cudnnContext {
  cudaStream_t stream = nullptr;  // kept and returned; every call runs when made
};

struct cudnnTensorStruct {
  bool set = false;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int n = 0, c = 0, h = 0, w = 0;  // packed NCHW
};

struct cudnnFilterStruct {
  bool set = false;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int k = 0, c = 0, h = 0, w = 0;  // packed KCRS
};

struct cudnnConvolutionStruct {
  bool set = false;
  int pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

namespace clipgrad::cuda::emulator::detail {

// Keeps the reason (library_call.h) and returns status.
cudnnStatus_t dnn_status(const char* function, cudnnStatus_t status, const std::string& reason);

inline size_t element_bytes(cudnnDataType_t type) { return type == CUDNN_DATA_DOUBLE ? 8 : 4; }
inline const char* type_name(cudnnDataType_t type) { return type == CUDNN_DATA_DOUBLE ? "f64" : "f32"; }

}  // namespace clipgrad::cuda::emulator::detail
