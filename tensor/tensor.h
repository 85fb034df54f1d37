// Tensor: a contiguous, row-major block of one dtype on one device.
//
// A Tensor is a cheap handle: copies share the storage. Views exist only where
// they are free (reshape, a range of leading rows); everything else is an
// explicit op that writes a new tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace clipgrad {

enum class DType : uint8_t { F32, F64, I32, U8 };
enum class Device : uint8_t { CPU, CUDA };

using Shape = std::vector<int64_t>;

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);
const char* device_name(Device device);
std::string shape_str(const Shape& shape);  // "[4,3,32,32]"
int64_t shape_numel(const Shape& shape);

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::I32; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::U8; }

// Owns one allocation: 64-byte aligned host memory, or device memory.
class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false

  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32);
  static Tensor scalar(double value, DType dtype = DType::F32);  // shape []
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
  template <class T> T* data();
  template <class T> const T* data() const;
  void* raw_data() const;

  // Views (share storage).
  Tensor reshape(const Shape& shape) const;  // one entry may be -1
  Tensor rows(int64_t begin, int64_t end) const;  // [begin,end) of dim 0

  // Copies.
  Tensor clone() const;
  Tensor to(DType dtype) const;    // converts values (always a new tensor)
  Tensor to(Device device) const;  // same tensor if already there
  void copy_from(const Tensor& source);  // same shape and dtype
  void fill(double value);
  double item() const;  // numel must be 1
  template <class T> std::vector<T> to_vector() const;

  // True when no other Tensor handle shares this storage.
  bool storage_unique() const { return storage_.use_count() == 1; }
  bool same_storage(const Tensor& other) const { return storage_ == other.storage_; }

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_bytes_ = 0;
  Shape shape_;
  int64_t numel_ = 0;
  DType dtype_ = DType::F32;
  Device device_ = Device::CPU;
  void check_dtype(DType expected) const;
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

void check_same_shape(const Tensor& a, const Tensor& b, const char* op);
void check_floating(const Tensor& t, const char* op);

}  // namespace clipgrad

#include "tensor/tensor_inl.h"
