// safetensors, read and written by us (nlohmann parses the JSON header only).
//
// File layout: u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"key": "value", ...}}, then the data block.
// The reader validates everything before it allocates: header length within the
// file, valid JSON, known dtypes, shapes whose byte size equals the span, spans
// inside the data block and not overlapping. Any failure throws
// SafetensorsError("bad checkpoint 'PATH': what is wrong").
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace clipgrad::io {

class SafetensorsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One tensor as stored. Values are converted to our dtypes on read:
// F32, F16, BF16 -> f32; F64 -> f64; I64 (range-checked), I32 -> i32; U8, BOOL -> u8.
// stored_dtype keeps the file's dtype name ("I64", "BF16", ...) so a round trip
// can write it back as it was.
struct StoredTensor {
  Tensor value;
  std::string stored_dtype;
};

struct SafetensorsFile {
  std::map<std::string, StoredTensor> tensors;      // by name, sorted
  std::map<std::string, std::string> metadata;      // "__metadata__"
  std::string source;                               // path or label it was read from, for error messages
  const Tensor& at(const std::string& name) const;  // throws naming the missing tensor
  bool contains(const std::string& name) const { return tensors.count(name) != 0; }
};

SafetensorsFile read_safetensors(const std::string& path);
// The "__metadata__" of a file, reading its header alone (not its tensors).
std::map<std::string, std::string> read_safetensors_metadata(const std::string& path);
// Parses bytes already in memory; `label` names them in errors (the fuzz target uses this).
SafetensorsFile parse_safetensors(const std::string& label, const unsigned char* bytes, size_t size);

// Writes atomically (temp file + rename). Each tensor is written in its
// stored_dtype when given (F32, F64, F16, BF16, I64, I32, U8, BOOL), else in
// its own dtype (f32 -> F32, f64 -> F64, i32 -> I32, u8 -> U8).
void write_safetensors(const std::string& path, const std::map<std::string, StoredTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// Convenience: every tensor in its own dtype.
void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace clipgrad::io
