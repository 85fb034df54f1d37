// JSON from files, flags and metadata, read with bounds, and values quoted in
// errors with bounds.
//
// nlohmann-json builds and frees a document without recursion, but dump(),
// copies and comparisons recurse once per level of nesting: a value nested
// 100,000 deep overflows the stack. Every parse of outside JSON goes through
// parse_json, which refuses nesting deeper than kMaxJsonDepth while parsing,
// before any such value exists; error messages quote values and text through
// json_excerpt and excerpt, which never print more than a line.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace clipgrad::io {

// Far deeper than any config, classes file, metadata value or metrics line (at most 3 levels).
inline constexpr int kMaxJsonDepth = 64;
// A JSON file larger than this is refused before it is read (a classes file of 100,000 names is ~2 MiB).
inline constexpr size_t kMaxJsonFileBytes = size_t(64) << 20;

// Parses `text`; throws std::runtime_error("<what> is not valid JSON: <reason>"), or
// "<what> nests arrays and objects deeper than N levels".
nlohmann::json parse_json(std::string_view text, const std::string& what, int max_depth = kMaxJsonDepth);
// parse_json, or nullopt for anything it would refuse (a torn metrics line, say).
std::optional<nlohmann::json> try_parse_json(std::string_view text, int max_depth = kMaxJsonDepth);
// The bytes of the file `path`, refused past max_bytes before more is read; errors name `what` and the path.
std::string read_text_file(const std::string& path, const std::string& what, size_t max_bytes);
// Reads the file `path` (at most kMaxJsonFileBytes) and parses it; errors name `what` and the path.
nlohmann::json read_json_file(const std::string& path, const std::string& what);

// `value` as compact JSON for an error message: at most max_chars characters ("..." where cut);
// a long array or object is described by its size instead.
std::string json_excerpt(const nlohmann::json& value, size_t max_chars = 80);
// `text` for an error message: at most max_chars bytes ("..." where cut, never inside a UTF-8
// sequence), control bytes as \xNN, so that it stays on one line.
std::string excerpt(std::string_view text, size_t max_chars = 80);

}  // namespace clipgrad::io
