// libFuzzer target: the streaming tar reader on arbitrary bytes. Whatever the
// input, the reader returns entries and ends (no exception, no crash, no
// allocation past its limits); a File entry holds exactly its stated size.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

#include "io/tar.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  clipgrad::io::TarReader reader(in, "fuzz-input", {.max_member_bytes = 1 << 20, .max_header_bytes = 1 << 16});
  int64_t entries = 0;
  for (clipgrad::io::TarEntry entry; reader.next(entry);) {
    if (entry.kind == clipgrad::io::TarEntry::File && static_cast<int64_t>(entry.data.size()) != entry.size)
      throw std::logic_error("member '" + entry.name + "' came back with the wrong number of bytes");
    if (entry.kind == clipgrad::io::TarEntry::File && !clipgrad::io::hostile_member_name_reason(entry.name).empty())
      throw std::logic_error("hostile member name '" + entry.name + "' came back as a file");
    if (++entries > static_cast<int64_t>(size / 512) + 1) throw std::logic_error("more entries than headers");
  }
  return 0;
}
