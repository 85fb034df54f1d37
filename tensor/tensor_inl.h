// Template definitions for tensor.h.
#pragma once

#include <stdexcept>
#include <string>

namespace clipgrad {

template <class Body>
decltype(auto) dispatch_floating(DType dtype, const char* op, Body&& body) {
  switch (dtype) {
    case DType::F32: return body.template operator()<float>();
    case DType::F64: return body.template operator()<double>();
    default:
      throw std::invalid_argument(std::string(op) + ": expected a floating tensor (f32 or f64), got " +
                                  dtype_name(dtype));
  }
}

template <class Body>
decltype(auto) dispatch_any(DType dtype, Body&& body) {
  switch (dtype) {
    case DType::F32: return body.template operator()<float>();
    case DType::F64: return body.template operator()<double>();
    case DType::I32: return body.template operator()<int32_t>();
    case DType::U8: return body.template operator()<uint8_t>();
    case DType::BF16: return body.template operator()<bfloat16>();
  }
  throw std::invalid_argument("dispatch_any: unknown dtype " + std::to_string(static_cast<int>(dtype)));
}

template <class T>
Tensor Tensor::from_vector(const Shape& shape, const std::vector<T>& values) {
  Tensor t = empty(shape, dtype_of<T>());
  if (static_cast<int64_t>(values.size()) != t.numel())
    throw std::invalid_argument("Tensor::from_vector: " + std::to_string(values.size()) + " values for shape " +
                                shape_str(shape));
  T* out = t.data<T>();
  for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  return t;
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = to(Device::CPU);
  const T* p = host.data<T>();
  return std::vector<T>(p, p + numel_);
}

}  // namespace clipgrad
