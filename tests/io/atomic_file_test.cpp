#include "io/atomic_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>
#include <string>

#include "test_temp_dir.h"

namespace clipgrad::io {
namespace {

namespace fs = std::filesystem;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(AtomicFile, WritesAndReplacesWholeFilesAndLeavesNoTemporary) {
  testing::TempDir dir("atomic_file");
  const std::string path = dir.file("out.json");
  write_file_atomic(path, std::string("first\0bytes", 11));
  EXPECT_EQ(read_all(path), std::string("first\0bytes", 11));
  write_file_atomic(path, "second");
  EXPECT_EQ(read_all(path), "second");
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) files += entry.is_regular_file();
  EXPECT_EQ(files, 1u);
}

TEST(AtomicFile, AMissingFolderIsAnErrorNamingTheFile) {
  testing::TempDir dir("atomic_file");
  const std::string path = dir.file("missing/out.json");
  try {
    write_file_atomic(path, "x");
    FAIL() << "no error";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("cannot write '" + path + "'"), std::string::npos) << error.what();
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(AtomicFile, TemporaryPathsAreBesideTheFileAndNeverRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string temporary = temporary_path_beside("dir/model.png");
    EXPECT_EQ(temporary.rfind("dir/model.png.tmp.", 0), 0u) << temporary;
    EXPECT_TRUE(seen.insert(temporary).second) << temporary;
  }
}

}  // namespace
}  // namespace clipgrad::io
