// libFuzzer target: the CSV reader (RFC 4180 quoting, header, line numbers) on
// arbitrary bytes, with the delimiter taken from the first byte. A
// std::runtime_error naming the source is the expected answer to bad input;
// anything else escaping, a crash or a sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "io/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const char delimiter = static_cast<char>(data[0]);
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    const clipgrad::io::CsvTable table = clipgrad::io::parse_csv(text, "fuzz.csv", delimiter);
    if (table.rows.size() != table.lines.size()) throw std::logic_error("a row without its line number");
    for (const auto& row : table.rows)
      if (row.size() != table.header.size()) throw std::logic_error("a row of another width than the header");
  } catch (const std::runtime_error&) {
  } catch (const std::invalid_argument&) {  // a delimiter that cannot be one (a quote, a line break)
  }
  return 0;
}
