// What the vendor-library stand-ins (cublasLt.h, cudnn.h) share: the check
// of each operand against the emulated device's memory, the reasons behind
// the statuses they return, and their switches.
//
// A library call computes on the host over device memory, as a kernel
// launch's threads do, so it is held to the launch's rule and more: every
// operand it reads or writes must lie wholly inside one live cudaMalloc (or
// mapped cudaHostAlloc) block, from its first element to its last. Otherwise
// the call throws KernelError (cudaErrorIllegalAddress), naming the function,
// the caller's line, the operand and the extent, before it computes anything.
//
// Bad parameters are not faults: the call returns the library's status, as
// the real one does, and keeps the reason, which last_library_error() returns
// and which goes to stderr at log level 1 and above. The levels are the
// libraries' own variables: CUBLASLT_LOG_LEVEL for cuBLASLt,
// CUDNN_LOGLEVEL_DBG for cuDNN; unset, the emulator logs errors (level 1),
// where the real libraries log nothing. Level 3 also logs a heuristic that
// finds no algorithm (an answer, not an error).
#pragma once

#include <cstddef>
#include <cstdint>
#include <source_location>
#include <string>

namespace clipgrad::cuda::emulator {

// The reason for the last status other than success that a cuBLASLt or
// cuDNN stand-in returned on this thread, naming the function ("" if none).
std::string last_library_error();

// Whether cublasLtMatmulAlgoGetHeuristic offers an algorithm for
// CUBLASLT_EPILOGUE_BIAS (default: yes; CLIPGRAD_EMU_LT_BIAS_EPILOGUE=0 says
// no). Off, the heuristic answers as a cuBLASLt without that epilogue for the
// data type would (no algorithm), so that tests can take a plan's fallback.
void set_lt_bias_epilogue(bool offered);
bool lt_bias_epilogue();

namespace detail {

enum class Library { CublasLt, Cudnn };

// One call of a library function, for messages: "cublasLtMatmul" called at `where`.
struct LibraryCall {
  Library library;
  const char* function;
  std::source_location where;
};

// Keeps `reason` as the last library error of this thread, logs it at
// `level` (1 error, 3 information) and returns nothing: callers return the status.
void note_library_status(Library library, const char* function, const char* status_name, const std::string& reason,
                         int level = 1);

// The handles and descriptors the stand-ins made and have not destroyed: one
// that was destroyed, or never made by its Create, is refused, not used.
void remember_object(const void* object);
bool forget_object(const void* object);   // false when it was not alive
bool is_live_object(const void* object);  // false for null

// The extent of one operand, in bytes from its pointer: [begin, end). begin
// is negative only for strided batches with a negative stride.
struct Extent {
  int64_t begin = 0, end = 0;
};

// Throws KernelError(cudaErrorIllegalAddress) unless [pointer + begin,
// pointer + end) lies inside the one live device (or mapped pinned) block
// that holds pointer. An empty extent is not checked. `shape` says what the
// operand is ("batch of 3 matrices 4x5, ld 4, stride 20, f32").
void check_operand(const LibraryCall& call, const char* operand, int argument, const void* pointer, Extent extent,
                   const std::string& shape);

// Throws KernelError(cudaErrorIllegalAddress) when a scalar the library reads
// on the host (alpha, beta) is null or in emulated device memory, where a GPU
// build would read a device address from the CPU.
void check_host_scalar(const LibraryCall& call, const char* operand, int argument, const void* pointer);

// The emulated algorithm's use of its workspace: overwrites `bytes` of it
// with 0xff (NaN in every float type), as a GPU algorithm's scratch would, so
// that nothing may rely on the workspace keeping its contents.
void use_workspace(void* workspace, size_t bytes);

// "0x7f..." for messages.
std::string address(const void* pointer);

}  // namespace detail

}  // namespace clipgrad::cuda::emulator
