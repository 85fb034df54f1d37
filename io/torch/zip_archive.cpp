#include "io/torch/zip_archive.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "io/torch/torch_file.h"

namespace clipgrad::io {

namespace {

constexpr uint32_t kLocalHeader = 0x04034b50, kCentralHeader = 0x02014b50, kEndOfDirectory = 0x06054b50,
                   kZip64Locator = 0x07064b50, kZip64End = 0x06064b50;
constexpr size_t kEndSize = 22, kLocatorSize = 20, kZip64EndSize = 56, kCentralSize = 46, kLocalSize = 30;

uint16_t u16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t u32(const unsigned char* p) {
  return static_cast<uint32_t>(u16(p)) | (static_cast<uint32_t>(u16(p + 2)) << 16);
}
uint64_t u64(const unsigned char* p) {
  return static_cast<uint64_t>(u32(p)) | (static_cast<uint64_t>(u32(p + 4)) << 32);
}

}  // namespace

bool ZipArchive::looks_like_zip(const unsigned char* bytes, size_t size) {
  return size >= 4 && u32(bytes) == kLocalHeader;
}

ZipArchive::ZipArchive(std::string label, const unsigned char* bytes, size_t size)
    : label_(std::move(label)), bytes_(bytes), size_(size) {
  read_central_directory();
}

void ZipArchive::fail(const std::string& what) const {
  throw TorchFileError("bad checkpoint '" + label_ + "': " + what);
}

void ZipArchive::read_central_directory() {
  if (size_ < kEndSize) fail("truncated zip archive (" + std::to_string(size_) + " bytes, no end record)");
  // The end record sits in the last 22 + 65535 (comment) bytes.
  size_t end = std::string::npos;
  const size_t lowest = size_ > kEndSize + 65535 ? size_ - kEndSize - 65535 : 0;
  for (size_t at = size_ - kEndSize + 1; at-- > lowest;)
    if (u32(bytes_ + at) == kEndOfDirectory) {
      end = at;
      break;
    }
  if (end == std::string::npos) fail("truncated or corrupt zip archive: no end-of-central-directory record");
  uint64_t count = u16(bytes_ + end + 10), directory_size = u32(bytes_ + end + 12),
           directory_offset = u32(bytes_ + end + 16);
  if (end >= kLocatorSize && u32(bytes_ + end - kLocatorSize) == kZip64Locator) {
    uint64_t zip64_end = u64(bytes_ + end - kLocatorSize + 8);
    if (zip64_end > size_ || size_ - zip64_end < kZip64EndSize || u32(bytes_ + zip64_end) != kZip64End)
      fail("corrupt zip archive: the ZIP64 end record is missing or out of the file");
    count = u64(bytes_ + zip64_end + 32);
    directory_size = u64(bytes_ + zip64_end + 40);
    directory_offset = u64(bytes_ + zip64_end + 48);
  }
  if (directory_offset > size_ || directory_size > size_ - directory_offset)
    fail("corrupt zip archive: the central directory lies outside the file");
  // Each entry takes at least 46 bytes, which bounds the count before anything is reserved.
  if (count > directory_size / kCentralSize) fail("corrupt zip archive: " + std::to_string(count) + " entries claimed");
  entries_.reserve(count);
  size_t at = directory_offset;
  const size_t directory_end = directory_offset + directory_size;
  for (uint64_t index = 0; index < count; ++index) {
    if (directory_end - at < kCentralSize || u32(bytes_ + at) != kCentralHeader)
      fail("corrupt zip archive: central directory entry " + std::to_string(index) + " is damaged");
    const unsigned char* header = bytes_ + at;
    const uint16_t flags = u16(header + 8);
    ZipEntry entry;
    entry.method = u16(header + 10);
    entry.compressed_size = u32(header + 20);
    entry.size = u32(header + 24);
    const size_t name_length = u16(header + 28), extra_length = u16(header + 30), comment_length = u16(header + 32);
    uint64_t local_offset = u32(header + 42);
    if (directory_end - at - kCentralSize < name_length + extra_length + comment_length)
      fail("corrupt zip archive: central directory entry " + std::to_string(index) + " runs past the directory");
    entry.name.assign(reinterpret_cast<const char*>(header + kCentralSize), name_length);
    // ZIP64 extra field: the 64-bit values of the fields that hold 0xffffffff, in this order.
    const unsigned char* extra = header + kCentralSize + name_length;
    for (size_t e = 0; e + 4 <= extra_length;) {
      const uint16_t id = u16(extra + e), length = u16(extra + e + 2);
      if (e + 4 + length > extra_length) fail("corrupt zip archive: a bad extra field in '" + entry.name + "'");
      if (id == 0x0001) {
        const unsigned char* field = extra + e + 4;
        size_t used = 0;
        for (uint64_t* value : {&entry.size, &entry.compressed_size, &local_offset}) {
          if (*value != 0xffffffffu) continue;
          if (used + 8 > length) fail("corrupt zip archive: a short ZIP64 field in '" + entry.name + "'");
          *value = u64(field + used);
          used += 8;
        }
      }
      e += 4 + length;
    }
    if (flags & 1u) fail("zip entry '" + entry.name + "' is encrypted");
    if (entry.method != 0 && entry.method != 8)
      fail("zip entry '" + entry.name + "' uses compression method " + std::to_string(entry.method) +
           " (only stored and deflate are read)");
    if (entry.method == 0 && entry.compressed_size != entry.size)
      fail("corrupt zip archive: stored entry '" + entry.name + "' has two sizes");
    if (local_offset > size_ || size_ - local_offset < kLocalSize || u32(bytes_ + local_offset) != kLocalHeader)
      fail("truncated or corrupt zip archive: the local header of '" + entry.name + "' is missing");
    const uint64_t data = local_offset + kLocalSize + u16(bytes_ + local_offset + 26) + u16(bytes_ + local_offset + 28);
    if (data > size_ || entry.compressed_size > size_ - data)
      fail("truncated zip archive: the data of '" + entry.name + "' runs past the end of the file");
    entry.data_offset = data;
    // Checked when the entry is read.
    crcs_.push_back(u32(header + 16));
    if (!by_name_.emplace(entry.name, entries_.size()).second)
      fail("corrupt zip archive: entry '" + entry.name + "' appears twice");
    entries_.push_back(std::move(entry));
    at += kCentralSize + name_length + extra_length + comment_length;
  }
}

const ZipEntry* ZipArchive::find(const std::string& name) const {
  auto found = by_name_.find(name);
  return found == by_name_.end() ? nullptr : &entries_[found->second];
}

void ZipArchive::verify(const ZipEntry& entry, const unsigned char* data, uint64_t size) const {
  // zlib's crc32 takes a uInt length: feed it in pieces.
  uLong crc = crc32(0L, Z_NULL, 0);
  for (uint64_t done = 0; done < size;) {
    const uInt piece = static_cast<uInt>(std::min<uint64_t>(size - done, 1u << 30));
    crc = crc32(crc, data + done, piece);
    done += piece;
  }
  if (crc != crcs_[&entry - entries_.data()])
    fail("corrupt zip archive: entry '" + entry.name + "' fails its CRC-32 check");
}

const unsigned char* ZipArchive::stored_data(const ZipEntry& entry) const {
  if (entry.method != 0) fail("zip entry '" + entry.name + "' is compressed; tensor data must be stored");
  const unsigned char* data = bytes_ + entry.data_offset;
  verify(entry, data, entry.size);
  return data;
}

std::string ZipArchive::read(const ZipEntry& entry, uint64_t limit) const {
  if (entry.size > limit)
    fail("zip entry '" + entry.name + "' holds " + std::to_string(entry.size) + " bytes, more than the " +
         std::to_string(limit) + " allowed for it");
  if (entry.method == 0) {
    const unsigned char* data = stored_data(entry);
    return std::string(reinterpret_cast<const char*>(data), entry.size);
  }
  // Deflate expands at most ~1032:1; a larger claim is a zip bomb, refused before allocating.
  if (entry.size > entry.compressed_size * 1032 + 1024)
    fail("zip entry '" + entry.name + "' claims " + std::to_string(entry.size) + " bytes from " +
         std::to_string(entry.compressed_size) + " compressed ones");
  std::string out(entry.size, '\0');
  z_stream stream{};
  if (inflateInit2(&stream, -MAX_WBITS) != Z_OK) fail("cannot start zlib to read '" + entry.name + "'");
  const unsigned char* in = bytes_ + entry.data_offset;
  uint64_t in_left = entry.compressed_size, out_done = 0;
  int status = Z_OK;
  while (status == Z_OK) {
    const uInt in_piece = static_cast<uInt>(std::min<uint64_t>(in_left, 1u << 30));
    stream.next_in = const_cast<unsigned char*>(in);
    stream.avail_in = in_piece;
    const uInt out_piece = static_cast<uInt>(std::min<uint64_t>(entry.size - out_done, 1u << 30));
    stream.next_out = reinterpret_cast<unsigned char*>(out.data()) + out_done;
    stream.avail_out = out_piece;
    status = inflate(&stream, Z_NO_FLUSH);
    const uint64_t consumed = in_piece - stream.avail_in, produced = out_piece - stream.avail_out;
    in += consumed;
    in_left -= consumed;
    out_done += produced;
    if (status == Z_OK && consumed == 0 && produced == 0) status = Z_BUF_ERROR;  // no progress: data ends early
  }
  inflateEnd(&stream);
  if (status != Z_STREAM_END || out_done != entry.size)
    fail("corrupt zip archive: entry '" + entry.name + "' does not inflate to its " + std::to_string(entry.size) +
         " bytes");
  verify(entry, reinterpret_cast<const unsigned char*>(out.data()), out.size());
  return out;
}

}  // namespace clipgrad::io
