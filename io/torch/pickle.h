// A restricted unpickler for PyTorch checkpoints: it builds a tree of plain
// values and never calls anything.
//
// Python's pickle is a small stack machine whose GLOBAL and REDUCE opcodes
// import and call arbitrary functions; that is how a checkpoint runs code on
// torch.load. Here GLOBAL accepts only an allow-list (the tensor-rebuild
// functions, storage types, OrderedDict, the few builtins a state dict needs,
// and for TorchScript its `__torch__.` classes) and REDUCE on one of them
// builds the value it stands for (a TensorRef, a dict, a set, ...). Any other
// global is refused with an error naming it, before any later opcode runs.
// Every length, index and count is checked against the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace clipgrad::io {

enum class PyKind {
  None,
  Bool,
  Int,
  BigInt,
  Float,
  String,
  Bytes,
  List,
  Tuple,
  Dict,
  Set,
  Global,
  Object,
  Storage,
  Tensor
};

const char* py_kind_name(PyKind kind);

struct PyValue;
using PyRef = PyValue*;  // owned by the Unpickler that made it (values may share and even cycle)

// A storage named by a persistent id: ('storage', torch.FloatStorage, key, location, numel[, view]).
struct TorchStorageRef {
  std::string key;    // the zip entry data/KEY, or the legacy storage key
  std::string dtype;  // safetensors-style name: F32, F16, BF16, F64, I64, I32, U8, BOOL
  size_t element_size = 0;
  uint64_t numel = 0;        // elements in the (view of the) storage
  uint64_t view_offset = 0;  // legacy views: elements into the root storage
};

// torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...): checked
// to lie inside its storage when built.
struct TorchTensorRef {
  PyRef storage = nullptr;
  int64_t offset = 0;  // in elements
  std::vector<int64_t> size, stride;
};

struct PyValue {
  PyKind kind = PyKind::None;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  // String and Bytes: the bytes; BigInt: little-endian two's complement;
  // Global: "module.name"; Object: its class ("__torch__.model.CLIP").
  std::string text;
  std::vector<PyRef> items;                      // List, Tuple, Set
  std::vector<std::pair<PyRef, PyRef>> entries;  // Dict (in order); Object attributes
  TorchStorageRef storage;
  TorchTensorRef tensor;
};

class Unpickler {
 public:
  // Turns a persistent id (the tuple BINPERSID pops) into a Storage value, or throws.
  using PersistentLoad = std::function<PyRef(Unpickler&, PyRef pid)>;

  // `label` names the file in errors ("bad checkpoint 'LABEL': ...").
  // `torchscript` admits `__torch__.` classes (module objects kept as attribute trees).
  // `max_values` bounds the values all its loads build together (each costs ~250 bytes;
  // torch_file.cpp gives one per byte of the file, plus 65,536).
  Unpickler(std::string label, PersistentLoad persistent_load, bool torchscript = false,
            size_t max_values = kMaxPickleValues);

  // Far more than any checkpoint's pickle holds (a ViT-L state dict: ~10^4 values).
  static constexpr size_t kMaxPickleValues = size_t(1) << 22;

  // Runs one pickle starting at bytes[offset] up to its STOP; returns its
  // value and moves `offset` past the STOP.
  PyRef load(const unsigned char* bytes, size_t size, size_t& offset);

  PyRef make(PyKind kind);  // a new value owned by this unpickler
  [[noreturn]] void fail(const std::string& what) const;
  const std::string& label() const { return label_; }

 private:
  PyRef global(const std::string& module, const std::string& name);
  PyRef reduce(PyRef callable, PyRef args);
  PyRef new_object(PyRef cls, PyRef args);
  void build(PyRef target, PyRef state);
  PyRef rebuild_tensor(PyRef args, bool v2);

  std::string label_;
  PersistentLoad persistent_load_;
  bool torchscript_;
  size_t max_values_;
  std::deque<PyValue> arena_;
};

// ---- reading values (each throws via the unpickler, naming `what`) ----

int64_t py_int(const Unpickler& u, PyRef value, const std::string& what);
const std::string& py_string(const Unpickler& u, PyRef value, const std::string& what);
// dict[key] for a string key, or nullptr.
PyRef py_get(PyRef dict, const std::string& key);

}  // namespace clipgrad::io
