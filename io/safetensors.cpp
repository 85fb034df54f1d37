#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "io/json.h"
#include "tensor/float16.h"

namespace clipgrad::io {

// The file's numbers are little-endian and both reader and writer copy them as is.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

using Json = nlohmann::json;

// The reference implementation refuses headers above 100 MB; one that large is
// corruption, and parsing it would cost more memory than any real header needs.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct FileDType {
  const char* name;
  size_t bytes;  // per element in the file
  DType memory;  // what it becomes once read
};

constexpr FileDType kFileDTypes[] = {
    {"F32", 4, DType::F32}, {"F64", 8, DType::F64}, {"F16", 2, DType::F32}, {"BF16", 2, DType::F32},
    {"I64", 8, DType::I32}, {"I32", 4, DType::I32}, {"U8", 1, DType::U8},   {"BOOL", 1, DType::U8},
};
constexpr const char* kKnownDTypes = "F32, F64, F16, BF16, I64, I32, U8, BOOL";

const FileDType* find_file_dtype(const std::string& name) {
  for (const FileDType& dtype : kFileDTypes)
    if (name == dtype.name) return &dtype;
  return nullptr;
}

const FileDType& file_dtype_for(DType dtype) {
  switch (dtype) {
    case DType::F32: return kFileDTypes[0];
    case DType::F64: return kFileDTypes[1];
    case DType::I32: return kFileDTypes[5];
    case DType::U8: return kFileDTypes[6];
    case DType::BF16: return kFileDTypes[3];  // widened to f32 (exact), then narrowed back (exact)
  }
  return kFileDTypes[0];
}

[[noreturn]] void fail(const std::string& label, const std::string& what) {
  throw SafetensorsError("bad checkpoint '" + label + "': " + what);
}

[[noreturn]] void fail_write(const std::string& path, const std::string& what) {
  throw SafetensorsError("cannot write checkpoint '" + path + "': " + what);
}

// ---- reading ----

// One validated header entry; `begin`/`end` are relative to the data block.
struct Entry {
  std::string name;
  const FileDType* dtype;
  Shape shape;
  int64_t numel;
  uint64_t begin, end;
};

std::string span_str(uint64_t begin, uint64_t end) {
  std::string text = "[";
  text += std::to_string(begin);
  text += ',';
  text += std::to_string(end);
  text += ']';
  return text;
}

// Parses the header, rejecting duplicate keys (nlohmann would keep the last
// silently) and nesting deeper than a header has (top object > entry > array > number).
Json parse_header(const std::string& label, const unsigned char* text, size_t length) {
  std::vector<std::set<std::string>> open_objects;
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (depth >= 3) fail(label, "header nests arrays or objects deeper than a safetensors header does");
        if (event == Json::parse_event_t::object_start) open_objects.emplace_back();
        break;
      case Json::parse_event_t::object_end: open_objects.pop_back(); break;
      case Json::parse_event_t::key: {
        const std::string& key = parsed.get_ref<const std::string&>();
        if (!open_objects.back().insert(key).second)
          fail(label, "header repeats the key '" + key + "'" + (depth == 1 ? "" : " inside one entry"));
        break;
      }
      default: break;
    }
    return true;
  };
  try {
    return Json::parse(text, text + length, callback);
  } catch (const Json::parse_error& error) {
    std::string what = error.what();
    const size_t prefix = what.find("] ");  // drop nlohmann's "[json.exception.parse_error.101] "
    if (prefix != std::string::npos) what = what.substr(prefix + 2);
    fail(label, "header is not valid JSON (" + what + ")");
  }
}

// Reads a non-negative JSON integer; nullopt for anything else.
std::optional<uint64_t> unsigned_value(const Json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) return static_cast<uint64_t>(value.get<int64_t>());
  return std::nullopt;
}

Entry parse_entry(const std::string& label, const std::string& name, const Json& value, uint64_t data_size) {
  const std::string where = "tensor '" + name + "'";
  if (!value.is_object())
    fail(label, where + " is a JSON " + value.type_name() + ", not an object with dtype, shape and data_offsets");
  for (const auto& [key, field] : value.items())
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      fail(label, where + " has an unexpected field '" + key + "' (entries hold exactly dtype, shape, data_offsets)");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!value.contains(key)) fail(label, where + " lacks the field '" + key + "'");

  Entry entry;
  entry.name = name;
  const Json& dtype = value["dtype"];
  if (!dtype.is_string()) fail(label, where + " has a dtype that is a JSON " + dtype.type_name() + ", not a string");
  entry.dtype = find_file_dtype(dtype.get<std::string>());
  if (!entry.dtype)
    fail(label, where + " has dtype " + dtype.get<std::string>() + ", which clipgrad cannot read (it reads " +
                    kKnownDTypes + "); convert the checkpoint to one of those");

  const Json& shape = value["shape"];
  if (!shape.is_array()) fail(label, where + " has a shape that is a JSON " + shape.type_name() + ", not an array");
  entry.numel = 1;
  bool overflow = false;
  for (const Json& dim : shape) {
    const std::optional<uint64_t> size = unsigned_value(dim);
    if (!size) fail(label, where + " has shape " + json_excerpt(shape) + "; dimensions must be non-negative integers");
    if (*size > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(label, where + " has shape " + json_excerpt(shape) + " with a dimension beyond 2^63");
    entry.shape.push_back(static_cast<int64_t>(*size));
    // Checked in order, as shape_numel multiplies, so a later zero does not excuse an overflow.
    overflow = overflow || __builtin_mul_overflow(entry.numel, entry.shape.back(), &entry.numel);
  }
  uint64_t expected_bytes = 0;
  if (overflow || __builtin_mul_overflow(static_cast<uint64_t>(entry.numel), entry.dtype->bytes, &expected_bytes))
    fail(label, where + " has shape " + shape_str(entry.shape) + " whose byte size overflows 64 bits");

  const Json& offsets = value["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2)
    fail(label, where + " has data_offsets " + json_excerpt(offsets) + "; expected [begin, end]");
  const std::optional<uint64_t> begin = unsigned_value(offsets[0]), end = unsigned_value(offsets[1]);
  if (!begin || !end)
    fail(label, where + " has data_offsets " + json_excerpt(offsets) + "; both must be non-negative integers");
  entry.begin = *begin;
  entry.end = *end;
  if (entry.begin > entry.end)
    fail(label, where + " has data_offsets " + span_str(entry.begin, entry.end) + " that end before they begin");
  if (entry.end > data_size)
    fail(label, where + " has data_offsets " + span_str(entry.begin, entry.end) + " past the end of the data block (" +
                    std::to_string(data_size) + " bytes); the file is truncated or its header is wrong");
  if (entry.end - entry.begin != expected_bytes)
    fail(label, where + " has dtype " + entry.dtype->name + " and shape " + shape_str(entry.shape) + " (" +
                    std::to_string(expected_bytes) + " bytes) but its data span holds " +
                    std::to_string(entry.end - entry.begin) + " bytes");
  return entry;
}

void check_spans_disjoint(const std::string& label, std::vector<const Entry*> entries) {
  std::sort(entries.begin(), entries.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  const Entry* previous = nullptr;  // the non-empty span reaching furthest so far
  for (const Entry* entry : entries) {
    if (entry->begin == entry->end) continue;  // an empty span shares no bytes
    if (previous && entry->begin < previous->end)
      fail(label, "tensors '" + previous->name + "' " + span_str(previous->begin, previous->end) + " and '" +
                      entry->name + "' " + span_str(entry->begin, entry->end) + " overlap in the data block");
    if (!previous || entry->end > previous->end) previous = entry;
  }
}

std::map<std::string, std::string> parse_metadata(const std::string& label, const Json& value) {
  if (!value.is_object())
    fail(label, std::string("__metadata__ is a JSON ") + value.type_name() + ", not an object of strings");
  std::map<std::string, std::string> metadata;
  for (const auto& [key, text] : value.items()) {
    if (!text.is_string())
      fail(label, "__metadata__ key '" + key + "' holds a JSON " + text.type_name() + ", not a string");
    metadata.emplace(key, text.get<std::string>());
  }
  return metadata;
}

// The data block need not be aligned (any span may start at any byte), so
// every element is copied out with memcpy.
template <class Stored>
Stored load(const unsigned char* source, int64_t index) {
  Stored value;
  std::memcpy(&value, source + index * static_cast<int64_t>(sizeof(Stored)), sizeof(Stored));
  return value;
}

Tensor decode(const std::string& label, const Entry& entry, const unsigned char* data) {
  Tensor value = Tensor::empty(entry.shape, entry.dtype->memory);
  const unsigned char* source = data + entry.begin;
  const std::string kind = entry.dtype->name;
  const int64_t n = entry.numel;
  if (kind == "F16" || kind == "BF16") {
    float* target = value.data<float>();
    const bool half = kind == "F16";
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t bits = load<uint16_t>(source, i);
      target[i] = half ? half_to_float(bits) : bfloat16_to_float(bits);
    }
  } else if (kind == "I64") {
    int32_t* target = value.data<int32_t>();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t wide = load<int64_t>(source, i);
      if (wide < std::numeric_limits<int32_t>::min() || wide > std::numeric_limits<int32_t>::max())
        fail(label, "tensor '" + entry.name + "' (I64) holds " + std::to_string(wide) + " at index " +
                        std::to_string(i) + ", outside the i32 range that clipgrad reads I64 into");
      target[i] = static_cast<int32_t>(wide);
    }
  } else {
    if (kind == "BOOL")
      for (int64_t i = 0; i < n; ++i)
        if (source[i] > 1)
          fail(label, "tensor '" + entry.name + "' (BOOL) holds byte " + std::to_string(source[i]) + " at index " +
                          std::to_string(i) + "; BOOL bytes must be 0 or 1");
    if (n > 0) std::memcpy(value.raw_data(), source, entry.end - entry.begin);
  }
  return value;
}

// ---- writing ----

// Owns the temp file until it is renamed into place; removes it on any failure.
class TempFile {
 public:
  explicit TempFile(const std::string& path) : path_(path), temp_path_(path + ".tmp") {
    // The rename would replace a device or a folder's entry (/dev/null, say) with a file.
    std::error_code ec;
    if (std::filesystem::exists(path_, ec) && !std::filesystem::is_regular_file(path_, ec))
      fail_write(path_, "it exists and is not a regular file");
    file_ = std::fopen(temp_path_.c_str(), "wb");
    if (!file_) fail_write(path_, "cannot create '" + temp_path_ + "' (" + std::strerror(errno) + ")");
  }
  ~TempFile() {
    if (file_) std::fclose(file_);
    if (!committed_) std::remove(temp_path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  void write(const void* bytes, size_t size) {
    if (size > 0 && std::fwrite(bytes, 1, size, file_) != size)
      fail_write(path_, "writing '" + temp_path_ + "' failed (" + std::strerror(errno) + ")");
  }
  // fsync before rename so a crash cannot leave a truncated file under the final name.
  void commit() {
    const bool flushed = std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
    const int flush_errno = errno;
    const bool closed = std::fclose(file_) == 0;
    file_ = nullptr;
    if (!flushed || !closed)
      fail_write(path_, "writing '" + temp_path_ + "' failed (" + std::strerror(flushed ? errno : flush_errno) + ")");
    if (std::rename(temp_path_.c_str(), path_.c_str()) != 0)
      fail_write(path_, "renaming '" + temp_path_ + "' into place failed (" + std::strerror(errno) + ")");
    committed_ = true;
  }

 private:
  std::string path_, temp_path_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

// A tensor ready to write: on the host, in the in-memory dtype its file dtype reads back as.
struct Planned {
  const std::string* name;
  const FileDType* dtype;
  Tensor host;  // contiguous, CPU
  uint64_t bytes;
};

Planned plan(const std::string& path, const std::string& name, const StoredTensor& stored) {
  const std::string where = "tensor '" + name + "'";
  if (name == "__metadata__") fail_write(path, "'__metadata__' is reserved and cannot name a tensor");
  if (!stored.value.defined()) fail_write(path, where + " is undefined");
  const FileDType* dtype =
      stored.stored_dtype.empty() ? &file_dtype_for(stored.value.dtype()) : find_file_dtype(stored.stored_dtype);
  if (!dtype) fail_write(path, where + " asks for dtype '" + stored.stored_dtype + "'; choose one of " + kKnownDTypes);
  Tensor host = stored.value.to(Device::CPU);
  const bool both_floating = (host.dtype() == DType::F32 || host.dtype() == DType::F64) &&
                             (dtype->memory == DType::F32 || dtype->memory == DType::F64);
  if (host.dtype() != dtype->memory) {
    if (!both_floating)
      fail_write(path, where + " is " + dtype_name(host.dtype()) + " and cannot be stored as " + dtype->name);
    host = host.to(dtype->memory);
  }
  if (std::string(dtype->name) == "BOOL") {
    const uint8_t* values = host.data<uint8_t>();
    for (int64_t i = 0; i < host.numel(); ++i)
      if (values[i] > 1)
        fail_write(path, where + " holds " + std::to_string(values[i]) + " at index " + std::to_string(i) +
                             "; a BOOL tensor must hold only 0 and 1");
  }
  return {&name, dtype, host, static_cast<uint64_t>(host.numel()) * dtype->bytes};
}

void write_data(TempFile& out, const Planned& tensor) {
  const std::string kind = tensor.dtype->name;
  const int64_t n = tensor.host.numel();
  if (kind == "F16" || kind == "BF16") {
    const float* values = tensor.host.data<float>();
    std::vector<uint16_t> encoded(static_cast<size_t>(n));
    const bool half = kind == "F16";
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) encoded[i] = half ? float_to_half(values[i]) : float_to_bfloat16(values[i]);
    out.write(encoded.data(), encoded.size() * sizeof(uint16_t));
  } else if (kind == "I64") {
    const int32_t* values = tensor.host.data<int32_t>();
    std::vector<int64_t> widened(values, values + n);
    out.write(widened.data(), widened.size() * sizeof(int64_t));
  } else {
    out.write(tensor.host.raw_data(), tensor.bytes);
  }
}

}  // namespace

const Tensor& SafetensorsFile::at(const std::string& name) const {
  const auto found = tensors.find(name);
  if (found == tensors.end())
    throw SafetensorsError("bad checkpoint '" + source + "': it has no tensor '" + name + "' (it holds " +
                           std::to_string(tensors.size()) + " tensors); check the model config matches it");
  return found->second.value;
}

SafetensorsFile parse_safetensors(const std::string& label, const unsigned char* bytes, size_t size) {
  if (size < 8)
    fail(label, "it holds " + std::to_string(size) + " bytes, fewer than the 8-byte header length; it is truncated");
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, bytes, sizeof(header_bytes));
  if (header_bytes > size - 8)
    fail(label, "its header length " + std::to_string(header_bytes) + " runs past the end of the file (" +
                    std::to_string(size) + " bytes); it is truncated or not a safetensors file");
  if (header_bytes > kMaxHeaderBytes)
    fail(label, "its header length " + std::to_string(header_bytes) + " exceeds the " +
                    std::to_string(kMaxHeaderBytes) + "-byte limit; it is not a safetensors file");
  const unsigned char* data = bytes + 8 + header_bytes;
  const uint64_t data_size = size - 8 - header_bytes;

  try {
    const Json header = parse_header(label, bytes + 8, header_bytes);
    if (!header.is_object()) fail(label, std::string("its header is a JSON ") + header.type_name() + ", not an object");
    SafetensorsFile file;
    file.source = label;
    std::vector<Entry> entries;
    entries.reserve(header.size());
    for (const auto& [name, value] : header.items()) {
      if (name == "__metadata__")
        file.metadata = parse_metadata(label, value);
      else
        entries.push_back(parse_entry(label, name, value, data_size));
    }
    std::vector<const Entry*> views;
    for (const Entry& entry : entries) views.push_back(&entry);
    check_spans_disjoint(label, std::move(views));
    // Everything is validated; allocation is now bounded by the data block's size.
    for (const Entry& entry : entries)
      file.tensors.emplace(entry.name, StoredTensor{decode(label, entry, data), entry.dtype->name});
    return file;
  } catch (const Json::exception& error) {
    fail(label, std::string("its header could not be read (") + error.what() + ")");
  }
}

SafetensorsFile read_safetensors(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open it (") + std::strerror(errno) + ")");
  struct FdGuard {
    int fd;
    ~FdGuard() { ::close(fd); }
  } fd_guard{fd};
  struct stat info {};
  if (::fstat(fd, &info) != 0) fail(path, std::string("cannot stat it (") + std::strerror(errno) + ")");
  if (!S_ISREG(info.st_mode)) fail(path, "it is not a regular file");
  const size_t size = static_cast<size_t>(info.st_size);
  if (size == 0) return parse_safetensors(path, nullptr, 0);
  void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (mapped == MAP_FAILED) fail(path, std::string("cannot map it into memory (") + std::strerror(errno) + ")");
  struct MapGuard {
    void* address;
    size_t size;
    ~MapGuard() { ::munmap(address, size); }
  } map_guard{mapped, size};
  ::madvise(mapped, size, MADV_SEQUENTIAL);
  return parse_safetensors(path, static_cast<const unsigned char*>(mapped), size);
}

std::map<std::string, std::string> read_safetensors_metadata(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot open it (") + std::strerror(errno) + ")");
  uint64_t header_bytes = 0;
  if (!in.read(reinterpret_cast<char*>(&header_bytes), sizeof(header_bytes)))
    fail(path, "it holds fewer than the 8-byte header length; it is truncated");
  if (header_bytes > kMaxHeaderBytes)
    fail(path, "its header length " + std::to_string(header_bytes) + " exceeds the " + std::to_string(kMaxHeaderBytes) +
                   "-byte limit; it is not a safetensors file");
  std::string text(header_bytes, '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(header_bytes)))
    fail(path, "its header length " + std::to_string(header_bytes) +
                   " runs past the end of the file; it is truncated or not a safetensors file");
  try {
    const Json header = parse_header(path, reinterpret_cast<const unsigned char*>(text.data()), text.size());
    if (!header.is_object()) fail(path, std::string("its header is a JSON ") + header.type_name() + ", not an object");
    const auto found = header.find("__metadata__");
    return found == header.end() ? std::map<std::string, std::string>{} : parse_metadata(path, *found);
  } catch (const Json::exception& error) {
    fail(path, std::string("its header could not be read (") + error.what() + ")");
  }
}

void write_safetensors(const std::string& path, const std::map<std::string, StoredTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<Planned> planned;
  planned.reserve(tensors.size());
  for (const auto& [name, stored] : tensors) planned.push_back(plan(path, name, stored));

  // nlohmann objects are std::maps, so the header's keys come out sorted; the
  // data follows in the same (name) order.
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const Planned& tensor : planned) {
    header[*tensor.name] = {{"dtype", tensor.dtype->name},
                            {"shape", tensor.host.shape()},
                            {"data_offsets", {offset, offset + tensor.bytes}}};
    offset += tensor.bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::exception& error) {  // names or metadata that are not valid UTF-8
    fail_write(path, std::string("the header cannot be encoded as JSON (") + error.what() + ")");
  }
  // Padding keeps the data block 8-byte aligned in the file.
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t header_bytes = text.size();

  TempFile out(path);
  out.write(&header_bytes, sizeof(header_bytes));
  out.write(text.data(), text.size());
  for (const Planned& tensor : planned) write_data(out, tensor);
  out.commit();
}

void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::map<std::string, StoredTensor> stored;
  for (const auto& [name, value] : tensors) stored.emplace(name, StoredTensor{value, ""});
  write_safetensors(path, stored, metadata);
}

}  // namespace clipgrad::io
