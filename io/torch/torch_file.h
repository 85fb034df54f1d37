// PyTorch checkpoint files, read natively and safely (nothing in them is run):
//   - torch.save since PyTorch 1.6: a zip of PREFIX/data.pkl (the pickled
//     object) and PREFIX/data/KEY (one storage each, raw), with
//     PREFIX/byteorder and PREFIX/version;
//   - torch.save before 1.6 (legacy): pickles of a magic number, the protocol
//     version and sys_info, then the object, then the list of storage keys,
//     then each storage as an int64 element count and its raw bytes;
//   - TorchScript (torch.jit.save): the same zip, with data.pkl holding the
//     module objects; parameter and buffer names are their attribute paths
//     (the classes' __parameters__/__buffers__ in PREFIX/code/ say which).
// The pickles go through a restricted unpickler (io/torch/pickle.h).
//
// The state dict is found as torch users save it: the top-level dict of
// tensors itself, or its 'state_dict' or 'model' entry; DDP's 'module.'
// prefix is stripped; every other top-level entry (epoch, optimizer, scaler,
// ...) is listed in `extras` and never materialised.
//
// Tensors come back as the safetensors reader gives them (io/safetensors.h):
// F32, F16, BF16 -> f32 (exact); F64 -> f64; I64 (range-checked), I32 -> i32;
// U8, BOOL -> u8; views (strides, offsets) made contiguous. Any problem
// throws TorchFileError("bad checkpoint 'PATH': what").
#pragma once

#include <cstddef>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "io/safetensors.h"

namespace clipgrad::io {

class TorchFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class TorchFormat { Zip, Legacy, TorchScript };

// "torch.save (zip)", "torch.save (legacy, before PyTorch 1.6)", "TorchScript archive".
const char* torch_format_name(TorchFormat format);

struct TorchCheckpoint {
  TorchFormat format = TorchFormat::Zip;
  std::map<std::string, StoredTensor> tensors;  // the state dict, by name
  std::string state_dict_key;                   // "" (the top level), "state_dict" or "model"
  bool stripped_module_prefix = false;          // the names carried DDP's "module."
  // Other top-level entries, in file order: key -> what it holds ("10",
  // "optimizer state: 3 tensors (not read)", ...).
  std::vector<std::pair<std::string, std::string>> extras;
  std::string source;  // path or label, for error messages
};

// True for the first bytes of a zip archive or of a legacy torch.save file
// (a pickle of its magic number): the two ways a PyTorch checkpoint starts. A
// safetensors file starts with a little-endian header length and JSON, which
// never look like either.
bool looks_like_torch_file(const unsigned char* bytes, size_t size);
bool looks_like_torch_file(const std::string& path);  // reads the first bytes; false if unreadable

TorchCheckpoint read_torch_file(const std::string& path);  // maps the file, then parse_torch_file
// Parses bytes already in memory; `label` names them in errors (the fuzz target uses this).
TorchCheckpoint parse_torch_file(const std::string& label, const unsigned char* bytes, size_t size);

}  // namespace clipgrad::io
