// What the cuBLASLt and cuDNN stand-ins share (library_call.h): operand checks
// against the device-memory registry, status reasons and their log, switches.
#include "cuda/emulator/vendor/library_call.h"

#include <atomic>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "cuda/emulator/launch.h"
#include "cuda/emulator/memory.h"

namespace clipgrad::cuda::emulator {

namespace {

thread_local std::string last_error;

std::mutex live_mutex;
std::set<const void*> live_objects;

// A non-negative level from the environment, or `fallback` when unset.
int level_from_environment(const char* name, int fallback) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  int value = 0;
  const std::string_view view(text);
  const auto [end, error] = std::from_chars(view.data(), view.data() + view.size(), value);
  if (error != std::errc() || end != view.data() + view.size() || value < 0)
    throw std::invalid_argument(std::string(name) + "='" + text + "': expected a log level (0 and up)");
  return value;
}

int log_level(detail::Library library) {
  static const int cublaslt = level_from_environment("CUBLASLT_LOG_LEVEL", 1);
  static const int cudnn = level_from_environment("CUDNN_LOGLEVEL_DBG", 1);
  return library == detail::Library::CublasLt ? cublaslt : cudnn;
}

const char* library_name(detail::Library library) {
  return library == detail::Library::CublasLt ? "cuBLASLt" : "cuDNN";
}

std::atomic<int> bias_epilogue{-1};  // -1: not read from the environment yet

std::string where(const detail::LibraryCall& call) {
  return std::string(call.where.file_name()) + ":" + std::to_string(call.where.line()) + ": " + call.function +
         " failed under the emulator: ";
}

}  // namespace

std::string last_library_error() { return last_error; }

void set_lt_bias_epilogue(bool offered) { bias_epilogue = offered ? 1 : 0; }

bool lt_bias_epilogue() {
  int value = bias_epilogue.load();
  if (value < 0) {
    const char* text = std::getenv("CLIPGRAD_EMU_LT_BIAS_EPILOGUE");
    const std::string_view view = text ? text : "";
    if (!view.empty() && view != "0" && view != "1")
      throw std::invalid_argument("CLIPGRAD_EMU_LT_BIAS_EPILOGUE='" + std::string(view) + "': expected 0 or 1");
    value = view == "0" ? 0 : 1;
    int unset = -1;
    bias_epilogue.compare_exchange_strong(unset, value);
    value = bias_epilogue.load();
  }
  return value == 1;
}

namespace detail {

std::string address(const void* pointer) {
  std::ostringstream text;
  text << pointer;
  return text.str();
}

void note_library_status(Library library, const char* function, const char* status_name, const std::string& reason,
                         int level) {
  last_error = std::string(function) + ": " + status_name + ": " + reason;
  if (log_level(library) >= level)
    std::fprintf(stderr, "[%s emulator] %s\n", library_name(library), last_error.c_str());
}

void remember_object(const void* object) {
  std::lock_guard lock(live_mutex);
  live_objects.insert(object);
}

bool forget_object(const void* object) {
  std::lock_guard lock(live_mutex);
  return live_objects.erase(object) > 0;
}

bool is_live_object(const void* object) {
  std::lock_guard lock(live_mutex);
  return object && live_objects.count(object) > 0;
}

void check_operand(const LibraryCall& call, const char* operand, int argument, const void* pointer, Extent extent,
                   const std::string& shape) {
  if (extent.end <= extent.begin) return;
  const std::string name =
      std::string(operand) + " (argument " + std::to_string(argument) + ", counting from 0, " + shape + ")";
  if (!pointer) throw KernelError(cudaErrorIllegalAddress, where(call) + name + " is null");
  const std::optional<Allocation> block = find_allocation(pointer);
  if (!block) {
    const std::string what = recently_freed(pointer)
                                 ? "device memory that cudaFree has freed"
                                 : "a host pointer (a CPU tensor's data, a malloc'd or stack buffer)";
    throw KernelError(cudaErrorIllegalAddress,
                      where(call) + name + " is " + address(pointer) +
                          ", which is not in emulated device memory: " + what +
                          ". A library may be handed only pointers into live cudaMalloc (or cudaHostAlloc) blocks");
  }
  const auto base = reinterpret_cast<intptr_t>(block->base), at = reinterpret_cast<intptr_t>(pointer);
  const intptr_t first = at + extent.begin, last = at + extent.end;
  const intptr_t block_end = base + intptr_t(block->bytes);
  if (first >= base && last <= block_end) return;
  const std::string outside = first < base ? std::to_string(base - first) + " bytes before its start"
                                           : std::to_string(last - block_end) + " bytes past its end";
  throw KernelError(cudaErrorIllegalAddress,
                    where(call) + name + " spans bytes [" + address(reinterpret_cast<const void*>(first)) + ", " +
                        address(reinterpret_cast<const void*>(last)) + "), which runs " + outside + ": the " +
                        (block->kind == MemoryKind::Device ? "cudaMalloc" : "cudaHostAlloc") + " block of " +
                        std::to_string(block->bytes) + " bytes at " + address(block->base) + " that holds " +
                        address(pointer));
}

void check_host_scalar(const LibraryCall& call, const char* operand, int argument, const void* pointer) {
  const std::string name = std::string(operand) + " (argument " + std::to_string(argument) + ", counting from 0)";
  if (!pointer) throw KernelError(cudaErrorIllegalAddress, where(call) + name + " is null");
  const std::optional<Allocation> block = find_allocation(pointer);
  if (block && block->kind == MemoryKind::Device)
    throw KernelError(cudaErrorIllegalAddress,
                      where(call) + name + " is " + address(pointer) +
                          ", in emulated device memory: the library reads this scalar on the host (host pointer "
                          "mode), where a GPU build would dereference a device address");
}

void use_workspace(void* workspace, size_t bytes) {
  if (bytes > 0) std::memset(workspace, 0xff, bytes);
}

}  // namespace detail

}  // namespace clipgrad::cuda::emulator
