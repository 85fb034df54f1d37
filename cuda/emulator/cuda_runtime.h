// The emulator's stand-in for NVIDIA's <cuda_runtime.h>, included by
// cuda/api.h when CLIPGRAD_CUDA_EMULATE is defined: the runtime API
// (runtime_api.h) and what kernel code names (device_api.h), as host C++.
// README.md beside this file says what is emulated and what is not.
#pragma once

#include "cuda/emulator/device_api.h"
#include "cuda/emulator/runtime_api.h"
