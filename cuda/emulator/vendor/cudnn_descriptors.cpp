// cuDNN's handle, error strings and descriptors (cudnn.h). A Set checks what
// cuDNN documents (positive sizes, known enumerants: CUDNN_STATUS_BAD_PARAM);
// formats and types the emulator does not compute are refused here
// (CUDNN_STATUS_NOT_SUPPORTED), and so are, when a convolution is run, a
// dilation other than 1 and CUDNN_CONVOLUTION.
#include "cuda/emulator/vendor/cudnn_objects.h"
#include "cuda/emulator/vendor/library_call.h"

namespace clipgrad::cuda::emulator::detail {

cudnnStatus_t dnn_status(const char* function, cudnnStatus_t status, const std::string& reason) {
  note_library_status(Library::Cudnn, function, cudnnGetErrorString(status), reason);
  return status;
}

}  // namespace clipgrad::cuda::emulator::detail

namespace {

using namespace clipgrad::cuda::emulator::detail;

template <class T>
cudnnStatus_t create(const char* function, T** out) {
  if (!out) return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "a null pointer for the new object");
  *out = new T{};
  remember_object(*out);
  return CUDNN_STATUS_SUCCESS;
}

template <class T>
cudnnStatus_t destroy(const char* function, T* object) {
  if (!object) return CUDNN_STATUS_SUCCESS;
  if (!forget_object(object)) return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "destroyed twice, or never created");
  delete object;
  return CUDNN_STATUS_SUCCESS;
}

// The data types and the layout the emulator computes in; a status otherwise.
cudnnStatus_t check_data(const char* function, cudnnTensorFormat_t format, cudnnDataType_t type) {
  if (format != CUDNN_TENSOR_NCHW && format != CUDNN_TENSOR_NHWC)
    return dnn_status(function, CUDNN_STATUS_BAD_PARAM,
                      "format " + std::to_string(int(format)) + " is not a cudnnTensorFormat_t");
  if (format != CUDNN_TENSOR_NCHW) return dnn_status(function, CUDNN_STATUS_NOT_SUPPORTED, "only NCHW is emulated");
  if (type != CUDNN_DATA_FLOAT && type != CUDNN_DATA_DOUBLE)
    return dnn_status(function, CUDNN_STATUS_NOT_SUPPORTED,
                      "data type " + std::to_string(int(type)) + " is not emulated (FLOAT and DOUBLE are)");
  return CUDNN_STATUS_SUCCESS;
}

std::string dims(int a, int b, int c, int d) {
  std::string text = "[";
  for (int size : {a, b, c, d}) text += std::to_string(size) + ",";
  text.back() = ']';
  return text;
}

}  // namespace

const char* cudnnGetErrorString(cudnnStatus_t status) {
  switch (status) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_BAD_PARAM_NULL_POINTER: return "CUDNN_STATUS_BAD_PARAM_NULL_POINTER";
    case CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER: return "CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER";
    case CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH: return "CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_INTERNAL_ERROR: return "CUDNN_STATUS_INTERNAL_ERROR";
    case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
  }
  return "CUDNN_UNKNOWN_STATUS_FOUND";
}

cudnnStatus_t cudnnCreate(cudnnHandle_t* handle) { return create("cudnnCreate", handle); }
cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) { return destroy("cudnnDestroy", handle); }

cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t streamId) {
  if (!is_live_object(handle))
    return dnn_status("cudnnSetStream", CUDNN_STATUS_BAD_PARAM, "the handle was destroyed or never created");
  handle->stream = streamId;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetStream(cudnnHandle_t handle, cudaStream_t* streamId) {
  if (!is_live_object(handle) || !streamId)
    return dnn_status("cudnnGetStream", CUDNN_STATUS_BAD_PARAM, "a dead handle or a null result pointer");
  *streamId = handle->stream;
  return CUDNN_STATUS_SUCCESS;
}

// ---- tensors ----

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* tensorDesc) {
  return create("cudnnCreateTensorDescriptor", tensorDesc);
}

cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t tensorDesc, cudnnTensorFormat_t format,
                                         cudnnDataType_t dataType, int n, int c, int h, int w) {
  constexpr const char* function = "cudnnSetTensor4dDescriptor";
  if (!is_live_object(tensorDesc))
    return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "the descriptor was destroyed or never created");
  if (n < 1 || c < 1 || h < 1 || w < 1)
    return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "dimensions " + dims(n, c, h, w) + ": each must be at least 1");
  const cudnnStatus_t status = check_data(function, format, dataType);
  if (status != CUDNN_STATUS_SUCCESS) return status;
  *tensorDesc = {true, dataType, n, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t tensorDesc) {
  return destroy("cudnnDestroyTensorDescriptor", tensorDesc);
}

// ---- filters ----

cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* filterDesc) {
  return create("cudnnCreateFilterDescriptor", filterDesc);
}

cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t filterDesc, cudnnDataType_t dataType,
                                         cudnnTensorFormat_t format, int k, int c, int h, int w) {
  constexpr const char* function = "cudnnSetFilter4dDescriptor";
  if (!is_live_object(filterDesc))
    return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "the descriptor was destroyed or never created");
  if (k < 1 || c < 1 || h < 1 || w < 1)
    return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "dimensions " + dims(k, c, h, w) + ": each must be at least 1");
  const cudnnStatus_t status = check_data(function, format, dataType);
  if (status != CUDNN_STATUS_SUCCESS) return status;
  *filterDesc = {true, dataType, k, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t filterDesc) {
  return destroy("cudnnDestroyFilterDescriptor", filterDesc);
}

// ---- convolutions ----

cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* convDesc) {
  return create("cudnnCreateConvolutionDescriptor", convDesc);
}

cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t convDesc, int pad_h, int pad_w, int u, int v,
                                              int dilation_h, int dilation_w, cudnnConvolutionMode_t mode,
                                              cudnnDataType_t computeType) {
  constexpr const char* function = "cudnnSetConvolution2dDescriptor";
  if (!is_live_object(convDesc))
    return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "the descriptor was destroyed or never created");
  if (pad_h < 0 || pad_w < 0 || u < 1 || v < 1 || dilation_h < 1 || dilation_w < 1)
    return dnn_status(function, CUDNN_STATUS_BAD_PARAM,
                      "padding " + std::to_string(pad_h) + "x" + std::to_string(pad_w) + ", stride " +
                          std::to_string(u) + "x" + std::to_string(v) + ", dilation " + std::to_string(dilation_h) +
                          "x" + std::to_string(dilation_w) + ": padding must be at least 0, the others at least 1");
  if (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION)
    return dnn_status(function, CUDNN_STATUS_BAD_PARAM,
                      "mode " + std::to_string(int(mode)) + " is not a cudnnConvolutionMode_t");
  if (computeType != CUDNN_DATA_FLOAT && computeType != CUDNN_DATA_DOUBLE)
    return dnn_status(function, CUDNN_STATUS_NOT_SUPPORTED,
                      "compute type " + std::to_string(int(computeType)) + " is not emulated (FLOAT and DOUBLE are)");
  const cudnnMathType_t math = convDesc->math;
  *convDesc = {true, pad_h, pad_w, u, v, dilation_h, dilation_w, mode, computeType, math};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t convDesc, cudnnMathType_t mathType) {
  constexpr const char* function = "cudnnSetConvolutionMathType";
  if (!is_live_object(convDesc))
    return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "the descriptor was destroyed or never created");
  if (mathType < CUDNN_DEFAULT_MATH || mathType > CUDNN_FMA_MATH)
    return dnn_status(function, CUDNN_STATUS_BAD_PARAM,
                      "math type " + std::to_string(int(mathType)) + " is not a cudnnMathType_t");
  convDesc->math = mathType;  // every math type computes in the compute type here (no TF32)
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(const cudnnConvolutionDescriptor_t convDesc,
                                                    const cudnnTensorDescriptor_t inputTensorDesc,
                                                    const cudnnFilterDescriptor_t filterDesc, int* n, int* c, int* h,
                                                    int* w) {
  constexpr const char* function = "cudnnGetConvolution2dForwardOutputDim";
  if (!is_live_object(convDesc) || !is_live_object(inputTensorDesc) || !is_live_object(filterDesc) || !n || !c || !h ||
      !w || !convDesc->set || !inputTensorDesc->set || !filterDesc->set)
    return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "a descriptor that is not set, or a null result pointer");
  const cudnnConvolutionStruct& conv = *convDesc;
  const int reach_h = (filterDesc->h - 1) * conv.dilation_h + 1, reach_w = (filterDesc->w - 1) * conv.dilation_w + 1;
  const int padded_h = inputTensorDesc->h + 2 * conv.pad_h, padded_w = inputTensorDesc->w + 2 * conv.pad_w;
  if (inputTensorDesc->c != filterDesc->c || padded_h < reach_h || padded_w < reach_w)
    return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "the filter does not fit the padded input");
  *n = inputTensorDesc->n;
  *c = filterDesc->k;
  *h = (padded_h - reach_h) / conv.stride_h + 1;
  *w = (padded_w - reach_w) / conv.stride_w + 1;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t convDesc) {
  return destroy("cudnnDestroyConvolutionDescriptor", convDesc);
}
