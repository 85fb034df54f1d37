// Tensor: a contiguous, row-major block of one dtype on one device.
//
// A Tensor is a cheap handle: copies share the storage. Views exist only where
// they are free (reshape, a range of leading rows); everything else is an
// explicit op that writes a new tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <vector>

namespace clipgrad {

// BF16 is storage for mixed precision on CUDA: conversions (to(), safetensors)
// exist on every device; its kernels come with the CUDA backend.
enum class DType : uint8_t { F32, F64, I32, U8, BF16 };
enum class Device : uint8_t { CPU, CUDA };

using Shape = std::vector<int64_t>;

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);
const char* device_name(Device device);
std::string shape_str(const Shape& shape);  // "[4,3,32,32]"
// The element count; throws for a negative size or a count past 2^62 elements
// (shape arithmetic that would overflow), naming the shape.
int64_t shape_numel(const Shape& shape);

// A bfloat16 value as stored: its 16 bits (tensor/float16.h converts).
struct bfloat16 {
  uint16_t bits;
};

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::F32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::F64;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::I32;
}
template <>
constexpr DType dtype_of<uint8_t>() {
  return DType::U8;
}
template <>
constexpr DType dtype_of<bfloat16>() {
  return DType::BF16;
}

// Where a device's memory comes from. The CPU's is 64-byte aligned host
// memory; the CUDA backend installs its own (a caching allocator) with
// set_allocator, the one place device memory is obtained and returned.
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;  // bytes may be 0; never returns null (throws)
  virtual void deallocate(void* pointer, size_t bytes) noexcept = 0;
};
Allocator& allocator_for(Device device);                  // throws for CUDA in a build without it
void set_allocator(Device device, Allocator* allocator);  // not owned; must outlive every tensor

// An allocation that failed, with its size: what the CLI's one-line error names.
// (The clipgrad binary's operator new throws it too, cli/main.cpp.)
class OutOfMemory : public std::bad_alloc {
 public:
  OutOfMemory(size_t bytes, const char* where);
  const char* what() const noexcept override { return message_; }
  size_t bytes() const { return bytes_; }

 private:
  size_t bytes_;
  char message_[96];  // no std::string: building one could fail for want of memory too
};

// Owns one allocation from its device's allocator (a failure throws OutOfMemory).
class Storage {
 public:
  Storage(size_t bytes, Device device);
  Storage(size_t bytes, Device device, Allocator& allocator);  // memory from `allocator`, not the device's
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  const Allocator& allocator() const { return *allocator_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
  Allocator* allocator_;
};

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false

  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor scalar(double value, DType dtype = DType::F32, Device device = Device::CPU);  // shape []
  // Uninitialised, with this tensor's shape, dtype and device.
  static Tensor empty_like(const Tensor& other) { return empty(other.shape(), other.dtype(), other.device()); }
  // Uninitialised, on the CPU, in memory from `host_memory` instead of the
  // CPU's allocator (DeviceUpload::host_memory: page-locked memory that
  // uploads without a staging copy).
  static Tensor empty_in(Allocator& host_memory, const Shape& shape, DType dtype = DType::F32);
  template <class T>
  static Tensor from_vector(const Shape& shape, const std::vector<T>& values);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return numel_ * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }

  // Typed element access; throws if T does not match the dtype.
  template <class T>
  T* data();
  template <class T>
  const T* data() const;
  void* raw_data() const;

  // Views (share storage).
  Tensor reshape(const Shape& shape) const;       // one entry may be -1
  Tensor rows(int64_t begin, int64_t end) const;  // [begin,end) of dim 0

  // Copies.
  Tensor clone() const;
  // Converts values (always a new tensor), on the CPU only: a device tensor
  // throws, pointing at ops::convert, which converts where the tensor lives.
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;        // same tensor if already there
  void copy_from(const Tensor& source);  // same shape and dtype
  void fill(double value);
  double item() const;  // numel must be 1
  template <class T>
  std::vector<T> to_vector() const;

  // True when no other Tensor handle shares this storage.
  bool storage_unique() const { return storage_.use_count() == 1; }
  bool same_storage(const Tensor& other) const { return storage_ == other.storage_; }
  // Whether this tensor's memory came from `memory` (false for an undefined tensor).
  bool allocated_by(const Allocator& memory) const { return storage_ && &storage_->allocator() == &memory; }

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_bytes_ = 0;
  Shape shape_;
  int64_t numel_ = 0;
  DType dtype_ = DType::F32;
  Device device_ = Device::CPU;
  void check_dtype(DType expected) const;
  static Tensor allocate(const Shape& shape, DType dtype, Device device, Allocator& memory);
};

template <class T>
T* Tensor::data() {
  check_dtype(dtype_of<T>());
  return reinterpret_cast<T*>(raw_data());
}
template <class T>
const T* Tensor::data() const {
  check_dtype(dtype_of<T>());
  return reinterpret_cast<const T*>(raw_data());
}

// Calls body.template operator()<T>() with T = float or double for the
// tensor's dtype; throws for other dtypes. Keeps the f32/f64 kernels one template.
template <class Body>
decltype(auto) dispatch_floating(DType dtype, const char* op, Body&& body);
// The same over every dtype: float, double, int32_t, uint8_t or bfloat16.
template <class Body>
decltype(auto) dispatch_any(DType dtype, Body&& body);

// Each throws std::invalid_argument naming `op`.
void check_same_shape(const Tensor& a, const Tensor& b, const char* op);
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op);
void check_floating(const Tensor& t, const char* op);

}  // namespace clipgrad

#include "tensor/tensor_inl.h"
