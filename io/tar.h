// A streaming reader of tar archives (POSIX ustar, pax and GNU long names), for
// webdataset shards: members come out one at a time, in archive order, with
// nothing extracted to disk.
//
// Bad input never throws: a member the caller must not use (a link, a device,
// a fifo, a hostile name such as "../x" or "/etc/x") comes back as Skipped with
// the reason, and a broken archive (a bad header checksum, a truncated header or
// member, a size past the limits) as Broken, after which the stream ends. Sizes
// are checked against the limits before anything is allocated, and member data
// is read in bounded chunks, so a header claiming 1 TB allocates nothing.
//
//   std::ifstream file(path, std::ios::binary);
//   TarReader tar(file, path);
//   for (TarEntry entry; tar.next(entry);)
//     if (entry.kind == TarEntry::File) use(entry.name, entry.data);
#pragma once

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>

namespace clipgrad::io {

struct TarLimits {
  int64_t max_member_bytes = int64_t(256) << 20;  // a regular member's data
  int64_t max_header_bytes = int64_t(1) << 20;    // a pax header or a GNU long name
};

struct TarEntry {
  enum Kind { File, Skipped, Broken };
  Kind kind = File;
  std::string name;    // the member's path as stored (pax and GNU long names applied)
  std::string data;    // File: the member's bytes (empty when the reader was told to skip data)
  std::string reason;  // Skipped, Broken: why ("symbolic link", "bad header checksum", ...)
  int64_t size = 0;    // the member's size in bytes
};

class TarReader {
 public:
  // `source` names the archive in messages; `in` must outlive the reader.
  TarReader(std::istream& in, std::string source, TarLimits limits = {});
  // The next member: false at the end of the archive (and after a Broken entry).
  // Directories and pax global headers are passed over silently. With
  // read_data false a File's data is skipped (seeked past), not read.
  bool next(TarEntry& entry, bool read_data = true);
  const std::string& source() const { return source_; }

 private:
  bool read_block(char* block);
  bool read_bytes(int64_t size, std::string& out, bool keep);
  bool broken(TarEntry& entry, std::string name, std::string reason);

  std::istream& in_;
  std::string source_;
  TarLimits limits_;
  bool ended_ = false;
};

// Writes a tar archive (ustar; GNU long-name members for names over 100 bytes),
// the format `clipgrad data shards` makes. finish() writes the end-of-archive blocks.
class TarWriter {
 public:
  explicit TarWriter(std::ostream& out) : out_(out) {}
  void add(const std::string& name, const std::string& data, char type = '0');
  void finish();

 private:
  void header(const std::string& name, int64_t size, char type);
  std::ostream& out_;
};

// A path that is safe to name a member by: relative, non-empty, without "..",
// NUL or a backslash; else the reason it is not.
std::string hostile_member_name_reason(const std::string& name);

}  // namespace clipgrad::io
