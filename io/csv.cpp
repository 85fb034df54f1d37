#include "io/csv.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unordered_set>

#include "io/atomic_file.h"

namespace clipgrad::io {

int CsvTable::column_index(std::string_view name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

int CsvTable::require_column(std::string_view name) const {
  int index = column_index(name);
  if (index >= 0) return index;
  std::string columns;
  for (const auto& column : header) columns += (columns.empty() ? "" : ",") + column;
  throw std::runtime_error(source + ": no column '" + std::string(name) + "' in the header (columns: " + columns +
                           "); add it or choose the column by name");
}

std::string CsvTable::where(size_t row) const { return source + ":" + std::to_string(lines.at(row)); }

namespace {

class CsvParser {
 public:
  CsvParser(std::string_view text, const std::string& source, char delimiter)
      : text_(text), source_(source), delimiter_(delimiter) {}

  CsvTable parse() {
    if (delimiter_ == '"' || delimiter_ == '\n' || delimiter_ == '\r')
      throw std::invalid_argument(source_ + ": a quote or line break cannot be the CSV delimiter");
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
    CsvTable table;
    table.source = source_;
    std::vector<std::string> record;
    int64_t record_line = 0;
    bool have_header = false;
    while (next_record(record, record_line)) {
      if (!have_header) {
        std::unordered_set<std::string> seen;
        for (const auto& name : record)
          if (!seen.insert(name).second) fail(record_line, "column '" + name + "' appears twice in the header");
        table.header = std::move(record);
        have_header = true;
        continue;
      }
      if (record.size() != table.header.size())
        fail(record_line, "expected " + std::to_string(table.header.size()) + " fields (" + joined(table.header) +
                              "), found " + std::to_string(record.size()));
      table.rows.push_back(std::move(record));
      table.lines.push_back(record_line);
    }
    if (!have_header) throw std::runtime_error(source_ + ": empty CSV; expected a header row naming the columns");
    return table;
  }

 private:
  std::string_view text_;
  const std::string& source_;
  char delimiter_;
  size_t pos_ = 0;
  int64_t line_ = 1;

  [[noreturn]] void fail(int64_t line, const std::string& what) const {
    throw std::runtime_error(source_ + ":" + std::to_string(line) + ": " + what);
  }

  static std::string joined(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& name : names) out += (out.empty() ? "" : ",") + name;
    return out;
  }

  bool at_end() const { return pos_ >= text_.size(); }
  // True at LF, or at a CR that ends the line (CRLF or CR at the very end).
  bool at_line_end() const {
    if (at_end()) return false;
    char c = text_[pos_];
    return c == '\n' || (c == '\r' && (pos_ + 1 == text_.size() || text_[pos_ + 1] == '\n'));
  }
  void consume_line_end() {
    if (text_[pos_] == '\r') ++pos_;
    if (!at_end() && text_[pos_] == '\n') ++pos_;
    ++line_;
  }

  bool next_record(std::vector<std::string>& record, int64_t& record_line) {
    while (at_line_end()) consume_line_end();  // blank lines
    if (at_end()) return false;
    record.clear();
    record_line = line_;
    while (true) {
      record.push_back(next_field(record.size() + 1));
      if (at_end()) return true;
      if (at_line_end()) {
        consume_line_end();
        return true;
      }
      ++pos_;  // the delimiter; next_field stopped on nothing else
    }
  }

  std::string next_field(size_t field_number) {
    std::string field;
    if (!at_end() && text_[pos_] == '"') {
      int64_t open_line = line_;
      ++pos_;
      while (true) {
        if (at_end()) fail(open_line, "unterminated quoted field " + std::to_string(field_number));
        char c = text_[pos_];
        if (c == '"') {
          if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
            field += '"';
            pos_ += 2;
            continue;
          }
          ++pos_;
          break;
        }
        if (c == '\n') ++line_;
        field += c;
        ++pos_;
      }
      if (!at_end() && !at_line_end() && text_[pos_] != delimiter_)
        fail(line_, "unexpected character '" + std::string(1, text_[pos_]) + "' after the closing quote of field " +
                        std::to_string(field_number) + " (a quote inside a quoted field must be doubled)");
      return field;
    }
    while (!at_end() && !at_line_end() && text_[pos_] != delimiter_) {
      if (text_[pos_] == '"')
        fail(line_, "stray quote in unquoted field " + std::to_string(field_number) +
                        " (quote the whole field and double the quotes inside it)");
      field += text_[pos_++];
    }
    return field;
  }
};

}  // namespace

CsvTable parse_csv(std::string_view text, const std::string& source, char delimiter) {
  return CsvParser(text, source, delimiter).parse();
}

CsvTable read_csv(const std::string& path, char delimiter) {
  // A device or a pipe (/dev/zero, say) could be read forever.
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    throw std::runtime_error("CSV file '" + path + "' is not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open CSV file '" + path + "': " + std::strerror(errno));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) throw std::runtime_error("cannot read CSV file '" + path + "'");
  return parse_csv(contents.str(), path, delimiter);
}

std::string csv_quote(std::string_view field, char delimiter) {
  if (field.find_first_of(std::string{delimiter, '"', '\r', '\n'}) == std::string_view::npos) return std::string(field);
  std::string quoted = "\"";
  for (char c : field) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

void write_csv(const std::string& path, const std::vector<std::string>& header,
               const std::vector<std::vector<std::string>>& rows, char delimiter) {
  std::string contents;
  auto append_record = [&](const std::vector<std::string>& record) {
    for (size_t i = 0; i < record.size(); ++i) {
      if (i) contents += delimiter;
      contents += csv_quote(record[i], delimiter);
    }
    contents += '\n';
  };
  append_record(header);
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].size() != header.size())
      throw std::invalid_argument("write_csv '" + path + "': row " + std::to_string(r) + " has " +
                                  std::to_string(rows[r].size()) + " fields, the header has " +
                                  std::to_string(header.size()));
    append_record(rows[r]);
  }
  write_file_atomic(path, contents);
}

}  // namespace clipgrad::io
