#include "io/atomic_file.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace clipgrad::io {

std::string temporary_path_beside(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

namespace {

// A device or a pipe (/dev/stdout, /dev/full) is written in place, each write checked: a
// rename would replace the device node with a file.
void write_in_place(const std::string& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw std::runtime_error("cannot write '" + path + "': " + std::strerror(errno));
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  if (!out) throw std::runtime_error("cannot write '" + path + "': " + std::strerror(errno));
}

}  // namespace

void write_file_atomic(const std::string& path, std::string_view contents) {
  namespace fs = std::filesystem;
  std::error_code status_error;
  const fs::file_status status = fs::status(path, status_error);
  if (fs::is_directory(status)) throw std::runtime_error("cannot write '" + path + "': it is a folder");
  if (fs::is_character_file(status) || fs::is_fifo(status)) return write_in_place(path, contents);
  if (fs::exists(status) && !fs::is_regular_file(status))
    throw std::runtime_error("cannot write '" + path + "': it exists and is not a regular file");
  std::string temporary = temporary_path_beside(path);
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out)
      throw std::runtime_error("cannot write '" + path + "': " + std::strerror(errno) +
                               " (does the folder exist and is it writable?)");
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.close();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(temporary, ignored);
      throw std::runtime_error("cannot write '" + path + "': write failed (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw std::runtime_error("cannot write '" + path + "': rename failed: " + ec.message());
  }
}

StagedFolder::StagedFolder(std::string target, std::vector<std::string> replaceable) : target_(std::move(target)) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(target_, ec)) {
    if (!fs::is_directory(target_, ec)) throw std::runtime_error("'" + target_ + "' exists and is not a folder");
    for (const fs::directory_entry& entry : fs::directory_iterator(target_)) {
      const std::string name = entry.path().filename().string();
      if (std::find(replaceable.begin(), replaceable.end(), name) == replaceable.end())
        throw std::runtime_error("'" + target_ + "' holds '" + name +
                                 "', which this command does not write: it replaces only a folder of its own "
                                 "output; choose an empty or new folder");
    }
  }
  const fs::path parent = fs::absolute(target_).parent_path();
  fs::create_directories(parent);
  staging_ = temporary_path_beside(fs::absolute(target_).lexically_normal().string());
  if (!fs::create_directory(staging_, ec) || ec)
    throw std::runtime_error("cannot create '" + staging_ + "' beside '" + target_ + "': " + ec.message());
}

StagedFolder::~StagedFolder() {
  if (committed_) return;
  std::error_code ignored;
  std::filesystem::remove_all(staging_, ignored);
}

void StagedFolder::commit() {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(target_, ec)) {
    fs::rename(staging_, target_, ec);
    if (ec) throw std::runtime_error("cannot move '" + staging_ + "' to '" + target_ + "': " + ec.message());
  } else if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, target_.c_str(), RENAME_EXCHANGE) != 0) {
    // No atomic exchange on this filesystem: the old folder is moved aside, the new one in.
    const std::string aside = temporary_path_beside(fs::absolute(target_).lexically_normal().string());
    fs::rename(target_, aside, ec);
    if (ec) throw std::runtime_error("cannot replace '" + target_ + "': " + ec.message());
    fs::rename(staging_, target_, ec);
    if (ec) {
      std::error_code ignored;
      fs::rename(aside, target_, ignored);  // the old folder back in place
      throw std::runtime_error("cannot replace '" + target_ + "': " + ec.message());
    }
    staging_ = aside;  // what is left to remove: the old folder
  }
  committed_ = true;
  fs::remove_all(staging_, ec);  // after an exchange: the old contents
}

}  // namespace clipgrad::io
