// The CUDA runtime API as clipgrad's CUDA sources see it: NVIDIA's
// <cuda_runtime.h> in a GPU build, the emulator's stand-in
// (cuda/emulator/cuda_runtime.h: the same names, run on the CPU) in a build
// configured with -DCLIPGRAD_CUDA=EMULATE. Every file of cuda/ and
// tensor/cuda/ includes this header instead of <cuda_runtime.h>, so one
// source serves both builds.
//
// Two macros make a kernel file read the same in both:
//
//   CLIPGRAD_DEVICE_CODE    defined where kernel code is compiled: under nvcc
//                           (__CUDACC__) and under emulation. Guard __device__
//                           helpers in shared headers with it, not __CUDACC__.
//   CLIPGRAD_DYNAMIC_SHARED(float, shared);
//                           in a kernel: `float* shared` is the block's
//                           dynamic shared memory (the launch's shared_bytes),
//                           16-byte aligned. Replaces `extern __shared__ float
//                           shared[];`, which host C++ cannot express; under
//                           nvcc it declares one byte array for every kernel,
//                           so kernels of different element types (templates)
//                           do not clash over the extern array's type.
#pragma once

#ifdef CLIPGRAD_CUDA_EMULATE
#include "cuda/emulator/cuda_runtime.h"
#else
#include <cuda_runtime.h>
#endif

#if defined(__CUDACC__) || defined(CLIPGRAD_CUDA_EMULATE)
#define CLIPGRAD_DEVICE_CODE 1
#endif

#ifdef CLIPGRAD_CUDA_EMULATE
#define CLIPGRAD_DYNAMIC_SHARED(type, name) type* name = ::clipgrad::cuda::emulator::dynamic_shared_memory<type>()
#else
#define CLIPGRAD_DYNAMIC_SHARED(type, name)                                      \
  extern __shared__ __align__(16) unsigned char clipgrad_dynamic_shared_bytes[]; \
  type* name = reinterpret_cast<type*>(clipgrad_dynamic_shared_bytes)
#endif
