// libFuzzer target: parse_safetensors on arbitrary bytes. A SafetensorsError is
// the expected answer to bad input; anything else escaping (another exception,
// a crash, a sanitizer report, a huge allocation) is a bug in the reader.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "io/safetensors.h"

namespace {

// The reader promises each stored dtype comes back as one in-memory dtype.
clipgrad::DType expected_dtype(const std::string& stored) {
  if (stored == "F32" || stored == "F16" || stored == "BF16") return clipgrad::DType::F32;
  if (stored == "F64") return clipgrad::DType::F64;
  if (stored == "I64" || stored == "I32") return clipgrad::DType::I32;
  if (stored == "U8" || stored == "BOOL") return clipgrad::DType::U8;
  throw std::logic_error("reader returned unknown stored dtype '" + stored + "'");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const clipgrad::io::SafetensorsFile file = clipgrad::io::parse_safetensors("fuzz-input", data, size);
    for (const auto& [name, stored] : file.tensors) {
      if (!stored.value.defined() || stored.value.dtype() != expected_dtype(stored.stored_dtype))
        throw std::logic_error("tensor '" + name + "' came back in the wrong dtype");
    }
  } catch (const clipgrad::io::SafetensorsError&) {
  }
  return 0;
}
