// cuDNN's bias gradient and tensor addition on the host (cudnn.h), over
// emulated device memory: cudnnConvolutionBackwardBias sums dy over N, H and
// W per channel (in that order, in the data type); cudnnAddTensor adds A,
// broadcast over each of its dimensions of size 1, to C.
#include <algorithm>
#include <cstdint>
#include <string>

#include "cuda/emulator/vendor/cudnn_objects.h"
#include "cuda/emulator/vendor/ordered_product.h"
#include "cuda/emulator/counters.h"
#include "cuda/emulator/vendor/library_call.h"

namespace {

using namespace clipgrad::cuda::emulator::detail;
using clipgrad::cuda::emulator::detail::count;
using clipgrad::cuda::emulator::detail::Counted;

std::string shape_of(const cudnnTensorStruct& t) {
  return "NCHW [" + std::to_string(t.n) + "," + std::to_string(t.c) + "," + std::to_string(t.h) + "," +
         std::to_string(t.w) + "] " + type_name(t.type);
}

int64_t bytes_of(const cudnnTensorStruct& t) { return int64_t(t.n) * t.c * t.h * t.w * int64_t(element_bytes(t.type)); }

bool usable(const cudnnTensorDescriptor_t t) { return is_live_object(t) && t->set; }

template <class T>
T scalar(const void* pointer) {
  return *static_cast<const T*>(pointer);
}

template <class T>
void bias_gradient(const cudnnTensorStruct& g, T alpha, T beta, const T* dy, T* db) {
  const int64_t pixels = int64_t(g.h) * g.w;
  for (int64_t k = 0; k < g.c; ++k) {
    T sum = 0;
    for (int64_t n = 0; n < g.n; ++n) {
      const T* plane = dy + (n * g.c + k) * pixels;
      for (int64_t i = 0; i < pixels; ++i) sum += plane[i];
    }
    db[k] = blend(alpha, sum, beta, db + k);  // beta 0: db is not read
  }
}

template <class T>
void add(const cudnnTensorStruct& a_desc, const cudnnTensorStruct& c_desc, T alpha, T beta, const T* a, T* c) {
  const auto index = [](const cudnnTensorStruct& t, int64_t n, int64_t ch, int64_t h, int64_t w) {
    // A dimension of size 1 is broadcast: its index is 0.
    return ((std::min<int64_t>(n, t.n - 1) * t.c + std::min<int64_t>(ch, t.c - 1)) * t.h +
            std::min<int64_t>(h, t.h - 1)) *
               t.w +
           std::min<int64_t>(w, t.w - 1);
  };
  for (int64_t n = 0; n < c_desc.n; ++n)
    for (int64_t ch = 0; ch < c_desc.c; ++ch)
      for (int64_t h = 0; h < c_desc.h; ++h)
        for (int64_t w = 0; w < c_desc.w; ++w) {
          T* out = c + index(c_desc, n, ch, h, w);
          *out = blend(alpha, a[index(a_desc, n, ch, h, w)], beta, out);  // beta 0: C is not read
        }
}

}  // namespace

cudnnStatus_t cudnnConvolutionBackwardBias(cudnnHandle_t handle, const void* alpha,
                                           const cudnnTensorDescriptor_t dyDesc, const void* dy, const void* beta,
                                           const cudnnTensorDescriptor_t dbDesc, void* db, std::source_location where) {
  constexpr const char* function = "cudnnConvolutionBackwardBias";
  if (!is_live_object(handle)) return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "a dead handle");
  if (!usable(dyDesc) || !usable(dbDesc))
    return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "a descriptor was destroyed, or never created or set");
  if (dbDesc->type != dyDesc->type)
    return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "dy and db have different data types");
  if (dbDesc->n != 1 || dbDesc->c != dyDesc->c || dbDesc->h != 1 || dbDesc->w != 1)
    return dnn_status(function, CUDNN_STATUS_BAD_PARAM,
                      "db is " + shape_of(*dbDesc) + "; dy " + shape_of(*dyDesc) + " needs [1," +
                          std::to_string(dyDesc->c) + ",1,1]");
  const LibraryCall call{Library::Cudnn, function, where};
  count(Counted::LibraryCall);
  check_host_scalar(call, "alpha", 1, alpha);
  check_host_scalar(call, "beta", 4, beta);
  check_operand(call, "dy", 3, dy, {0, bytes_of(*dyDesc)}, shape_of(*dyDesc));
  check_operand(call, "db", 6, db, {0, bytes_of(*dbDesc)}, shape_of(*dbDesc));
  if (dyDesc->type == CUDNN_DATA_DOUBLE)
    bias_gradient(*dyDesc, scalar<double>(alpha), scalar<double>(beta), static_cast<const double*>(dy),
                  static_cast<double*>(db));
  else
    bias_gradient(*dyDesc, scalar<float>(alpha), scalar<float>(beta), static_cast<const float*>(dy),
                  static_cast<float*>(db));
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnAddTensor(cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t aDesc,
                             const void* A, const void* beta, const cudnnTensorDescriptor_t cDesc, void* C,
                             std::source_location where) {
  constexpr const char* function = "cudnnAddTensor";
  if (!is_live_object(handle)) return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "a dead handle");
  if (!usable(aDesc) || !usable(cDesc))
    return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "a descriptor was destroyed, or never created or set");
  if (aDesc->type != cDesc->type)
    return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "A and C have different data types");
  const int a_dims[4] = {aDesc->n, aDesc->c, aDesc->h, aDesc->w}, c_dims[4] = {cDesc->n, cDesc->c, cDesc->h, cDesc->w};
  for (int i = 0; i < 4; ++i)
    if (a_dims[i] != c_dims[i] && a_dims[i] != 1)
      return dnn_status(function, CUDNN_STATUS_BAD_PARAM,
                        "A " + shape_of(*aDesc) + " does not broadcast to C " + shape_of(*cDesc) +
                            ": each dimension of A must be C's or 1");
  const LibraryCall call{Library::Cudnn, function, where};
  count(Counted::LibraryCall);
  check_host_scalar(call, "alpha", 1, alpha);
  check_host_scalar(call, "beta", 4, beta);
  check_operand(call, "A", 3, A, {0, bytes_of(*aDesc)}, shape_of(*aDesc));
  check_operand(call, "C", 6, C, {0, bytes_of(*cDesc)}, shape_of(*cDesc));
  if (cDesc->type == CUDNN_DATA_DOUBLE)
    add(*aDesc, *cDesc, scalar<double>(alpha), scalar<double>(beta), static_cast<const double*>(A),
        static_cast<double*>(C));
  else
    add(*aDesc, *cDesc, scalar<float>(alpha), scalar<float>(beta), static_cast<const float*>(A),
        static_cast<float*>(C));
  return CUDNN_STATUS_SUCCESS;
}
