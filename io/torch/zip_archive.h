// A read-only zip archive over bytes in memory: what torch.save (>= 1.6) and
// torch.jit.save write. Their data entries are stored (uncompressed, 64-byte
// aligned); TorchScript deflates its code/ files, so deflate is read too (zlib).
//
// Everything is bounds-checked against the buffer: the end-of-central-directory
// record (and its ZIP64 form), every central entry, every local header, and
// each entry's data span. Problems throw TorchFileError naming the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace clipgrad::io {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflate
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint64_t data_offset = 0;  // of the (compressed) bytes in the buffer
};

class ZipArchive {
 public:
  // `label` names the bytes in errors. The bytes must outlive the archive.
  ZipArchive(std::string label, const unsigned char* bytes, size_t size);

  static bool looks_like_zip(const unsigned char* bytes, size_t size);  // starts with a local header

  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(const std::string& name) const;  // nullptr when absent
  // A stored entry's bytes in place (no copy), CRC-checked; throws for a compressed one.
  const unsigned char* stored_data(const ZipEntry& entry) const;
  // Any entry's bytes (inflated if needed); at most `limit` bytes, else throws.
  std::string read(const ZipEntry& entry, uint64_t limit) const;

 private:
  [[noreturn]] void fail(const std::string& what) const;
  void read_central_directory();
  void verify(const ZipEntry& entry, const unsigned char* data, uint64_t size) const;  // CRC-32

  std::string label_;
  const unsigned char* bytes_;
  size_t size_;
  std::vector<ZipEntry> entries_;
  std::vector<uint32_t> crcs_;  // of entries_[i], from the central directory
  std::map<std::string, size_t> by_name_;
};

}  // namespace clipgrad::io
