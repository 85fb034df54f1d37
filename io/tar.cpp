#include "io/tar.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

namespace clipgrad::io {

namespace {

constexpr int64_t kBlock = 512;
constexpr int64_t kChunk = int64_t(1) << 20;  // data is read in chunks: a lying size allocates only what exists
constexpr int64_t kMaxSize = int64_t(1) << 62;

// A header's number: octal, padded with spaces or NULs, or GNU's base-256
// (the first byte's high bit set). False when it is neither, or too large.
bool parse_number(const char* field, int length, int64_t& value) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(field);
  value = 0;
  if (bytes[0] & 0x80) {
    if (bytes[0] != 0x80) return false;  // negative, or past 2^63
    for (int i = 1; i < length; ++i) {
      if (value > (kMaxSize >> 8)) return false;
      value = (value << 8) | bytes[i];
    }
    return true;
  }
  int i = 0;
  while (i < length && field[i] == ' ') ++i;
  for (; i < length && field[i] >= '0' && field[i] <= '7'; ++i) {
    if (value > (kMaxSize >> 3)) return false;
    value = value * 8 + (field[i] - '0');
  }
  for (; i < length; ++i)
    if (field[i] != ' ' && field[i] != '\0') return false;
  return true;
}

// The checksum counts the header with its own field as spaces; old tars summed signed chars.
bool checksum_matches(const char* block) {
  int64_t stored = 0;
  if (!parse_number(block + 148, 8, stored)) return false;
  int64_t unsigned_sum = 0, signed_sum = 0;
  for (int i = 0; i < kBlock; ++i) {
    const char c = (i >= 148 && i < 156) ? ' ' : block[i];
    unsigned_sum += static_cast<unsigned char>(c);
    signed_sum += static_cast<signed char>(c);
  }
  return stored == unsigned_sum || stored == signed_sum;
}

std::string field_string(const char* field, size_t length) { return std::string(field, strnlen(field, length)); }

// name, or POSIX ustar's prefix + "/" + name (GNU's "ustar  " header keeps other data there).
std::string header_name(const char* block) {
  std::string name = field_string(block, 100);
  if (std::memcmp(block + 257, "ustar\0", 6) != 0) return name;
  std::string prefix = field_string(block + 345, 155);
  return prefix.empty() ? name : prefix + "/" + name;
}

// pax records "LEN key=value\n": sets path and size when present; false when malformed.
bool parse_pax(const std::string& data, std::string& path, int64_t& size) {
  size_t position = 0;
  while (position < data.size()) {
    if (data[position] == '\0') break;  // NUL padding after the last record
    size_t space = data.find(' ', position);
    if (space == std::string::npos || space == position || space - position > 18) return false;
    int64_t length = 0;
    for (size_t i = position; i < space; ++i) {
      if (data[i] < '0' || data[i] > '9') return false;
      length = length * 10 + (data[i] - '0');
    }
    if (length <= static_cast<int64_t>(space - position) || position + length > data.size() ||
        data[position + length - 1] != '\n')
      return false;
    const std::string record = data.substr(space + 1, position + length - space - 2);
    const size_t equals = record.find('=');
    if (equals == std::string::npos) return false;
    const std::string key = record.substr(0, equals), value = record.substr(equals + 1);
    if (key == "path") path = value;
    if (key == "size") {
      if (value.empty() || value.size() > 18 || value.find_first_not_of("0123456789") != std::string::npos)
        return false;
      size = std::stoll(value);
    }
    position += length;
  }
  return true;
}

const char* link_kind(char type) {
  switch (type) {
    case '1': return "hard link";
    case '2': return "symbolic link";
    case '3': return "character device";
    case '4': return "block device";
    case '6': return "fifo";
    default: return nullptr;
  }
}

}  // namespace

std::string hostile_member_name_reason(const std::string& name) {
  if (name.empty()) return "empty member name";
  if (name.find('\0') != std::string::npos) return "member name holds a NUL";
  if (name.front() == '/') return "absolute member name";
  if (name.find('\\') != std::string::npos) return "member name holds a backslash";
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    if (name.compare(start, end - start, "..") == 0) return "member name climbs out with '..'";
    start = end + 1;
  }
  return "";
}

TarReader::TarReader(std::istream& in, std::string source, TarLimits limits)
    : in_(in), source_(std::move(source)), limits_(limits) {}

bool TarReader::read_block(char* block) {
  in_.read(block, kBlock);
  return in_.gcount() == kBlock;
}

// Reads (keep) or passes over `size` bytes and their padding to the block; false when the archive ends first.
bool TarReader::read_bytes(int64_t size, std::string& out, bool keep) {
  const int64_t padded = (size + kBlock - 1) / kBlock * kBlock;
  out.clear();
  if (keep) {
    for (int64_t done = 0; done < size;) {
      const int64_t chunk = std::min(kChunk, size - done);
      out.resize(static_cast<size_t>(done + chunk));
      in_.read(out.data() + done, chunk);
      if (in_.gcount() != chunk) return false;
      done += chunk;
    }
    in_.ignore(padded - size);
    return in_.gcount() == padded - size;
  }
  in_.ignore(padded);
  return in_.gcount() == padded;
}

bool TarReader::broken(TarEntry& entry, std::string name, std::string reason) {
  ended_ = true;
  entry = TarEntry{TarEntry::Broken, std::move(name), "", std::move(reason), 0};
  return true;
}

bool TarReader::next(TarEntry& entry, bool read_data) {
  std::string long_name, metadata;
  bool named = false;
  int64_t pax_size = -1;
  while (!ended_) {
    char block[kBlock];
    if (!read_block(block)) {
      ended_ = true;
      if (in_.gcount() != 0) return broken(entry, "", "archive ends inside a header (truncated)");
      // No end-of-archive blocks: tolerated (as tar does), unless metadata was left waiting.
      return named || pax_size >= 0 ? broken(entry, long_name, "archive ends after a long-name or pax header") : false;
    }
    if (std::all_of(block, block + kBlock, [](char c) { return c == 0; })) {
      ended_ = true;
      return false;
    }
    if (!checksum_matches(block)) return broken(entry, "", "bad header checksum (corrupt, or not a tar archive)");
    int64_t size = 0;
    if (!parse_number(block + 124, 12, size)) return broken(entry, header_name(block), "bad size field");
    if (pax_size >= 0) size = pax_size;
    const char type = block[156];
    const std::string name = named ? long_name : header_name(block);
    if (type == 'L' || type == 'K' || type == 'x' || type == 'g') {
      if (size > limits_.max_header_bytes)
        return broken(entry, name,
                      "metadata header of " + std::to_string(size) + " bytes (limit " +
                          std::to_string(limits_.max_header_bytes) + ")");
      if (!read_bytes(size, metadata, true)) return broken(entry, name, "archive ends inside a header (truncated)");
      if (type == 'L') long_name = field_string(metadata.data(), metadata.size()), named = true;
      if (type == 'x') {
        std::string pax_path;
        if (!parse_pax(metadata, pax_path, pax_size)) return broken(entry, name, "malformed pax header");
        if (!pax_path.empty()) long_name = pax_path, named = true;
      }
      continue;
    }
    std::string ignored;
    const bool regular = type == '0' || type == '\0' || type == '7';
    std::string reason = link_kind(type) ? link_kind(type) : "";
    if (!regular && reason.empty() && type != '5') reason = std::string("unknown member type '") + type + "'";
    if (regular && reason.empty()) reason = hostile_member_name_reason(name);
    if (regular && reason.empty() && size > limits_.max_member_bytes)
      reason = "member of " + std::to_string(size) + " bytes (limit " + std::to_string(limits_.max_member_bytes) + ")";
    const bool keep = regular && reason.empty() && read_data;
    if (!keep && !read_data && regular && reason.empty()) {
      const int64_t padded = (size + kBlock - 1) / kBlock * kBlock;
      in_.seekg(padded, std::ios::cur);  // counting members: no need to read what is passed over
      if (!in_) return broken(entry, name, "archive ends inside a member (truncated)");
    } else if (!read_bytes(size, keep ? entry.data : ignored, keep)) {
      return broken(entry, name, "archive ends inside a member (truncated)");
    }
    if (type == '5') {
      long_name.clear(), named = false, pax_size = -1;
      continue;  // directories hold no data of a sample
    }
    if (!keep) entry.data.clear();
    entry.kind = reason.empty() ? TarEntry::File : TarEntry::Skipped;
    entry.name = name;
    entry.reason = reason;
    entry.size = size;
    return true;
  }
  return false;
}

void TarWriter::header(const std::string& name, int64_t size, char type) {
  char block[kBlock] = {};
  std::memcpy(block, name.data(), std::min<size_t>(name.size(), 100));
  std::snprintf(block + 100, 8, "%07o", 0644);
  std::snprintf(block + 108, 8, "%07o", 0);
  std::snprintf(block + 116, 8, "%07o", 0);
  std::snprintf(block + 124, 12, "%011llo", static_cast<unsigned long long>(size));
  std::snprintf(block + 136, 12, "%011o", 0);
  block[156] = type;
  std::memcpy(block + 257,
              "ustar\0"
              "00",
              8);
  std::memset(block + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < kBlock; ++i) sum += static_cast<unsigned char>(block[i]);
  std::snprintf(block + 148, 8, "%06o", sum);
  out_.write(block, kBlock);
}

void TarWriter::add(const std::string& name, const std::string& data, char type) {
  if (name.size() > 100) {
    header("././@LongLink", static_cast<int64_t>(name.size()) + 1, 'L');
    out_.write(name.c_str(), static_cast<std::streamsize>(name.size()) + 1);
    out_.write(std::string((kBlock - (name.size() + 1) % kBlock) % kBlock, '\0').data(),
               static_cast<std::streamsize>((kBlock - (name.size() + 1) % kBlock) % kBlock));
  }
  header(name, static_cast<int64_t>(data.size()), type);
  out_.write(data.data(), static_cast<std::streamsize>(data.size()));
  const size_t padding = (kBlock - data.size() % kBlock) % kBlock;
  out_.write(std::string(padding, '\0').data(), static_cast<std::streamsize>(padding));
}

void TarWriter::finish() { out_.write(std::string(2 * kBlock, '\0').data(), 2 * kBlock); }

}  // namespace clipgrad::io
