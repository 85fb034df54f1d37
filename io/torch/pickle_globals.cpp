// The allow-list of the restricted unpickler (io/torch/pickle.h): which
// globals a pickle may name, and what REDUCE, NEWOBJ and BUILD on them build.
// Nothing here calls anything: each allowed global stands for a value.
#include "io/torch/pickle.h"

#include <cstring>
#include <limits>
#include <set>

#include "io/torch/torch_file.h"

namespace clipgrad::io {

namespace {

constexpr size_t kMaxDims = 32;

// Storage classes torch writes, by name, to the stored dtype and element size.
struct StorageType {
  const char* name;
  const char* dtype;
  size_t element_size;
};
constexpr StorageType kStorageTypes[] = {
    {"FloatStorage", "F32", 4}, {"HalfStorage", "F16", 2}, {"BFloat16Storage", "BF16", 2}, {"DoubleStorage", "F64", 8},
    {"LongStorage", "I64", 8},  {"IntStorage", "I32", 4},  {"ByteStorage", "U8", 1},       {"BoolStorage", "BOOL", 1},
};

// Globals that REDUCE turns into values (see Unpickler::reduce).
const std::set<std::string> kCallables = {
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "collections.OrderedDict",
    "builtins.set",
    "builtins.frozenset",
    "_codecs.encode",
    "torch.device",
    "torch.Size",
    "torch.jit._pickle.restore_type_tag",
    "torch.jit._pickle.build_intlist",
    "torch.jit._pickle.build_doublelist",
    "torch.jit._pickle.build_boollist",
    "torch.jit._pickle.build_tensorlist",
};

// Globals that may appear as plain values (never called).
const std::set<std::string> kValues = {
    "torch.float32", "torch.float16", "torch.bfloat16", "torch.float64", "torch.int64", "torch.int32", "torch.uint8",
    "torch.bool",    "torch.float",   "torch.half",     "torch.double",  "torch.long",  "torch.int",
};

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

const StorageType* storage_type(const std::string& global) {
  for (const char* module : {"torch.", "torch.cuda."})
    if (starts_with(global, module)) {
      const std::string name = global.substr(std::strlen(module));
      for (const StorageType& type : kStorageTypes)
        if (name == type.name) return &type;
    }
  return nullptr;
}

}  // namespace

PyRef Unpickler::global(const std::string& module, const std::string& name) {
  const std::string full = module + "." + name;
  const bool allowed = kCallables.count(full) || kValues.count(full) || storage_type(full) ||
                       (torchscript_ && (module == "__torch__" || starts_with(module, "__torch__.")));
  if (!allowed)
    fail("the pickle names the global '" + full +
         "', which is not on the allow-list of what a checkpoint holds (tensors, storages, OrderedDict, "
         "plain values); refused, and nothing was run");
  PyRef value = make(PyKind::Global);
  value->text = full;
  return value;
}

PyRef Unpickler::rebuild_tensor(PyRef args, bool v2) {
  if (args->kind != PyKind::Tuple || args->items.size() < (v2 ? 6u : 4u))
    fail("a tensor is rebuilt from a malformed argument tuple");
  PyRef storage = args->items[0];
  if (storage->kind != PyKind::Storage)
    fail("a tensor is rebuilt from a " + std::string(py_kind_name(storage->kind)) + ", not a storage");
  PyRef result = make(PyKind::Tensor);
  TorchTensorRef& tensor = result->tensor;
  tensor.storage = storage;
  tensor.offset = py_int(*this, args->items[1], "a tensor's storage offset");
  for (auto [list, target] : {std::pair{args->items[2], &tensor.size}, std::pair{args->items[3], &tensor.stride}}) {
    if (list->kind != PyKind::Tuple && list->kind != PyKind::List) fail("a tensor's size or stride is not a tuple");
    if (list->items.size() > kMaxDims) fail("a tensor has more than " + std::to_string(kMaxDims) + " dims");
    for (PyRef item : list->items) target->push_back(py_int(*this, item, "a tensor's size or stride"));
  }
  if (tensor.size.size() != tensor.stride.size()) fail("a tensor's size and stride have different lengths");
  // The largest element index the view reaches must lie inside its storage.
  const uint64_t numel_limit = std::numeric_limits<int64_t>::max();
  if (tensor.offset < 0) fail("a tensor has a negative storage offset");
  uint64_t numel = 1, last = static_cast<uint64_t>(tensor.offset);
  for (size_t d = 0; d < tensor.size.size(); ++d) {
    if (tensor.size[d] < 0 || tensor.stride[d] < 0) fail("a tensor has a negative size or stride");
    const uint64_t size = static_cast<uint64_t>(tensor.size[d]), stride = static_cast<uint64_t>(tensor.stride[d]);
    if (size != 0 && numel > numel_limit / size) fail("a tensor's element count overflows");
    numel *= size;
    if (size > 1 && stride > (numel_limit - last) / (size - 1)) fail("a tensor's strides overflow");
    if (size > 1) last += (size - 1) * stride;
  }
  if (numel > 0 && last >= storage->storage.numel)
    fail("a tensor reaches element " + std::to_string(last) + " of storage '" + storage->storage.key +
         "', which holds only " + std::to_string(storage->storage.numel));
  return result;
}

PyRef Unpickler::reduce(PyRef callable, PyRef args) {
  if (callable->kind != PyKind::Global) fail("REDUCE calls a " + std::string(py_kind_name(callable->kind)));
  const std::string& name = callable->text;
  if (!kCallables.count(name))
    fail("the pickle calls '" + name + "', which is not on the allow-list; refused, and nothing was run");
  if (args->kind != PyKind::Tuple) fail("'" + name + "' is given a " + py_kind_name(args->kind) + ", not a tuple");
  const std::vector<PyRef>& a = args->items;
  auto need = [&](size_t count) {
    if (a.size() < count) fail("'" + name + "' is given " + std::to_string(a.size()) + " arguments");
  };
  if (name == "torch._utils._rebuild_tensor_v2") return rebuild_tensor(args, true);
  if (name == "torch._utils._rebuild_tensor") return rebuild_tensor(args, false);
  if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
    need(1);
    if (a[0]->kind != PyKind::Tensor) fail("a parameter is rebuilt from a " + std::string(py_kind_name(a[0]->kind)));
    return a[0];
  }
  if (name == "collections.OrderedDict") {
    PyRef dict = make(PyKind::Dict);
    if (!a.empty()) {
      if (a[0]->kind != PyKind::List && a[0]->kind != PyKind::Tuple) fail("OrderedDict is given a non-list");
      for (PyRef pair : a[0]->items) {
        if (pair->kind != PyKind::Tuple || pair->items.size() != 2) fail("OrderedDict is given a non-pair");
        dict->entries.emplace_back(pair->items[0], pair->items[1]);
      }
    }
    return dict;
  }
  if (name == "builtins.set" || name == "builtins.frozenset") {
    PyRef set = make(PyKind::Set);
    if (!a.empty()) {
      if (a[0]->kind != PyKind::List && a[0]->kind != PyKind::Tuple) fail("set is given a non-list");
      set->items = a[0]->items;
    }
    return set;
  }
  if (name == "_codecs.encode") {  // protocol 2's bytes: encode(text, 'latin1')
    need(2);
    const std::string& text = py_string(*this, a[0], "_codecs.encode's text");
    const std::string& codec = py_string(*this, a[1], "_codecs.encode's codec");
    if (codec != "latin1" && codec != "latin-1") fail("_codecs.encode with codec '" + codec + "'");
    PyRef bytes = make(PyKind::Bytes);
    // UTF-8 code points below 256 back to single bytes.
    for (size_t i = 0; i < text.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(text[i]);
      if (c < 0x80) {
        bytes->text.push_back(static_cast<char>(c));
      } else if ((c & 0xe0) == 0xc0 && c <= 0xc3 && i + 1 < text.size()) {
        bytes->text.push_back(static_cast<char>(((c & 0x1f) << 6) | (static_cast<unsigned char>(text[++i]) & 0x3f)));
      } else {
        fail("_codecs.encode of a non-latin-1 text");
      }
    }
    return bytes;
  }
  if (name == "torch.device") {
    need(1);
    PyRef device = make(PyKind::String);
    device->text = py_string(*this, a[0], "torch.device's type");
    return device;
  }
  if (name == "torch.Size") {
    need(1);
    if (a[0]->kind != PyKind::Tuple && a[0]->kind != PyKind::List) fail("torch.Size is given a non-tuple");
    return a[0];
  }
  // restore_type_tag(value, type) and the build_*list(list) helpers return their first argument.
  need(1);
  return a[0];
}

PyRef Unpickler::new_object(PyRef cls, PyRef args) {
  if (cls->kind != PyKind::Global) fail("NEWOBJ on a " + std::string(py_kind_name(cls->kind)));
  if (cls->text == "collections.OrderedDict") return make(PyKind::Dict);
  if (!torchscript_ || !starts_with(cls->text, "__torch__"))
    fail("the pickle instantiates '" + cls->text + "'; refused, and nothing was run");
  (void)args;
  PyRef object = make(PyKind::Object);
  object->text = cls->text;
  return object;
}

void Unpickler::build(PyRef target, PyRef state) {
  if (target->kind == PyKind::Object) {
    // A TorchScript module's state: its attribute dict (or (dict, slots) from some classes).
    PyRef attributes = state;
    if (state->kind == PyKind::Tuple && !state->items.empty()) attributes = state->items[0];
    if (attributes->kind == PyKind::Dict) {
      target->entries = attributes->entries;
    } else {
      target->items.push_back(state);  // a custom __setstate__ state, kept as it is
    }
    return;
  }
  // An OrderedDict's __dict__ (a state dict's _metadata) and a tensor's Python
  // attributes carry nothing that the weights need.
  if (target->kind == PyKind::Dict || target->kind == PyKind::Tensor) return;
  fail("BUILD on a " + std::string(py_kind_name(target->kind)));
}

}  // namespace clipgrad::io
