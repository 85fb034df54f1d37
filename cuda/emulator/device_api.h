// The device half of the emulator's stand-in for <cuda_runtime.h>: what
// kernel code names (qualifiers, threadIdx and friends, barriers, warp
// collectives, atomics, intrinsics), as host C++. Barriers and warp
// collectives suspend the calling thread's fiber until its block (or warp)
// meets them; block.cpp and warp.cpp decide when that is, and refuse what
// CUDA leaves undefined.
#pragma once

#include <math.h>  // libstdc++'s <math.h> also puts the float overloads (::exp(float)) in the global namespace

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <source_location>
#include <type_traits>

#include "cuda/emulator/runtime_api.h"

// ---- qualifiers ----
// Kernels are plain functions. __shared__ is per OS thread storage: a block
// runs all its fibers on one OS thread, and an OS thread runs one block at a
// time, so every block sees its own copy (not cleared between blocks: on a
// GPU shared memory starts undefined too). __noinline__ is not defined:
// libstdc++ spells __attribute__((__noinline__)).
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __shared__ static thread_local
#define __constant__
#define __managed__
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

// ---- built-in variables ----
// The current fiber's coordinates, set by the emulator before it resumes a
// fiber (threadIdx) or starts a block (the others). In gdb: `print threadIdx`.
// constinit: no dynamic initialisation, so a read is one %fs-relative load,
// with no TLS wrapper call (whose null check UBSan in GCC 12 misreports).
extern thread_local constinit uint3 threadIdx;
extern thread_local constinit uint3 blockIdx;
extern thread_local constinit dim3 blockDim;
extern thread_local constinit dim3 gridDim;
inline constexpr int warpSize = 32;

namespace clipgrad::cuda::emulator {

enum class BarrierKind : uint8_t { Sync, Count, And, Or };
enum class Collective : uint8_t { SyncWarp, ShuffleIndex, ShuffleUp, ShuffleDown, ShuffleXor, Ballot, All, Any };

// Device-side entry points (device_api.cpp). Each suspends the calling fiber.
int block_barrier(BarrierKind kind, int predicate, std::source_location where);
uint64_t warp_collective(Collective op, unsigned mask, uint64_t value, unsigned value_bytes, int lane_argument,
                         int width, std::source_location where);
unsigned active_lanes();             // __activemask(): the lanes of the warp that have not exited
void* dynamic_shared_memory_base();  // the block's dynamic shared memory (see cuda/api.h)
[[noreturn]] void trap(std::source_location where);

template <class T>
T* dynamic_shared_memory() {
  return static_cast<T*>(dynamic_shared_memory_base());
}

// The values a warp shuffle moves: CUDA's overloads are int, unsigned, long,
// long long (and unsigned), float and double; 4 or 8 bytes.
template <class T>
concept Shuffleable = std::is_arithmetic_v<T> &&(sizeof(T) == 4 || sizeof(T) == 8);

template <Shuffleable T>
T shuffle(Collective op, unsigned mask, T value, int lane_argument, int width, std::source_location where) {
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = warp_collective(op, mask, bits, sizeof(T), lane_argument, width, where);
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}

}  // namespace clipgrad::cuda::emulator

// ---- block barriers ----
// Functions, not macros: the default argument records the call site, which
// every thread of the block must share (CUDA: the same __syncthreads()).

inline void __syncthreads(std::source_location where = std::source_location::current()) {
  ::clipgrad::cuda::emulator::block_barrier(::clipgrad::cuda::emulator::BarrierKind::Sync, 0, where);
}
inline int __syncthreads_count(int predicate, std::source_location where = std::source_location::current()) {
  return ::clipgrad::cuda::emulator::block_barrier(::clipgrad::cuda::emulator::BarrierKind::Count, predicate, where);
}
inline int __syncthreads_and(int predicate, std::source_location where = std::source_location::current()) {
  return ::clipgrad::cuda::emulator::block_barrier(::clipgrad::cuda::emulator::BarrierKind::And, predicate, where);
}
inline int __syncthreads_or(int predicate, std::source_location where = std::source_location::current()) {
  return ::clipgrad::cuda::emulator::block_barrier(::clipgrad::cuda::emulator::BarrierKind::Or, predicate, where);
}

// ---- warp collectives ----
// Every lane named in mask must reach a collective of the same kind with the
// same mask (the call sites may differ, as on sm_70 and later).

inline void __syncwarp(unsigned mask = 0xffffffffu, std::source_location where = std::source_location::current()) {
  ::clipgrad::cuda::emulator::warp_collective(::clipgrad::cuda::emulator::Collective::SyncWarp, mask, 0, 0, 0, warpSize,
                                              where);
}
// CUDA's overload set (so a bool or a short promotes to int, as under nvcc).
#define CLIPGRAD_EMU_SHUFFLES(T)                                                                                  \
  inline T __shfl_sync(unsigned mask, T value, int source_lane, int width = warpSize,                             \
                       std::source_location where = std::source_location::current()) {                            \
    return ::clipgrad::cuda::emulator::shuffle(::clipgrad::cuda::emulator::Collective::ShuffleIndex, mask, value, \
                                               source_lane, width, where);                                        \
  }                                                                                                               \
  inline T __shfl_up_sync(unsigned mask, T value, unsigned delta, int width = warpSize,                           \
                          std::source_location where = std::source_location::current()) {                         \
    return ::clipgrad::cuda::emulator::shuffle(::clipgrad::cuda::emulator::Collective::ShuffleUp, mask, value,    \
                                               int(delta), width, where);                                         \
  }                                                                                                               \
  inline T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = warpSize,                         \
                            std::source_location where = std::source_location::current()) {                       \
    return ::clipgrad::cuda::emulator::shuffle(::clipgrad::cuda::emulator::Collective::ShuffleDown, mask, value,  \
                                               int(delta), width, where);                                         \
  }                                                                                                               \
  inline T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = warpSize,                           \
                           std::source_location where = std::source_location::current()) {                        \
    return ::clipgrad::cuda::emulator::shuffle(::clipgrad::cuda::emulator::Collective::ShuffleXor, mask, value,   \
                                               lane_mask, width, where);                                          \
  }
CLIPGRAD_EMU_SHUFFLES(int)
CLIPGRAD_EMU_SHUFFLES(unsigned int)
CLIPGRAD_EMU_SHUFFLES(long)
CLIPGRAD_EMU_SHUFFLES(unsigned long)
CLIPGRAD_EMU_SHUFFLES(long long)
CLIPGRAD_EMU_SHUFFLES(unsigned long long)
CLIPGRAD_EMU_SHUFFLES(float)
CLIPGRAD_EMU_SHUFFLES(double)
#undef CLIPGRAD_EMU_SHUFFLES
inline unsigned __ballot_sync(unsigned mask, int predicate,
                              std::source_location where = std::source_location::current()) {
  return unsigned(::clipgrad::cuda::emulator::warp_collective(::clipgrad::cuda::emulator::Collective::Ballot, mask,
                                                              predicate != 0, 4, 0, warpSize, where));
}
inline int __all_sync(unsigned mask, int predicate, std::source_location where = std::source_location::current()) {
  return int(::clipgrad::cuda::emulator::warp_collective(::clipgrad::cuda::emulator::Collective::All, mask,
                                                         predicate != 0, 4, 0, warpSize, where));
}
inline int __any_sync(unsigned mask, int predicate, std::source_location where = std::source_location::current()) {
  return int(::clipgrad::cuda::emulator::warp_collective(::clipgrad::cuda::emulator::Collective::Any, mask,
                                                         predicate != 0, 4, 0, warpSize, where));
}
inline unsigned __activemask() { return ::clipgrad::cuda::emulator::active_lanes(); }

// ---- atomics ----
// Real atomics (blocks run in parallel on the CPU's cores), relaxed like CUDA's.

namespace clipgrad::cuda::emulator {
template <class T>
std::atomic_ref<T> atomic(T* address) {
  return std::atomic_ref<T>(*address);
}
template <class T, class Pick>
T atomic_update(T* address, Pick pick) {  // CAS loop: *address = pick(old), returns old
  std::atomic_ref<T> target(*address);
  T old = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(old, pick(old), std::memory_order_relaxed)) {
  }
  return old;
}
}  // namespace clipgrad::cuda::emulator

#define CLIPGRAD_EMU_ATOMIC_ADD(T)                                                                  \
  inline T atomicAdd(T* address, T value) {                                                         \
    return ::clipgrad::cuda::emulator::atomic(address).fetch_add(value, std::memory_order_relaxed); \
  }
CLIPGRAD_EMU_ATOMIC_ADD(int)
CLIPGRAD_EMU_ATOMIC_ADD(unsigned int)
CLIPGRAD_EMU_ATOMIC_ADD(unsigned long long)
CLIPGRAD_EMU_ATOMIC_ADD(float)
CLIPGRAD_EMU_ATOMIC_ADD(double)
#undef CLIPGRAD_EMU_ATOMIC_ADD

#define CLIPGRAD_EMU_ATOMIC_INTEGER(T)                                                                               \
  inline T atomicSub(T* address, T value) {                                                                          \
    return ::clipgrad::cuda::emulator::atomic(address).fetch_sub(value, std::memory_order_relaxed);                  \
  }                                                                                                                  \
  inline T atomicExch(T* address, T value) {                                                                         \
    return ::clipgrad::cuda::emulator::atomic(address).exchange(value, std::memory_order_relaxed);                   \
  }                                                                                                                  \
  inline T atomicMax(T* address, T value) {                                                                          \
    return ::clipgrad::cuda::emulator::atomic_update(address, [value](T old) { return old < value ? value : old; }); \
  }                                                                                                                  \
  inline T atomicMin(T* address, T value) {                                                                          \
    return ::clipgrad::cuda::emulator::atomic_update(address, [value](T old) { return value < old ? value : old; }); \
  }                                                                                                                  \
  inline T atomicAnd(T* address, T value) {                                                                          \
    return ::clipgrad::cuda::emulator::atomic(address).fetch_and(value, std::memory_order_relaxed);                  \
  }                                                                                                                  \
  inline T atomicOr(T* address, T value) {                                                                           \
    return ::clipgrad::cuda::emulator::atomic(address).fetch_or(value, std::memory_order_relaxed);                   \
  }                                                                                                                  \
  inline T atomicXor(T* address, T value) {                                                                          \
    return ::clipgrad::cuda::emulator::atomic(address).fetch_xor(value, std::memory_order_relaxed);                  \
  }                                                                                                                  \
  inline T atomicCAS(T* address, T compare, T value) {                                                               \
    ::clipgrad::cuda::emulator::atomic(address).compare_exchange_strong(compare, value, std::memory_order_relaxed);  \
    return compare;                                                                                                  \
  }
CLIPGRAD_EMU_ATOMIC_INTEGER(int)
CLIPGRAD_EMU_ATOMIC_INTEGER(unsigned int)
CLIPGRAD_EMU_ATOMIC_INTEGER(unsigned long long)
#undef CLIPGRAD_EMU_ATOMIC_INTEGER
inline long long atomicMax(long long* address, long long value) {
  return ::clipgrad::cuda::emulator::atomic_update(address,
                                                   [value](long long old) { return old < value ? value : old; });
}
inline long long atomicMin(long long* address, long long value) {
  return ::clipgrad::cuda::emulator::atomic_update(address,
                                                   [value](long long old) { return value < old ? value : old; });
}
inline float atomicExch(float* address, float value) {
  return ::clipgrad::cuda::emulator::atomic(address).exchange(value, std::memory_order_relaxed);
}

inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_system() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// ---- intrinsics and math that <cmath> lacks ----
// The fast-math intrinsics are exact here (a GPU's __expf is an approximation).

inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float __fmaf_rn(float x, float y, float z) { return std::fma(x, y, z); }
inline double __fma_rn(double x, double y, double z) { return std::fma(x, y, z); }

inline int __popc(unsigned x) { return std::popcount(x); }
inline int __popcll(unsigned long long x) { return std::popcount(x); }
inline int __clz(int x) { return std::countl_zero(unsigned(x)); }
inline int __clzll(long long x) { return std::countl_zero((unsigned long long)x); }
inline int __ffs(int x) { return x == 0 ? 0 : std::countr_zero(unsigned(x)) + 1; }
inline int __ffsll(long long x) { return x == 0 ? 0 : std::countr_zero((unsigned long long)x) + 1; }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
inline long long __double_as_longlong(double x) { return std::bit_cast<long long>(x); }
inline double __longlong_as_double(long long x) { return std::bit_cast<double>(x); }

template <class T>
T __ldg(const T* address) {
  return *address;
}

// CUDA's min and max for mixed arithmetic types (the usual conversions; fmin
// and fmax for floating point, which return the other operand for a NaN).
template <class A, class B>
requires(std::is_arithmetic_v<A>&& std::is_arithmetic_v<B>) std::common_type_t<A, B> min(A a, B b) {
  using T = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<T>)
    return std::fmin(T(a), T(b));
  else
    return T(b) < T(a) ? T(b) : T(a);
}
template <class A, class B>
requires(std::is_arithmetic_v<A>&& std::is_arithmetic_v<B>) std::common_type_t<A, B> max(A a, B b) {
  using T = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<T>)
    return std::fmax(T(a), T(b));
  else
    return T(a) < T(b) ? T(b) : T(a);
}

// __trap() ends the launch with an error naming the thread.
inline void __trap(std::source_location where = std::source_location::current()) {
  ::clipgrad::cuda::emulator::trap(where);
}
