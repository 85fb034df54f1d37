// The host API of runtime_api.h. One emulated device (0); every call is
// synchronous, so streams and events are handles that order nothing, and
// events keep the host time at which they were recorded. A failing call
// returns its error and keeps it as this host thread's last error, as CUDA's
// runtime does.
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <set>

#include "cuda/emulator/controls.h"
#include "cuda/emulator/counters.h"
#include "cuda/emulator/grid.h"
#include "cuda/emulator/memory.h"
#include "cuda/emulator/runtime_api.h"

struct CUstream_st {
  unsigned flags;
};
struct CUevent_st {
  unsigned flags;
  bool recorded = false;
  std::chrono::steady_clock::time_point when;
};

namespace {

using clipgrad::cuda::emulator::detail::MemoryKind;
namespace detail = clipgrad::cuda::emulator::detail;

thread_local cudaError_t last_error = cudaSuccess;

cudaError_t note(cudaError_t status) {
  if (status != cudaSuccess) last_error = status;
  return status;
}

// The live streams and events (handles are validated, like CUDA's).
std::mutex handles_mutex;
std::set<const void*> live_handles;

bool is_stream(cudaStream_t stream) {
  if (stream == nullptr || stream == cudaStreamLegacy || stream == cudaStreamPerThread) return true;
  std::lock_guard lock(handles_mutex);
  return live_handles.count(stream) > 0;
}
bool is_event(cudaEvent_t event) {
  std::lock_guard lock(handles_mutex);
  return event && live_handles.count(event) > 0;
}

bool is_device(const void* pointer, size_t bytes) { return detail::inside(pointer, bytes, MemoryKind::Device); }

// Checks the device sides of a copy of `height` rows of `width` bytes at the given pitches.
cudaError_t copy_2d(void* destination, size_t destination_pitch, const void* source, size_t source_pitch, size_t width,
                    size_t height, cudaMemcpyKind kind) {
  if (width == 0 || height == 0) return cudaSuccess;
  if (width > destination_pitch || width > source_pitch) return note(cudaErrorInvalidPitchValue);
  if (!destination || !source) return note(cudaErrorInvalidValue);
  if (kind == cudaMemcpyDefault) {
    const bool to_device = is_device(destination, 1), from_device = is_device(source, 1);
    kind = to_device ? (from_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                     : (from_device ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  }
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDeviceToDevice) return note(cudaErrorInvalidMemcpyDirection);
  const size_t destination_span = destination_pitch * (height - 1) + width;
  const size_t source_span = source_pitch * (height - 1) + width;
  const bool destination_on_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool source_on_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if ((destination_on_device && !is_device(destination, destination_span)) ||
      (source_on_device && !is_device(source, source_span)))
    return note(cudaErrorInvalidValue);  // a host pointer, or a range that leaves its device block
  if (kind == cudaMemcpyDeviceToHost) detail::count(detail::Counted::DeviceToHostCopy);
  if (kind == cudaMemcpyHostToDevice) detail::count(detail::Counted::HostToDeviceCopy);
  auto* out = static_cast<unsigned char*>(destination);
  const auto* in = static_cast<const unsigned char*>(source);
  for (size_t row = 0; row < height; ++row) std::memmove(out + row * destination_pitch, in + row * source_pitch, width);
  return cudaSuccess;
}

int cpu_cache_bytes() {
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  return l3 > 0 ? int(l3) : 32 << 20;
}

}  // namespace

// ---- errors ----

cudaError_t cudaGetLastError() {
  const cudaError_t status = last_error;
  last_error = cudaSuccess;
  return status;
}

cudaError_t cudaPeekAtLastError() { return last_error; }

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidPitchValue: return "invalid pitch argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorAssert: return "device-side assert triggered";
    case cudaErrorIllegalInstruction: return "an illegal instruction was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorUnknown: return "unknown error";
  }
  return "unrecognized error code";
}

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidPitchValue: return "cudaErrorInvalidPitchValue";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInvalidDeviceFunction: return "cudaErrorInvalidDeviceFunction";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorAssert: return "cudaErrorAssert";
    case cudaErrorIllegalInstruction: return "cudaErrorIllegalInstruction";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorUnknown: return "cudaErrorUnknown";
  }
  return "cudaErrorUnrecognized";
}

// ---- the device ----

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return note(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : note(cudaErrorInvalidDevice); }

cudaError_t cudaGetDevice(int* device) {
  if (!device) return note(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (!p) return note(cudaErrorInvalidValue);
  if (device != 0) return note(cudaErrorInvalidDevice);
  *p = cudaDeviceProp{};
  std::strncpy(p->name, "clipgrad SIMT emulator (CPU)", sizeof p->name - 1);
  p->totalGlobalMem = clipgrad::cuda::emulator::memory_capacity();
  p->sharedMemPerBlock = detail::kDefaultSharedLimit;
  p->regsPerBlock = 65536;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = 1024;
  p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647;
  p->maxGridSize[1] = 65535;
  p->maxGridSize[2] = 65535;
  p->totalConstMem = 65536;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = int(clipgrad::cuda::emulator::worker_threads());  // blocks that run at once
  p->l2CacheSize = cpu_cache_bytes();
  p->maxThreadsPerMultiProcessor = 2048;
  p->sharedMemPerMultiprocessor = 228 * 1024;
  p->sharedMemPerBlockOptin = detail::kOptinSharedLimit;
  p->unifiedAddressing = 1;
  p->canMapHostMemory = 1;
  p->managedMemory = 0;
  p->concurrentKernels = 0;
  p->integrated = 0;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device) {
  if (!value) return note(cudaErrorInvalidValue);
  cudaDeviceProp p;
  if (const cudaError_t status = cudaGetDeviceProperties(&p, device); status != cudaSuccess) return status;
  switch (attribute) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxBlockDimX: *value = p.maxThreadsDim[0]; break;
    case cudaDevAttrMaxBlockDimY: *value = p.maxThreadsDim[1]; break;
    case cudaDevAttrMaxBlockDimZ: *value = p.maxThreadsDim[2]; break;
    case cudaDevAttrMaxGridDimX: *value = p.maxGridSize[0]; break;
    case cudaDevAttrMaxGridDimY: *value = p.maxGridSize[1]; break;
    case cudaDevAttrMaxGridDimZ: *value = p.maxGridSize[2]; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = int(p.sharedMemPerBlock); break;
    case cudaDevAttrWarpSize: *value = p.warpSize; break;
    case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
    case cudaDevAttrL2CacheSize: *value = p.l2CacheSize; break;
    case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = int(p.sharedMemPerBlockOptin); break;
    default: return note(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
  detail::count(detail::Counted::HostWait);
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* kernel, cudaFuncAttribute attribute, int value) {
  if (!kernel) return note(cudaErrorInvalidDeviceFunction);
  if (attribute == cudaFuncAttributePreferredSharedMemoryCarveout) return cudaSuccess;  // no caches to split
  if (attribute != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
      size_t(value) > detail::kOptinSharedLimit)
    return note(cudaErrorInvalidValue);
  detail::set_dynamic_shared_limit(kernel, size_t(value));
  return cudaSuccess;
}

// ---- memory ----

cudaError_t cudaMalloc(void** pointer, size_t bytes) {
  if (!pointer) return note(cudaErrorInvalidValue);
  *pointer = nullptr;
  if (bytes == 0) return cudaSuccess;
  *pointer = detail::allocate(bytes, MemoryKind::Device);
  return *pointer ? cudaSuccess : note(cudaErrorMemoryAllocation);
}

cudaError_t cudaFree(void* pointer) {
  if (!pointer) return cudaSuccess;
  return detail::release(pointer, MemoryKind::Device) ? cudaSuccess : note(cudaErrorInvalidValue);
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  if (!free_bytes || !total_bytes) return note(cudaErrorInvalidValue);
  const size_t total = clipgrad::cuda::emulator::memory_capacity(), used = detail::device_bytes_in_use();
  *total_bytes = total;
  *free_bytes = used < total ? total - used : 0;
  return cudaSuccess;
}

cudaError_t cudaHostAlloc(void** pointer, size_t bytes, unsigned int flags) {
  if (!pointer || flags > (cudaHostAllocPortable | cudaHostAllocMapped | cudaHostAllocWriteCombined))
    return note(cudaErrorInvalidValue);
  *pointer = detail::allocate(bytes ? bytes : 1, MemoryKind::PinnedHost);
  return *pointer ? cudaSuccess : note(cudaErrorMemoryAllocation);
}

cudaError_t cudaMallocHost(void** pointer, size_t bytes) { return cudaHostAlloc(pointer, bytes, cudaHostAllocDefault); }

cudaError_t cudaFreeHost(void* pointer) {
  if (!pointer) return cudaSuccess;
  return detail::release(pointer, MemoryKind::PinnedHost) ? cudaSuccess : note(cudaErrorInvalidValue);
}

cudaError_t cudaMemcpy(void* destination, const void* source, size_t bytes, cudaMemcpyKind kind) {
  detail::count(detail::Counted::HostWait);
  return copy_2d(destination, bytes, source, bytes, bytes, 1, kind);
}

cudaError_t cudaMemcpyAsync(void* destination, const void* source, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  if (!is_stream(stream)) return note(cudaErrorInvalidResourceHandle);
  return copy_2d(destination, bytes, source, bytes, bytes, 1, kind);
}

cudaError_t cudaMemcpy2D(void* destination, size_t destination_pitch, const void* source, size_t source_pitch,
                         size_t width, size_t height, cudaMemcpyKind kind) {
  detail::count(detail::Counted::HostWait);
  return copy_2d(destination, destination_pitch, source, source_pitch, width, height, kind);
}

cudaError_t cudaMemcpy2DAsync(void* destination, size_t destination_pitch, const void* source, size_t source_pitch,
                              size_t width, size_t height, cudaMemcpyKind kind, cudaStream_t stream) {
  if (!is_stream(stream)) return note(cudaErrorInvalidResourceHandle);
  return copy_2d(destination, destination_pitch, source, source_pitch, width, height, kind);
}

cudaError_t cudaMemset(void* destination, int value, size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  if (!is_device(destination, bytes)) return note(cudaErrorInvalidValue);
  std::memset(destination, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* destination, int value, size_t bytes, cudaStream_t stream) {
  if (!is_stream(stream)) return note(cudaErrorInvalidResourceHandle);
  return cudaMemset(destination, value, bytes);
}

// ---- streams ----

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  if (!stream || flags > cudaStreamNonBlocking) return note(cudaErrorInvalidValue);
  *stream = new CUstream_st{flags};
  std::lock_guard lock(handles_mutex);
  live_handles.insert(*stream);
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  std::lock_guard lock(handles_mutex);
  if (!live_handles.erase(stream)) return note(cudaErrorInvalidResourceHandle);
  delete stream;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (!is_stream(stream)) return note(cudaErrorInvalidResourceHandle);
  detail::count(detail::Counted::HostWait);
  return cudaSuccess;
}

// Work is done when it is queued: the query never waits.
cudaError_t cudaStreamQuery(cudaStream_t stream) {
  return is_stream(stream) ? cudaSuccess : note(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int) {
  return is_stream(stream) && is_event(event) ? cudaSuccess : note(cudaErrorInvalidResourceHandle);
}

// ---- events ----

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  if (!event || flags > (cudaEventBlockingSync | cudaEventDisableTiming)) return note(cudaErrorInvalidValue);
  *event = new CUevent_st{flags, false, {}};
  std::lock_guard lock(handles_mutex);
  live_handles.insert(*event);
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  std::lock_guard lock(handles_mutex);
  if (!live_handles.erase(event)) return note(cudaErrorInvalidResourceHandle);
  delete event;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!is_event(event) || !is_stream(stream)) return note(cudaErrorInvalidResourceHandle);
  event->recorded = true;
  event->when = std::chrono::steady_clock::now();
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (!is_event(event)) return note(cudaErrorInvalidResourceHandle);
  detail::count(detail::Counted::HostWait);
  return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t event) {
  return is_event(event) ? cudaSuccess : note(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaEventElapsedTime(float* milliseconds, cudaEvent_t start, cudaEvent_t end) {
  if (!milliseconds) return note(cudaErrorInvalidValue);
  if (!is_event(start) || !is_event(end) || !start->recorded || !end->recorded ||
      (start->flags & cudaEventDisableTiming) || (end->flags & cudaEventDisableTiming))
    return note(cudaErrorInvalidResourceHandle);
  *milliseconds = std::chrono::duration<float, std::milli>(end->when - start->when).count();
  return cudaSuccess;
}
