// The CUDA runtime API as clipgrad's CUDA sources see it: NVIDIA's
// <cuda_runtime.h> in a GPU build, the emulator's stand-in
// (cuda/emulator/cuda_runtime.h: the same names, run on the CPU) in a build
// configured with -DCLIPGRAD_CUDA=EMULATE. Every file of cuda/ and
// tensor/cuda/ includes this header instead of <cuda_runtime.h>, so one
// source serves both builds.
#pragma once

#ifdef CLIPGRAD_CUDA_EMULATE
#include "cuda/emulator/cuda_runtime.h"
#else
#include <cuda_runtime.h>
#endif

// A kernel's dynamic shared memory (the launch's shared_bytes) as `type* name`:
//   CLIPGRAD_DYNAMIC_SHARED(float, shared);
#ifndef CLIPGRAD_CUDA_EMULATE
#define CLIPGRAD_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif
