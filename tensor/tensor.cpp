#include "tensor/tensor.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <sstream>
#include <stdexcept>
#include <type_traits>

#include "tensor/element_convert.h"

#ifdef CLIPGRAD_HAVE_CUDA
#include "cuda/caching_allocator.h"
#include "cuda/runtime.h"
#endif

namespace clipgrad {

size_t dtype_size(DType dtype) {
  return dispatch_any(dtype, []<class T>() { return sizeof(T); });
}

const char* dtype_name(DType dtype) {
  constexpr const char* kNames[] = {"f32", "f64", "i32", "u8", "bf16"};  // in DType's order
  return kNames[static_cast<int>(dtype)];
}

const char* device_name(Device device) { return device == Device::CPU ? "cpu" : "cuda"; }

std::string shape_str(const Shape& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? "," : "") << shape[i];
  out << ']';
  return out.str();
}

int64_t shape_numel(const Shape& shape) {
  constexpr int64_t kMaxElements = int64_t(1) << 62;  // any dtype's byte count still fits in int64
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0) throw std::invalid_argument("negative dimension in shape " + shape_str(shape));
  for (int64_t d : shape) {
    if (d == 0) return 0;
    if (__builtin_mul_overflow(n, d, &n) || n > kMaxElements)
      throw std::length_error("shape " + shape_str(shape) + " has more than 2^62 elements");
  }
  return n;
}

// ---- Storage ----

namespace {

constexpr size_t kHostAlignment = 64;

class HostAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes) override {
    size_t rounded = (bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
    void* pointer = std::aligned_alloc(kHostAlignment, rounded == 0 ? kHostAlignment : rounded);
    if (!pointer) throw std::bad_alloc();
    return pointer;
  }
  void deallocate(void* pointer, size_t) noexcept override { std::free(pointer); }
};

#ifdef CLIPGRAD_HAVE_CUDA
// The caching allocator of cuda/caching_allocator.h behind tensor's interface:
// after the first training step no tensor costs a cudaMalloc or cudaFree.
class CachingDeviceAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes) override { return cuda::cached_allocate(bytes); }
  void deallocate(void* pointer, size_t) noexcept override { cuda::cached_deallocate(pointer); }
};
#endif

Allocator* g_allocators[2] = {nullptr, nullptr};  // by Device

}  // namespace

Allocator& allocator_for(Device device) {
  static HostAllocator host;
  Allocator*& slot = g_allocators[static_cast<int>(device)];
  if (slot) return *slot;
  if (device == Device::CPU) return host;
#ifdef CLIPGRAD_HAVE_CUDA
  if (!cuda::available())
    throw std::runtime_error("no CUDA device: this machine has no GPU or no NVIDIA driver; use the CPU (--device cpu)");
  static CachingDeviceAllocator caching_device;
  slot = &caching_device;  // installed on first use, as set_allocator would
  return caching_device;
#else
  throw std::runtime_error(
      "this clipgrad was built without CUDA (configure with -DCLIPGRAD_CUDA=ON on a machine with nvcc)");
#endif
}

void set_allocator(Device device, Allocator* allocator) { g_allocators[static_cast<int>(device)] = allocator; }

OutOfMemory::OutOfMemory(size_t bytes, const char* where) : bytes_(bytes) {
  std::snprintf(message_, sizeof message_, "out of memory: %.3g GB asked for at once (%s)", double(bytes) / 1e9, where);
}

Storage::Storage(size_t bytes, Device device) : Storage(bytes, device, allocator_for(device)) {}

Storage::Storage(size_t bytes, Device device, Allocator& allocator)
    : bytes_(bytes), device_(device), allocator_(&allocator) {
  try {
    data_ = allocator_->allocate(bytes);
  } catch (const OutOfMemory&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(bytes, device == Device::CPU ? "host memory, a tensor" : "CUDA device memory, a tensor");
  }
}

Storage::~Storage() { allocator_->deallocate(data_, bytes_); }

// ---- Tensor ----

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  return allocate(shape, dtype, device, allocator_for(device));
}

Tensor Tensor::empty_in(Allocator& host_memory, const Shape& shape, DType dtype) {
  return allocate(shape, dtype, Device::CPU, host_memory);
}

Tensor Tensor::allocate(const Shape& shape, DType dtype, Device device, Allocator& memory) {
  Tensor t;
  t.shape_ = shape;
  t.numel_ = shape_numel(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = std::make_shared<Storage>(t.nbytes(), device, memory);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (device == Device::CPU) {
    std::memset(t.raw_data(), 0, t.nbytes());
  } else {
#ifdef CLIPGRAD_HAVE_CUDA
    cuda::device_memset_zero(t.raw_data(), t.nbytes());
#endif
  }
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

int64_t Tensor::size(int64_t d) const {
  int64_t n = dim();
  int64_t k = d < 0 ? d + n : d;
  if (k < 0 || k >= n)
    throw std::out_of_range("dimension " + std::to_string(d) + " out of range for shape " + shape_str(shape_));
  return shape_[k];
}

void* Tensor::raw_data() const {
  if (!storage_) throw std::logic_error("access to an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_bytes_;
}

void Tensor::check_dtype(DType expected) const {
  if (!storage_) throw std::logic_error("access to an undefined tensor");
  if (dtype_ != expected)
    throw std::invalid_argument(std::string("tensor has dtype ") + dtype_name(dtype_) + ", accessed as " +
                                dtype_name(expected));
  if (device_ != Device::CPU) throw std::logic_error("host access to a CUDA tensor; copy it with to(Device::CPU)");
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape resolved = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i] == -1) {
      if (infer >= 0) throw std::invalid_argument("reshape: more than one -1 in " + shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      known *= resolved[i];
    }
  }
  if (infer >= 0 && known > 0 && numel_ % known == 0) resolved[infer] = numel_ / known;
  if (shape_numel(resolved) != numel_)
    throw std::invalid_argument("reshape: cannot view " + shape_str(shape_) + " as " + shape_str(shape));
  Tensor view = *this;
  view.shape_ = resolved;
  return view;
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  if (dim() == 0 || begin < 0 || end < begin || end > shape_[0])
    throw std::out_of_range("rows(" + std::to_string(begin) + "," + std::to_string(end) + ") of shape " +
                            shape_str(shape_));
  Tensor view = *this;
  int64_t row_numel = shape_[0] == 0 ? 0 : numel_ / shape_[0];
  view.shape_[0] = end - begin;
  view.numel_ = row_numel * (end - begin);
  view.offset_bytes_ += begin * row_numel * dtype_size(dtype_);
  return view;
}

Tensor Tensor::clone() const {
  Tensor copy = empty(shape_, dtype_, device_);
  copy.copy_from(*this);
  return copy;
}

void Tensor::copy_from(const Tensor& source) {
  if (source.shape_ != shape_ || source.dtype_ != dtype_)
    throw std::invalid_argument("copy_from: " + shape_str(source.shape_) + " " + dtype_name(source.dtype_) + " into " +
                                shape_str(shape_) + " " + dtype_name(dtype_));
  if (device_ == Device::CPU && source.device_ == Device::CPU) {
    std::memcpy(raw_data(), source.raw_data(), nbytes());
    return;
  }
#ifdef CLIPGRAD_HAVE_CUDA
  cuda::memcpy(raw_data(), device_ == Device::CUDA, source.raw_data(), source.device_ == Device::CUDA, nbytes());
#else
  throw std::runtime_error("this clipgrad was built without CUDA");
#endif
}

Tensor Tensor::to(DType dtype) const {
  if (device_ != Device::CPU)
    throw std::logic_error(std::string("Tensor::to(") + dtype_name(dtype) + "): this tensor is on " +
                           device_name(device_) +
                           "; convert it there with ops::convert (tensor/ops/elementwise.h), not through the host");
  Tensor out = empty(shape_, dtype);
  const int64_t n = numel_;
  dispatch_any(dtype_, [&]<class From>() {
    dispatch_any(dtype, [&]<class To>() {
      const From* in = data<From>();
      To* converted = out.data<To>();
      for (int64_t i = 0; i < n; ++i) converted[i] = convert_element<To>(in[i]);
    });
  });
  return out;
}

Tensor Tensor::to(Device device) const {
  if (device == device_) return *this;
  Tensor out = empty(shape_, dtype_, device);
  out.copy_from(*this);
  return out;
}

void Tensor::fill(double value) {
  Tensor host = device_ == Device::CPU ? *this : empty(shape_, dtype_);
  dispatch_any(dtype_, [&]<class T>() { std::fill_n(host.data<T>(), numel_, convert_element<T>(value)); });
  if (device_ != Device::CPU) copy_from(host);
}

double Tensor::item() const {
  if (numel_ != 1) throw std::invalid_argument("item() of a tensor with shape " + shape_str(shape_));
  const Tensor host = to(Device::CPU);
  return dispatch_any(dtype_, [&]<class T>() { return convert_element<double>(host.data<T>()[0]); });
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  if (a.shape() != b.shape())
    throw std::invalid_argument(std::string(op) + ": shapes differ, " + shape_str(a.shape()) + " vs " +
                                shape_str(b.shape()));
}

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  if (a.dtype() != b.dtype())
    throw std::invalid_argument(std::string(op) + ": operands have dtypes " + dtype_name(a.dtype()) + " and " +
                                dtype_name(b.dtype()) + "; convert one with to(dtype)");
}

void check_floating(const Tensor& t, const char* op) {
  if (t.dtype() != DType::F32 && t.dtype() != DType::F64)
    throw std::invalid_argument(std::string(op) + ": expected f32 or f64, got " + dtype_name(t.dtype()));
}

}  // namespace clipgrad
