// The CPU kernels of the indexing family (tensor/ops/shape.h): index_rows,
// embedding and its backward, gather_rows (the EOT gather) and its backward.
// Every index was checked in tensor/ops before dispatch. The CUDA twin is
// tensor/cuda/indexing.cu.
#include <algorithm>
#include <cstring>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace clipgrad::cpu {

Tensor index_rows(const Tensor& x, const std::vector<int64_t>& rows) {
  Shape out_shape = x.shape();
  out_shape[0] = static_cast<int64_t>(rows.size());
  Tensor out = Tensor::empty(out_shape, x.dtype());
  const int64_t count = x.shape()[0];
  const size_t row_bytes = count == 0 ? 0 : x.nbytes() / count;
  const char* in = static_cast<const char*>(x.raw_data());
  char* o = static_cast<char*>(out.raw_data());
  for (size_t i = 0; i < rows.size(); ++i) std::memcpy(o + i * row_bytes, in + rows[i] * row_bytes, row_bytes);
  return out;
}

Tensor embedding(const Tensor& ids, const Tensor& weight) {
  const int64_t features = weight.shape()[1];
  const int32_t* id = ids.data<int32_t>();
  Shape out_shape = ids.shape();
  out_shape.push_back(features);
  Tensor out = Tensor::empty(out_shape, weight.dtype());
  const int64_t row_bytes = features * static_cast<int64_t>(dtype_size(weight.dtype()));
  const char* table = static_cast<const char*>(weight.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  const int64_t count = ids.numel();
#pragma omp parallel for if (count * row_bytes > kParallelBytes)
  for (int64_t i = 0; i < count; ++i) std::memcpy(dst + i * row_bytes, table + id[i] * row_bytes, row_bytes);
  return out;
}

Tensor embedding_backward(const Tensor& ids, const Tensor& grad, int64_t vocab) {
  const int64_t features = grad.shape().back(), count = ids.numel();
  Tensor out = Tensor::zeros({vocab, features}, grad.dtype());
  dispatch_floating(grad.dtype(), "embedding_backward", [&]<class T>() {
    const int32_t* id = ids.data<int32_t>();
    const T* g = grad.data<T>();
    T* table = out.data<T>();
    // Threads own disjoint column blocks, so repeated ids never race and the
    // summation order (ids in sequence) is the same on any thread count.
    constexpr int64_t kBlock = 64;
    const int64_t blocks = (features + kBlock - 1) / kBlock;
#pragma omp parallel for if (count * features > kParallelElements && blocks > 1)
    for (int64_t block = 0; block < blocks; ++block) {
      const int64_t begin = block * kBlock, end = std::min(features, begin + kBlock);
      for (int64_t i = 0; i < count; ++i) {
        T* dst = table + id[i] * features;
        const T* src = g + i * features;
        for (int64_t f = begin; f < end; ++f) dst[f] += src[f];
      }
    }
  });
  return out;
}

// tokens i32 [N, L] -> i32 [N]
Tensor eot_positions(const Tensor& tokens, int64_t eos_token_id) {
  const int64_t batch = tokens.size(0), length = tokens.size(1);
  Tensor out = Tensor::zeros({batch}, DType::I32);
  const int32_t* ids = tokens.data<int32_t>();
  int32_t* positions = out.data<int32_t>();
  for (int64_t n = 0; n < batch; ++n) {
    const int32_t* row = ids + n * length;
    if (eos_token_id < 0) {
      for (int64_t i = 1; i < length; ++i)
        if (row[i] > row[positions[n]]) positions[n] = static_cast<int32_t>(i);
    } else {
      for (int64_t i = length - 1; i >= 0; --i)  // backwards: the first match is written last
        if (row[i] == eos_token_id) positions[n] = static_cast<int32_t>(i);
    }
  }
  return out;
}

Tensor gather_rows(const Tensor& x, const Tensor& index) {
  const int64_t batch = x.shape()[0], length = x.shape()[1], features = x.shape()[2];
  Tensor out = Tensor::empty({batch, features}, x.dtype());
  const int64_t row_bytes = features * static_cast<int64_t>(dtype_size(x.dtype()));
  const int32_t* row = index.data<int32_t>();
  const char* src = static_cast<const char*>(x.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for (int64_t n = 0; n < batch; ++n)
    std::memcpy(dst + n * row_bytes, src + (n * length + row[n]) * row_bytes, row_bytes);
  return out;
}

Tensor gather_rows_backward(const Tensor& grad, const Tensor& index, int64_t length) {
  const int64_t batch = grad.shape()[0], features = grad.shape()[1];
  Tensor out = Tensor::zeros({batch, length, features}, grad.dtype());
  const int64_t row_bytes = features * static_cast<int64_t>(dtype_size(grad.dtype()));
  const int32_t* row = index.data<int32_t>();
  const char* src = static_cast<const char*>(grad.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for (int64_t n = 0; n < batch; ++n)
    std::memcpy(dst + (n * length + row[n]) * row_bytes, src + n * row_bytes, row_bytes);
  return out;
}

}  // namespace clipgrad::cpu
