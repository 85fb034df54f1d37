#include "io/torch/torch_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <unordered_map>

#include "io/torch/state_dict.h"
#include "io/torch/zip_archive.h"
#include "tensor/float16.h"

namespace clipgrad::io {

using torch_detail::Materialize;

const char* torch_format_name(TorchFormat format) {
  switch (format) {
    case TorchFormat::Zip: return "torch.save (zip)";
    case TorchFormat::Legacy: return "torch.save (legacy, before PyTorch 1.6)";
    case TorchFormat::TorchScript: return "TorchScript archive";
  }
  return "PyTorch file";
}

namespace {

// The magic number legacy files start with, as the little-endian bytes of LONG1.
constexpr unsigned char kLegacyMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
constexpr uint64_t kMaxPickleBytes = uint64_t(1) << 30;
constexpr uint64_t kMaxCodeBytes = uint64_t(64) << 20;
// A view may have more elements than its storage only through zero strides
// (expand); beyond this many such elements it is refused, so a tiny file cannot
// ask for a huge tensor.
constexpr uint64_t kMaxBroadcastElements = uint64_t(1) << 16;
// What a file may make by inflating its deflated entries, all together: 16 MiB plus 16 bytes
// a byte of the file, at most 8 GiB (torch.save stores every entry; only tools that rewrite
// an archive deflate its storages, and weights do not compress 16:1).
constexpr uint64_t kInflateFloor = uint64_t(16) << 20, kInflatePerFileByte = 16, kMaxInflated = uint64_t(8) << 30;
// The values a file's pickles may build: one a byte of the file, plus this many.
constexpr size_t kPickleValuesFloor = size_t(1) << 16;

size_t max_pickle_values(size_t file_bytes) { return kPickleValuesFloor + file_bytes; }

[[noreturn]] void fail(const std::string& label, const std::string& what) {
  throw TorchFileError("bad checkpoint '" + label + "': " + what);
}

// One storage's elements as they lie in the file.
struct StorageBytes {
  const unsigned char* data = nullptr;
  uint64_t size = 0;  // bytes
};

// Reads element `index` (little- or big-endian) as raw bits.
uint64_t load_bits(const unsigned char* at, size_t size, bool big_endian) {
  uint64_t bits = 0;
  for (size_t i = 0; i < size; ++i) bits |= static_cast<uint64_t>(at[big_endian ? size - 1 - i : i]) << (8 * i);
  return bits;
}

// The tensor `name`, gathered element by element through its strides into a
// contiguous tensor of our dtype.
StoredTensor materialize(const std::string& label, const std::string& name, const TorchTensorRef& ref,
                         const StorageBytes& bytes, bool big_endian) {
  const TorchStorageRef& storage = ref.storage->storage;
  uint64_t numel = 1;
  for (int64_t size : ref.size) numel *= static_cast<uint64_t>(size);  // overflow excluded by the unpickler
  if (numel > storage.numel && numel > kMaxBroadcastElements)
    fail(label, "tensor '" + name + "' has " + std::to_string(numel) + " elements but its storage only " +
                    std::to_string(storage.numel) + " (a broadcast view); refused");
  const uint64_t available = bytes.size / storage.element_size;
  if (storage.view_offset > available || storage.numel > available - storage.view_offset)
    fail(label, "tensor '" + name + "' views elements past the end of storage '" + storage.key + "'");
  const std::string& kind = storage.dtype;
  const DType dtype = kind == "F64"                      ? DType::F64
                      : (kind == "I64" || kind == "I32") ? DType::I32
                      : (kind == "U8" || kind == "BOOL") ? DType::U8
                                                         : DType::F32;
  Tensor value = Tensor::empty(Shape(ref.size.begin(), ref.size.end()), dtype);
  const size_t element = storage.element_size;
  const unsigned char* base = bytes.data + (storage.view_offset + static_cast<uint64_t>(ref.offset)) * element;
  const size_t dims = ref.size.size();
  std::vector<int64_t> index(dims, 0);
  for (uint64_t i = 0, at = 0; i < numel; ++i) {
    const uint64_t bits = load_bits(base + at * element, element, big_endian);
    if (kind == "F32") {
      value.data<float>()[i] = std::bit_cast<float>(static_cast<uint32_t>(bits));
    } else if (kind == "F16") {
      value.data<float>()[i] = half_to_float(static_cast<uint16_t>(bits));
    } else if (kind == "BF16") {
      value.data<float>()[i] = bfloat16_to_float(static_cast<uint16_t>(bits));
    } else if (kind == "F64") {
      value.data<double>()[i] = std::bit_cast<double>(bits);
    } else if (kind == "I64") {
      const int64_t integer = static_cast<int64_t>(bits);
      if (integer < std::numeric_limits<int32_t>::min() || integer > std::numeric_limits<int32_t>::max())
        fail(label, "tensor '" + name + "' holds the int64 value " + std::to_string(integer) +
                        ", outside the int32 range clipgrad keeps integers in");
      value.data<int32_t>()[i] = static_cast<int32_t>(integer);
    } else if (kind == "I32") {
      value.data<int32_t>()[i] = static_cast<int32_t>(static_cast<uint32_t>(bits));
    } else {  // U8, BOOL
      value.data<uint8_t>()[i] = kind == "BOOL" ? (bits != 0) : static_cast<uint8_t>(bits);
    }
    // Odometer over the multi-index: `at` is the element offset of `index`.
    for (size_t d = dims; d-- > 0;) {
      if (++index[d] < ref.size[d]) {
        at += ref.stride[d];
        break;
      }
      at -= static_cast<uint64_t>(index[d] - 1) * ref.stride[d];
      index[d] = 0;
    }
  }
  return {value, kind};
}

// ('storage', torch.FloatStorage, key, location, numel[, view]) -> a Storage value.
PyRef storage_from_pid(Unpickler& u, PyRef pid, bool legacy) {
  if (pid->kind != PyKind::Tuple || pid->items.size() < 5)
    u.fail("a persistent id is not a ('storage', type, key, location, size) tuple");
  const std::vector<PyRef>& item = pid->items;
  if (py_string(u, item[0], "a persistent id's kind") != "storage")
    u.fail("a persistent id of kind '" + item[0]->text + "' (only storages are read)");
  if (item[1]->kind != PyKind::Global) u.fail("a storage's type is not a storage class");
  PyRef storage = u.make(PyKind::Storage);
  TorchStorageRef& ref = storage->storage;
  static const std::map<std::string, std::pair<const char*, size_t>> kTypes = {
      {"FloatStorage", {"F32", 4}},  {"HalfStorage", {"F16", 2}}, {"BFloat16Storage", {"BF16", 2}},
      {"DoubleStorage", {"F64", 8}}, {"LongStorage", {"I64", 8}}, {"IntStorage", {"I32", 4}},
      {"ByteStorage", {"U8", 1}},    {"BoolStorage", {"BOOL", 1}}};
  const std::string& type = item[1]->text;
  auto found = kTypes.find(type.substr(type.rfind('.') + 1));
  if (found == kTypes.end())
    u.fail("storage type '" + type + "' is not read (F32, F16, BF16, F64, I64, I32, U8 and BOOL are)");
  ref.dtype = found->second.first;
  ref.element_size = found->second.second;
  ref.key = py_string(u, item[2], "a storage key");
  const int64_t numel = py_int(u, item[4], "a storage size");
  if (numel < 0) u.fail("storage '" + ref.key + "' has a negative size");
  ref.numel = static_cast<uint64_t>(numel);
  if (legacy && item.size() > 5 && item[5]->kind == PyKind::Tuple) {
    // A view into the root storage: (view_key, offset, view_size).
    const std::vector<PyRef>& view = item[5]->items;
    if (view.size() < 3) u.fail("storage '" + ref.key + "' has a malformed view");
    const int64_t offset = py_int(u, view[1], "a storage view offset"), size = py_int(u, view[2], "a view size");
    if (offset < 0 || size < 0 || static_cast<uint64_t>(offset) > ref.numel ||
        static_cast<uint64_t>(size) > ref.numel - static_cast<uint64_t>(offset))
      u.fail("storage '" + ref.key + "' has a view outside it");
    ref.view_offset = static_cast<uint64_t>(offset);
    ref.numel = static_cast<uint64_t>(size);
  }
  return storage;
}

uint64_t checked_bytes(const std::string& label, const std::string& key, uint64_t numel, size_t element) {
  if (numel > std::numeric_limits<uint64_t>::max() / element) fail(label, "storage '" + key + "' is too large");
  return numel * element;
}

// Reads zip entries, holding what inflating them makes to one budget for the file.
class InflateBudget {
 public:
  InflateBudget(std::string label, const ZipArchive& archive, size_t file_bytes)
      : label_(std::move(label)),
        archive_(archive),
        left_(std::min(kMaxInflated, kInflateFloor + kInflatePerFileByte * static_cast<uint64_t>(file_bytes))),
        file_bytes_(file_bytes) {}

  // The entry's bytes (at most `limit`); a deflated entry is inflated only within the budget.
  std::string read(const ZipEntry& entry, uint64_t limit) {
    if (entry.method != 0) {
      if (entry.size > left_)
        fail(label_, "zip entry '" + entry.name + "' inflates to " + std::to_string(entry.size) + " bytes, past the " +
                         std::to_string(left_) + " left of what a " + std::to_string(file_bytes_) +
                         "-byte file may decode to (16 MiB + 16 bytes a byte of the file)");
      left_ -= entry.size;
    }
    return archive_.read(entry, limit);
  }
  const ZipArchive& archive() const { return archive_; }

 private:
  std::string label_;
  const ZipArchive& archive_;
  uint64_t left_;
  size_t file_bytes_;
};

// The record prefix, with its slash: the name the file had when saved ("archive/", "model/", ...).
std::string record_prefix(const ZipArchive& archive) {
  for (const ZipEntry& entry : archive.entries()) {
    const size_t slash = entry.name.find('/');
    if (slash != std::string::npos && entry.name.compare(slash, std::string::npos, "/data.pkl") == 0)
      return entry.name.substr(0, slash + 1);
  }
  return "";
}

// TorchScript archives have a constants.pkl or code/ beside their data.pkl.
bool is_torchscript(const ZipArchive& archive, const std::string& prefix) {
  bool torchscript = archive.find(prefix + "constants.pkl") != nullptr;
  for (const ZipEntry& entry : archive.entries())
    torchscript = torchscript || entry.name.rfind(prefix + "code/", 0) == 0;
  return torchscript;
}

// Whether the storages are big-endian, as the byteorder record says (little without one).
bool big_endian_storages(const std::string& label, InflateBudget& reader, const std::string& prefix) {
  const ZipEntry* order = reader.archive().find(prefix + "byteorder");
  if (!order) return false;
  const std::string text = reader.read(*order, 16);
  if (text != "little" && text != "big") fail(label, "byteorder is '" + text + "', expected little or big");
  return text == "big";
}

// A TorchScript archive's parameters and buffers, named by the attributes each class declares;
// class "__torch__.a.b.C" is declared in code/__torch__/a/b.py, read once when first needed.
void collect_torchscript_tensors(const Unpickler& unpickler, PyRef root, InflateBudget& reader,
                                 const std::string& prefix, const Materialize& read_tensor, TorchCheckpoint& out) {
  const ZipArchive& archive = reader.archive();
  std::map<std::string, std::map<std::string, std::set<std::string>>> files;
  auto declared = [&](const std::string& class_name) -> const std::set<std::string>* {
    const size_t dot = class_name.rfind('.');
    if (dot == std::string::npos) return nullptr;
    std::string module = class_name.substr(0, dot);
    auto file = files.find(module);
    if (file == files.end()) {
      std::string path = module;
      for (char& c : path)
        if (c == '.') c = '/';
      const ZipEntry* entry = archive.find(prefix + "code/" + path + ".py");
      file = files
                 .emplace(module, entry ? torch_detail::parse_declared_tensors(reader.read(*entry, kMaxCodeBytes))
                                        : std::map<std::string, std::set<std::string>>{})
                 .first;
    }
    auto found = file->second.find(class_name.substr(dot + 1));
    return found == file->second.end() ? nullptr : &found->second;
  };
  torch_detail::collect_module_tensors(unpickler, root, declared, read_tensor, out);
}

TorchCheckpoint parse_zip(const std::string& label, const unsigned char* bytes, size_t size) {
  ZipArchive archive(label, bytes, size);
  const std::string prefix = record_prefix(archive);
  const ZipEntry* pickle_entry = archive.find(prefix + "data.pkl");
  if (!pickle_entry) fail(label, "a zip archive without a data.pkl: not a PyTorch checkpoint");
  const bool torchscript = is_torchscript(archive, prefix);
  InflateBudget reader(label, archive, size);
  const bool big_endian = big_endian_storages(label, reader, prefix);

  TorchCheckpoint out;
  out.source = label;
  out.format = torchscript ? TorchFormat::TorchScript : TorchFormat::Zip;
  auto persistent_load = [&](Unpickler& u, PyRef pid) {
    PyRef storage = storage_from_pid(u, pid, false);
    const TorchStorageRef& ref = storage->storage;
    const ZipEntry* entry = archive.find(prefix + "data/" + ref.key);
    if (!entry) u.fail("storage '" + ref.key + "' has no entry " + prefix + "data/" + ref.key + " in the archive");
    if (entry->size < checked_bytes(label, ref.key, ref.numel, ref.element_size))
      u.fail("storage '" + ref.key + "' holds " + std::to_string(entry->size) + " bytes, less than its " +
             std::to_string(ref.numel) + " elements of " + ref.dtype);
    return storage;
  };
  Unpickler unpickler(label, persistent_load, torchscript, max_pickle_values(size));
  const std::string pickle = reader.read(*pickle_entry, kMaxPickleBytes);
  size_t offset = 0;
  PyRef root = unpickler.load(reinterpret_cast<const unsigned char*>(pickle.data()), pickle.size(), offset);

  std::unordered_map<std::string, StorageBytes> verified;  // each storage's CRC checked once
  std::unordered_map<std::string, std::string> inflated;   // storages a rewriting tool deflated
  Materialize read_tensor = [&](const std::string& name, const TorchTensorRef& ref) {
    const std::string& key = ref.storage->storage.key;
    auto found = verified.find(key);
    if (found == verified.end()) {
      const ZipEntry& entry = *archive.find(prefix + "data/" + key);
      const unsigned char* data = nullptr;
      if (entry.method == 0) {
        data = archive.stored_data(entry);
      } else {
        // Only storages a tensor of the state dict uses are inflated, within the file's budget.
        const std::string& text = inflated.emplace(key, reader.read(entry, entry.size)).first->second;
        data = reinterpret_cast<const unsigned char*>(text.data());
      }
      found = verified.emplace(key, StorageBytes{data, entry.size}).first;
    }
    return materialize(label, name, ref, found->second, big_endian);
  };
  if (torchscript)
    collect_torchscript_tensors(unpickler, root, reader, prefix, read_tensor, out);
  else
    torch_detail::collect_state_dict(unpickler, root, read_tensor, out);
  return out;
}

TorchCheckpoint parse_legacy(const std::string& label, const unsigned char* bytes, size_t size) {
  TorchCheckpoint out;
  out.source = label;
  out.format = TorchFormat::Legacy;
  // Storage key -> its element size, which says how long its bytes are in the file.
  std::unordered_map<std::string, size_t> element_sizes;
  auto persistent_load = [&](Unpickler& u, PyRef pid) {
    PyRef storage = storage_from_pid(u, pid, true);
    auto [found, added] = element_sizes.emplace(storage->storage.key, storage->storage.element_size);
    if (!added && found->second != storage->storage.element_size)
      u.fail("storage '" + storage->storage.key + "' is named with two element sizes");
    return storage;
  };
  Unpickler unpickler(label, persistent_load, false, max_pickle_values(size));
  size_t offset = 0;
  PyRef magic = unpickler.load(bytes, size, offset);
  if (magic->kind != PyKind::BigInt || magic->text != std::string(std::begin(kLegacyMagic), std::end(kLegacyMagic)))
    fail(label, "a pickle that is not a PyTorch checkpoint (no torch.save magic number)");
  PyRef protocol = unpickler.load(bytes, size, offset);
  if (py_int(unpickler, protocol, "the protocol version") != 1001)
    fail(label, "legacy protocol version " + std::to_string(protocol->integer) + " (1001 is read)");
  PyRef sys_info = unpickler.load(bytes, size, offset);
  PyRef little = py_get(sys_info, "little_endian");
  const bool big_endian = little && little->kind == PyKind::Bool && !little->boolean;
  PyRef root = unpickler.load(bytes, size, offset);
  PyRef keys = unpickler.load(bytes, size, offset);
  if (keys->kind != PyKind::List) fail(label, "the legacy storage key list is missing");

  // Each storage: an int64 element count, then its bytes; in the order of `keys`.
  std::unordered_map<std::string, StorageBytes> data;
  for (PyRef key_value : keys->items) {
    const std::string& key = py_string(unpickler, key_value, "a storage key");
    if (size - offset < 8) fail(label, "truncated file: storage '" + key + "' is missing");
    const uint64_t numel = load_bits(bytes + offset, 8, big_endian);
    offset += 8;
    auto element = element_sizes.find(key);
    if (element == element_sizes.end()) fail(label, "storage '" + key + "' is listed but no tensor uses it");
    const uint64_t length = checked_bytes(label, key, numel, element->second);
    if (length > size - offset)
      fail(label, "truncated file: storage '" + key + "' needs " + std::to_string(length) + " bytes, " +
                      std::to_string(size - offset) + " remain");
    if (!data.emplace(key, StorageBytes{bytes + offset, length}).second)
      fail(label, "storage '" + key + "' is listed twice");
    offset += length;
  }
  Materialize read_tensor = [&](const std::string& name, const TorchTensorRef& ref) {
    auto found = data.find(ref.storage->storage.key);
    if (found == data.end()) fail(label, "tensor '" + name + "' uses a storage that the file does not hold");
    return materialize(label, name, ref, found->second, big_endian);
  };
  torch_detail::collect_state_dict(unpickler, root, read_tensor, out);
  return out;
}

}  // namespace

bool looks_like_torch_file(const unsigned char* bytes, size_t size) {
  if (ZipArchive::looks_like_zip(bytes, size)) return true;
  // A legacy file's first pickle is PROTO n, then (after a FRAME from protocol
  // 4 on) LONG1 of 10 bytes: the magic number. A safetensors file can start
  // with 0x80 0x02 (a 640-byte header), but never with the LONG1, which would
  // make its header 177 MB long, or sit in its ASCII JSON.
  if (size >= 4 && bytes[0] == 0x80 && (bytes[1] == 2 || bytes[1] == 3)) return bytes[2] == 0x8a && bytes[3] == 0x0a;
  if (size >= 13 && bytes[0] == 0x80 && (bytes[1] == 4 || bytes[1] == 5))
    return bytes[2] == 0x95 && bytes[11] == 0x8a && bytes[12] == 0x0a;
  return false;
}

bool looks_like_torch_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char head[16] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  return in.gcount() >= 2 && looks_like_torch_file(head, static_cast<size_t>(in.gcount()));
}

TorchCheckpoint parse_torch_file(const std::string& label, const unsigned char* bytes, size_t size) {
  if (ZipArchive::looks_like_zip(bytes, size)) return parse_zip(label, bytes, size);
  if (size >= 2 && bytes[0] == 0x80) return parse_legacy(label, bytes, size);
  fail(label, "not a PyTorch checkpoint (neither a zip archive nor a pickle)");
}

TorchCheckpoint read_torch_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    fail(path, "not a regular file");
  }
  const size_t size = static_cast<size_t>(info.st_size);
  if (size == 0) {
    ::close(fd);
    fail(path, "the file is empty");
  }
  void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapped == MAP_FAILED) fail(path, std::string("cannot map: ") + std::strerror(errno));
  std::unique_ptr<void, std::function<void(void*)>> unmap(mapped, [size](void* p) { ::munmap(p, size); });
  return parse_torch_file(path, static_cast<const unsigned char*>(mapped), size);
}

}  // namespace clipgrad::io
