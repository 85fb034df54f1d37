// RFC 4180 CSV: quoted fields may hold delimiters, doubled quotes and line
// breaks; records end in LF or CRLF. The first record is the header and is
// required. Errors name the file and the line ("train.csv:17: unterminated
// quoted field").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace clipgrad::io {

struct CsvTable {
  std::string source;                          // file name used in messages
  std::vector<std::string> header;             // column names, unique
  std::vector<std::vector<std::string>> rows;  // [rows][header.size()]
  std::vector<int64_t> lines;                  // [rows] line where each row starts (header: line 1)

  size_t size() const { return rows.size(); }
  // Position of column `name` in the header, or -1.
  int column_index(std::string_view name) const;
  // Like column_index, but throws naming the column, the file and the columns it has.
  int require_column(std::string_view name) const;
  // "train.csv:17": where row `row` starts, for messages.
  std::string where(size_t row) const;
};

// Parses CSV text. Blank lines between records are skipped; a UTF-8 byte
// order mark at the start is ignored. `source` names the text in errors.
CsvTable parse_csv(std::string_view text, const std::string& source, char delimiter = ',');

// Reads and parses a CSV file; `path` names it in errors.
CsvTable read_csv(const std::string& path, char delimiter = ',');

// The field as it must appear in a CSV: quoted (inner quotes doubled) when it
// holds the delimiter, a quote, CR or LF; unchanged otherwise.
std::string csv_quote(std::string_view field, char delimiter = ',');

// Writes header and rows (each of header.size() fields) with LF line ends.
// Atomic (io/atomic_file.h): writes a temporary file beside `path`, then renames.
void write_csv(const std::string& path, const std::vector<std::string>& header,
               const std::vector<std::vector<std::string>>& rows, char delimiter = ',');

}  // namespace clipgrad::io
