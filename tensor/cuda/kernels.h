// The CUDA kernel table (tensor/ops/kernels.h) for Device::CUDA.
//
// How it is installed: tensor/ops/dispatch.cpp, in CUDA builds only, asks
// cuda_backend::kernels() for the table the first time kernels_for(Device::CUDA)
// is called, exactly as it asks cpu::kernels() for the CPU's. tensor/ops
// links this library as it links tensor/cpu (both are kernel folders below
// the raw-op API), so no layer includes one above it, and nothing depends on
// a static initialiser: registration from one is silently dropped when the
// linker sees no other reference into a static library's object file (what
// WHOLE_ARCHIVE papers over), while an explicit call cannot be dropped. The device memory for
// these kernels comes from allocator_for(Device::CUDA) (tensor/tensor.cpp),
// which installs the caching allocator on its first use.
#pragma once

#include <vector>

#include "tensor/ops/kernels.h"

namespace clipgrad::cuda_backend {

// Fills this folder's entries (every raw op but gemm, conv2d(_backward),
// batch_norm(_backward) and attention_heads(_backward)), then the GPU
// libraries' (cuBLASLt, cuDNN, fused attention) when they are built in.
void fill_cuda_kernels(ops::Kernels& table);

// The table, filled on first use; throws a clear error when the machine has
// no CUDA device (and again on the next call: a later call may find one).
const ops::Kernels& kernels();

}  // namespace clipgrad::cuda_backend

namespace clipgrad::cuda_kernels {

// Kernels other kernels of this folder call directly (no dispatch within a device).
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);  // shape.cu
Tensor sum_all(const Tensor& x);                                    // sums.cu
Tensor softmax(const Tensor& x, int64_t dim);                       // softmax.cu
// Copies an i32 CUDA tensor to the host, for the index checks whose error
// messages must name the bad index as the CPU kernels do (indexing.cu).
std::vector<int32_t> host_indices(const Tensor& index);

void fill_elementwise_kernels(ops::Kernels& table);  // elementwise.cu
void fill_sum_kernels(ops::Kernels& table);          // sums.cu
void fill_softmax_kernels(ops::Kernels& table);      // softmax.cu
void fill_norm_kernels(ops::Kernels& table);         // norms.cu
void fill_shape_kernels(ops::Kernels& table);        // shape.cu
void fill_indexing_kernels(ops::Kernels& table);     // indexing.cu
void fill_pool_kernels(ops::Kernels& table);         // pool.cu
void fill_optim_kernels(ops::Kernels& table);        // optim.cu

}  // namespace clipgrad::cuda_kernels
