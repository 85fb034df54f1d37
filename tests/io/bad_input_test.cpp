// io/ on hostile and careless input (docs/bad_input.md): image sizes checked
// from the header, only PNG, JPEG and BMP decoded, a PNG whose zlib stream
// inflates past its image refused, JSON nesting bounded and quoted briefly,
// folders written whole, devices never renamed over, /dev/zero never read.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "io/atomic_file.h"
#include "io/csv.h"
#include "io/decode.h"
#include "io/image.h"
#include "io/json.h"
#include "test_temp_dir.h"

namespace clipgrad::io {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string be32(uint32_t value) {
  return {static_cast<char>(value >> 24), static_cast<char>(value >> 16), static_cast<char>(value >> 8),
          static_cast<char>(value)};
}

std::string png_chunk(const std::string& type, const std::string& data) {
  const std::string body = type + data;
  return be32(static_cast<uint32_t>(data.size())) + body +
         be32(static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), body.size())));
}

// An 8-bit RGB PNG claiming width x height, whose image data is `raw` (filter bytes included) zlib-compressed.
std::string png_file(uint32_t width, uint32_t height, const std::string& raw) {
  uLongf size = compressBound(raw.size());
  std::string compressed(size, '\0');
  EXPECT_EQ(compress2(reinterpret_cast<Bytef*>(compressed.data()), &size, reinterpret_cast<const Bytef*>(raw.data()),
                      raw.size(), 9),
            Z_OK);
  compressed.resize(size);
  return std::string("\x89PNG\r\n\x1a\n", 8) +
         png_chunk("IHDR", be32(width) + be32(height) + std::string("\x08\x02\0\0\0", 5)) +
         png_chunk("IDAT", compressed) + png_chunk("IEND", "");
}

std::string decode_error(const std::string& path, const ImageLimits& limits = {}) {
  try {
    decode_image(path, {.limits = limits});
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  return "(decoded)";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(BadImages, SizeIsCheckedFromTheHeaderBeforeDecoding) {
  TempDir dir("bad_input");
  // A 100-byte file that claims 10,000 x 10,000 pixels (300 MB of RGB; stb itself refuses past 1 GB).
  std::ofstream(dir.file("huge.png"), std::ios::binary) << png_file(10000, 10000, std::string(4, '\0'));
  std::string message = decode_error(dir.file("huge.png"));
  EXPECT_TRUE(contains(message, "huge.png' is 10000 x 10000 pixels, more than the 89478485 allowed")) << message;
  // A 1 x 300 strip: within the pixels, beyond the aspect ratio (preprocessing would make it 224 x 67200).
  std::string strip(300 * 4, '\0');
  std::ofstream(dir.file("strip.png"), std::ios::binary) << png_file(1, 300, strip);
  message = decode_error(dir.file("strip.png"));
  EXPECT_TRUE(contains(message, "an aspect ratio of 300:1, more than the 100:1 allowed")) << message;
  EXPECT_EQ(decode_image(dir.file("strip.png"), {.limits = {.max_pixels = 1000, .max_aspect = 300}}).height, 300);
  message = decode_error(dir.file("strip.png"), {.max_pixels = 299, .max_aspect = 300});
  EXPECT_TRUE(contains(message, "more than the 299 allowed (--max-image-pixels")) << message;
  EXPECT_THROW(check_image_size("x", 0, 5, 3), std::runtime_error);
  EXPECT_NO_THROW(check_image_size("x", 224, 224, 3));
}

// A 1 x 1 PNG whose zlib stream inflates to 64 MiB: stb would grow its buffer to hold it all.
TEST(BadImages, APngStreamCannotInflatePastItsImage) {
  TempDir dir("bad_input");
  std::ofstream(dir.file("bomb.png"), std::ios::binary) << png_file(1, 1, std::string(64 << 20, '\0'));
  ASSERT_LT(fs::file_size(dir.file("bomb.png")), 256u << 10);
  const std::string message = decode_error(dir.file("bomb.png"));
  EXPECT_TRUE(contains(message, "cannot decode image")) << message;
  std::ofstream(dir.file("fine.png"), std::ios::binary) << png_file(1, 1, std::string(4, '\0'));
  EXPECT_EQ(decode_image(dir.file("fine.png")).rgb, (std::vector<uint8_t>{0, 0, 0}));
}

// GIF, PNM, TGA and HDR decoded before: stb is built with PNG, JPEG and BMP alone.
TEST(BadImages, OnlyPngJpegAndBmpAreDecoded) {
  TempDir dir("bad_input");
  const std::map<std::string, std::string> files = {
      {"a.gif",
       std::string("GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xff\xff\xff,\0\0\0\0\x01\0\x01\0\0\x02\x02\x44\x01\0;", 35)},
      {"a.ppm", std::string("P6\n2 2\n255\n") + std::string(12, '\x7f')},
      {"a.tga", std::string("\0\0\x02\0\0\0\0\0\0\0\0\0\x01\0\x01\0\x18\0", 18) + std::string(3, '\x7f')},
      {"a.hdr", std::string("#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 1\n") + std::string("\x80\x80\x80\x80", 4)}};
  for (const auto& [name, bytes] : files) {
    std::ofstream(dir.file(name), std::ios::binary) << bytes;
    const std::string message = decode_error(dir.file(name));
    EXPECT_TRUE(contains(message, "(expected a JPEG, PNG, WebP or BMP file)")) << name << ": " << message;
  }
}

TEST(BadJson, NestingIsBoundedAndValuesAreQuotedBriefly) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  try {
    parse_json(deep, "config");
    FAIL() << "parsed";
  } catch (const std::runtime_error& error) {
    EXPECT_TRUE(contains(error.what(), "config nests arrays and objects deeper than 64 levels")) << error.what();
  }
  EXPECT_FALSE(try_parse_json(deep));
  EXPECT_EQ(parse_json(std::string(64, '[') + std::string(64, ']'), "x").size(), 1u);
  EXPECT_THROW(parse_json("{\"a\": ", "x"), std::runtime_error);
  // A number beyond a double is nlohmann's out_of_range, not a parse_error: it escaped (found by the fuzzer).
  try {
    parse_json("{\"embed_dim\": 4e444}", "config");
    FAIL() << "parsed";
  } catch (const std::runtime_error& error) {
    EXPECT_TRUE(contains(error.what(), "config is not valid JSON: number overflow")) << error.what();
  }
  const nlohmann::json long_string = std::string(1 << 20, 'x');
  EXPECT_LE(json_excerpt(long_string).size(), 90u);
  EXPECT_EQ(json_excerpt(nlohmann::json::array({1, 2})), "[1,2]");
  EXPECT_EQ(json_excerpt(nlohmann::json(std::vector<int>(1000, 7))), "an array of 1000 items");
  EXPECT_EQ(excerpt("a\nb\x01"), "a\\x0ab\\x01");
  EXPECT_EQ(excerpt(std::string(100, 'y'), 10), "yyyyyyyyyy...");
}

TEST(BadJson, FilesAreBoundedAndNamed) {
  TempDir dir("bad_input");
  try {
    read_json_file("/dev/zero", "classes file");
    FAIL() << "read /dev/zero";
  } catch (const std::runtime_error& error) {
    EXPECT_TRUE(contains(error.what(), "classes file '/dev/zero' is larger than 64 MiB")) << error.what();
  }
  std::ofstream(dir.file("bad.json")) << "{\"classes\": [1,}";
  try {
    read_json_file(dir.file("bad.json"), "classes file");
    FAIL() << "parsed";
  } catch (const std::runtime_error& error) {
    EXPECT_TRUE(contains(error.what(), "classes file '" + dir.file("bad.json") + "' is not valid JSON"))
        << error.what();
  }
}

TEST(StagedFolder, ReplacesItsOwnOutputWholeAndLeavesNoTemporary) {
  TempDir dir("bad_input");
  const std::string target = dir.file("out");
  {
    StagedFolder staged(target, {"a.txt"});
    write_file_atomic((fs::path(staged.path()) / "a.txt").string(), "first");
    EXPECT_FALSE(fs::exists(target));  // nothing in place before the commit
    staged.commit();
  }
  {
    StagedFolder staged(target, {"a.txt"});
    write_file_atomic((fs::path(staged.path()) / "a.txt").string(), "second");
    staged.commit();
  }
  std::ifstream in(fs::path(target) / "a.txt");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "second");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(StagedFolder, AFailureLeavesTheTargetAsItWas) {
  TempDir dir("bad_input");
  const std::string target = dir.file("out");
  fs::create_directories(target);
  write_file_atomic((fs::path(target) / "a.txt").string(), "old");
  try {
    StagedFolder staged(target, {"a.txt"});
    write_file_atomic((fs::path(staged.path()) / "a.txt").string(), "half");
    throw std::runtime_error("the writer fails");
  } catch (const std::runtime_error&) {
  }
  std::ifstream in(fs::path(target) / "a.txt");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1) << "a temporary is left";
  // A folder holding something the writer does not write is never replaced.
  write_file_atomic((fs::path(target) / "notes.txt").string(), "mine");
  try {
    StagedFolder staged(target, {"a.txt"});
    FAIL() << "would replace notes.txt";
  } catch (const std::runtime_error& error) {
    EXPECT_TRUE(contains(error.what(), "holds 'notes.txt', which this command does not write")) << error.what();
  }
}

TEST(CheckedWrites, DevicesAreWrittenInPlaceAndFoldersRefused) {
  TempDir dir("bad_input");
  EXPECT_THROW(write_file_atomic(dir.path().string(), "x"), std::runtime_error);
  if (!fs::is_character_file("/dev/full")) GTEST_SKIP() << "no /dev/full";
  EXPECT_THROW(write_file_atomic("/dev/full", "{}"), std::runtime_error);  // ENOSPC, not a rename over it
  EXPECT_TRUE(fs::is_character_file("/dev/full"));
  EXPECT_NO_THROW(write_file_atomic("/dev/null", "{}"));
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
}

TEST(BadCsv, ADeviceIsNotReadForever) {
  try {
    read_csv("/dev/zero");
    FAIL() << "read /dev/zero";
  } catch (const std::runtime_error& error) {
    EXPECT_TRUE(contains(error.what(), "CSV file '/dev/zero' is not a regular file")) << error.what();
  }
}

}  // namespace
}  // namespace clipgrad::io
