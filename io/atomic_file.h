// Files written whole or not at all: the contents go to a temporary file beside
// the target, which is then renamed over it, so a reader (or a run killed
// mid-write) sees the old file or the new one, never half of one. Every writer
// of a small file uses it: CSVs, JSON (stage.json, results, attack.json,
// classes.json, a command's --json), the report, a trimmed metrics.jsonl.
// (Large files stream: io::write_safetensors keeps its own temporary file, and
// flushes it to disk before the rename.)
#pragma once

#include <string>
#include <string_view>

namespace clipgrad::io {

// Writes `contents` to `path` atomically (temporary file beside it, then rename).
// Throws naming `path` when the folder is missing or unwritable, or the disk is full.
void write_file_atomic(const std::string& path, std::string_view contents);

// A temporary file name beside `path`, unique per process and call, so parallel
// writers never share one: for writers that need a path rather than bytes.
std::string temporary_path_beside(const std::string& path);

}  // namespace clipgrad::io
