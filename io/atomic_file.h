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
#include <vector>

namespace clipgrad::io {

// Writes `contents` to `path` atomically (temporary file beside it, then rename).
// Throws naming `path` when the folder is missing or unwritable, or the disk is full,
// or `path` is a folder. A device or pipe (/dev/stdout) is written in place, never
// renamed over; a failed write to it (/dev/full) throws too.
void write_file_atomic(const std::string& path, std::string_view contents);

// A temporary file name beside `path`, unique per process and call, so parallel
// writers never share one: for writers that need a path rather than bytes.
std::string temporary_path_beside(const std::string& path);

// A folder written whole or not at all. Its contents are made in a temporary
// folder beside `target` (path()), which commit() puts in the target's place
// in one step (renameat2's exchange where the filesystem has it). Until then
// the target is untouched, and a writer that fails (destroyed uncommitted)
// removes its temporary folder: a failure leaves nothing half-written and
// nothing mixed. An existing target is replaced only when it holds nothing
// but entries named in `replaceable` (what this writer itself writes); the
// constructor refuses anything else there, naming it, before any work. A
// process killed mid-write (SIGKILL) leaves its TARGET.tmp.* folder beside.
class StagedFolder {
 public:
  StagedFolder(std::string target, std::vector<std::string> replaceable);
  ~StagedFolder();
  StagedFolder(const StagedFolder&) = delete;
  StagedFolder& operator=(const StagedFolder&) = delete;

  const std::string& path() const { return staging_; }  // where to write
  const std::string& target() const { return target_; }
  void commit();

 private:
  std::string target_, staging_;
  bool committed_ = false;
};

}  // namespace clipgrad::io
