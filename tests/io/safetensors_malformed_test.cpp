// Every malformed safetensors input must be refused with a SafetensorsError that
// names the file and the problem, before anything large is allocated: each case
// below claims far more data than it holds, so a reader that allocated first
// would fail with std::bad_alloc (or worse) instead.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "io/safetensors.h"

namespace clipgrad {
namespace {

constexpr const char* kLabel = "x.safetensors";

// Length prefix (the header's own length unless `length` overrides it), header text, data.
std::vector<unsigned char> make_file(const std::string& header, const std::vector<unsigned char>& data = {},
                                     std::optional<uint64_t> length = std::nullopt) {
  const uint64_t prefix = length.value_or(header.size());
  std::vector<unsigned char> bytes(8 + header.size() + data.size());
  std::memcpy(bytes.data(), &prefix, 8);
  std::copy(header.begin(), header.end(), bytes.begin() + 8);
  std::copy(data.begin(), data.end(), bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header.size()));
  return bytes;
}

template <class T>
std::vector<unsigned char> as_bytes(const std::vector<T>& values) {
  std::vector<unsigned char> bytes(values.size() * sizeof(T));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

// The parse must fail with a message naming the file and containing `problem`.
void expect_refused(const std::vector<unsigned char>& file, const std::string& problem) {
  try {
    io::parse_safetensors(kLabel, file.data(), file.size());
    ADD_FAILURE() << "accepted a file that should fail with: " << problem;
  } catch (const io::SafetensorsError& error) {
    const std::string message = error.what();
    EXPECT_EQ(message.rfind(std::string("bad checkpoint '") + kLabel + "': ", 0), 0u) << message;
    EXPECT_NE(message.find(problem), std::string::npos) << message;
  }
}

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

const std::vector<unsigned char> kSixteenBytes(16, 0);

TEST(SafetensorsMalformed, TruncatedHeaderLength) {
  expect_refused({}, "holds 0 bytes, fewer than the 8-byte header length");
  expect_refused({1, 0, 0}, "holds 3 bytes");
}

TEST(SafetensorsMalformed, TruncatedHeader) {
  const std::string header = "{" + entry("a", "F32", "[2]", "[0,8]") + "}";
  std::vector<unsigned char> file = make_file(header, std::vector<unsigned char>(8));
  file.resize(8 + header.size() / 2);
  expect_refused(file, "header length " + std::to_string(header.size()) + " runs past the end of the file");
}

TEST(SafetensorsMalformed, TruncatedData) {
  const std::string header = "{" + entry("a", "F32", "[4]", "[0,16]") + "}";
  expect_refused(make_file(header, std::vector<unsigned char>(9)),
                 "tensor 'a' has data_offsets [0,16] past the end of the data block (9 bytes)");
}

TEST(SafetensorsMalformed, TruncatedFileOnDisk) {
  const std::string path =
      (std::filesystem::path(::testing::TempDir()) / ("truncated." + std::to_string(::getpid()) + ".safetensors"))
          .string();
  io::write_safetensors(path, std::map<std::string, Tensor>{{"w", Tensor::zeros({64})}});
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 5);
  try {
    io::read_safetensors(path);
    ADD_FAILURE() << "read a truncated file";
  } catch (const io::SafetensorsError& error) {
    EXPECT_NE(std::string(error.what()).find("'" + path + "'"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("past the end of the data block"), std::string::npos) << error.what();
  }
  std::filesystem::remove(path);
}

TEST(SafetensorsMalformed, HeaderLengthPastTheFile) {
  expect_refused(make_file("{}", {}, 1000), "header length 1000 runs past the end of the file (10 bytes)");
}

TEST(SafetensorsMalformed, HugeHeaderLength) {
  expect_refused(make_file("{}", {}, uint64_t{1} << 63), "header length 9223372036854775808 runs past the end");
  expect_refused(make_file("{}", {}, ~uint64_t{0}), "runs past the end");
}

TEST(SafetensorsMalformed, OffsetsOutOfRange) {
  expect_refused(make_file("{" + entry("a", "F32", "[250]", "[0,1000]") + "}", kSixteenBytes),
                 "tensor 'a' has data_offsets [0,1000] past the end of the data block (16 bytes)");
  expect_refused(make_file("{" + entry("a", "F32", "[1]", "[8,4]") + "}", kSixteenBytes),
                 "tensor 'a' has data_offsets [8,4] that end before they begin");
  expect_refused(make_file("{" + entry("a", "F32", "[1]", "[-4,0]") + "}", kSixteenBytes),
                 "both must be non-negative integers");
  expect_refused(make_file("{" + entry("a", "F32", "[1]", "[0,4.0]") + "}", kSixteenBytes),
                 "both must be non-negative integers");
  expect_refused(make_file("{" + entry("a", "F32", "[1]", "[0]") + "}", kSixteenBytes),
                 "tensor 'a' has data_offsets [0]; expected [begin, end]");
  expect_refused(make_file("{" + entry("a", "U8", "[1]", "[18446744073709551615,18446744073709551616]") + "}"),
                 "both must be non-negative integers");
}

TEST(SafetensorsMalformed, OverlappingSpans) {
  const std::string header = "{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[2]", "[4,12]") + "}";
  expect_refused(make_file(header, kSixteenBytes), "tensors 'a' [0,8] and 'b' [4,12] overlap in the data block");
  const std::string nested =
      "{" + entry("outer", "U8", "[16]", "[0,16]") + "," + entry("inner", "U8", "[2]", "[10,12]") + "}";
  expect_refused(make_file(nested, kSixteenBytes), "tensors 'outer' [0,16] and 'inner' [10,12] overlap");
}

TEST(SafetensorsMalformed, EmptySpansShareNoBytes) {
  const std::string header = "{" + entry("a", "F32", "[4]", "[0,16]") + "," + entry("none", "F32", "[0,3]", "[8,8]") +
                             "," + entry("also", "U8", "[0]", "[8,8]") + "}";
  const std::vector<unsigned char> file = make_file(header, kSixteenBytes);
  const io::SafetensorsFile parsed = io::parse_safetensors(kLabel, file.data(), file.size());
  EXPECT_EQ(parsed.at("none").shape(), (Shape{0, 3}));
  EXPECT_EQ(parsed.at("a").numel(), 4);
}

TEST(SafetensorsMalformed, UnknownDtype) {
  expect_refused(make_file("{" + entry("visual.proj", "F8_E4M3", "[2]", "[0,2]") + "}", kSixteenBytes),
                 "tensor 'visual.proj' has dtype F8_E4M3, which clipgrad cannot read "
                 "(it reads F32, F64, F16, BF16, I64, I32, U8, BOOL)");
  expect_refused(make_file(R"({"a":{"dtype":4,"shape":[],"data_offsets":[0,4]}})", kSixteenBytes),
                 "tensor 'a' has a dtype that is a JSON number, not a string");
}

TEST(SafetensorsMalformed, MalformedJson) {
  expect_refused(make_file(R"({"a": )"), "header is not valid JSON (parse error");
  expect_refused(make_file("{}\x01"), "header is not valid JSON");
  expect_refused(make_file("{\"\xff\":1}"), "header is not valid JSON");  // not UTF-8
  expect_refused(make_file(R"({"a":1,"a":2})"), "header repeats the key 'a'");
  expect_refused(make_file(R"({"a":{"dtype":"U8","dtype":"U8","shape":[0],"data_offsets":[0,0]}})"),
                 "header repeats the key 'dtype' inside one entry");
  expect_refused(make_file(std::string(5000, '[') + std::string(5000, ']')), "nests arrays or objects deeper");
}

TEST(SafetensorsMalformed, NonObjectJson) {
  expect_refused(make_file("[1,2]"), "its header is a JSON array, not an object");
  expect_refused(make_file("\"text\""), "its header is a JSON string, not an object");
  expect_refused(make_file("{\"a\":[1]}"), "tensor 'a' is a JSON array, not an object");
  expect_refused(make_file(R"({"__metadata__":[]})"), "__metadata__ is a JSON array, not an object of strings");
  expect_refused(make_file(R"({"__metadata__":{"format":1}})"), "__metadata__ key 'format' holds a JSON number");
}

TEST(SafetensorsMalformed, WrongFields) {
  expect_refused(make_file(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", kSixteenBytes),
                 "tensor 'a' lacks the field 'shape'");
  expect_refused(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":0}})", kSixteenBytes),
                 "tensor 'a' has an unexpected field 'x'");
  expect_refused(make_file(R"({"a":{"dtype":"F32","shape":4,"data_offsets":[0,4]}})", kSixteenBytes),
                 "tensor 'a' has a shape that is a JSON number, not an array");
}

TEST(SafetensorsMalformed, ShapeDisagreesWithSpan) {
  expect_refused(
      make_file("{" + entry("visual.proj", "F32", "[64,32]", "[0,4096]") + "}", std::vector<unsigned char>(4096)),
      "tensor 'visual.proj' has dtype F32 and shape [64,32] (8192 bytes) but its data span holds 4096 bytes");
  expect_refused(make_file("{" + entry("h", "BF16", "[3]", "[0,4]") + "}", kSixteenBytes),
                 "tensor 'h' has dtype BF16 and shape [3] (6 bytes) but its data span holds 4 bytes");
}

TEST(SafetensorsMalformed, NegativeOrHugeShape) {
  expect_refused(make_file("{" + entry("a", "F32", "[-1,4]", "[0,16]") + "}", kSixteenBytes),
                 "tensor 'a' has shape [-1,4]; dimensions must be non-negative integers");
  expect_refused(make_file("{" + entry("a", "F32", "[1.5]", "[0,4]") + "}", kSixteenBytes),
                 "dimensions must be non-negative integers");
  expect_refused(make_file("{" + entry("a", "U8", "[9223372036854775808]", "[0,16]") + "}", kSixteenBytes),
                 "with a dimension beyond 2^63");
  expect_refused(make_file("{" + entry("a", "U8", "[4611686018427387904,4611686018427387904,0]", "[0,0]") + "}"),
                 "whose byte size overflows 64 bits");
  expect_refused(make_file("{" + entry("a", "F64", "[2305843009213693952]", "[0,16]") + "}", kSixteenBytes),
                 "tensor 'a' has shape [2305843009213693952] whose byte size overflows 64 bits");
  expect_refused(make_file("{" + entry("a", "F32", "[1099511627776,1024]", "[0,16]") + "}", kSixteenBytes),
                 "(4503599627370496 bytes) but its data span holds 16 bytes");
}

TEST(SafetensorsMalformed, I64OutOfI32Range) {
  const std::string header = "{" + entry("count", "I64", "[2]", "[0,16]") + "}";
  expect_refused(make_file(header, as_bytes<int64_t>({5, 3000000000})),
                 "tensor 'count' (I64) holds 3000000000 at index 1, outside the i32 range");
  expect_refused(make_file(header, as_bytes<int64_t>({-2147483649LL, 0})), "holds -2147483649 at index 0");
  const std::vector<unsigned char> fits = make_file(header, as_bytes<int64_t>({-2147483648LL, 2147483647LL}));
  EXPECT_EQ(io::parse_safetensors(kLabel, fits.data(), fits.size()).at("count").to_vector<int32_t>(),
            (std::vector<int32_t>{-2147483647 - 1, 2147483647}));
}

TEST(SafetensorsMalformed, BoolBytesOtherThanZeroOrOne) {
  expect_refused(make_file("{" + entry("mask", "BOOL", "[3]", "[0,3]") + "}", {0, 1, 7}),
                 "tensor 'mask' (BOOL) holds byte 7 at index 2; BOOL bytes must be 0 or 1");
}

TEST(SafetensorsMalformed, PaddedHeaderAndGapsAreAccepted) {
  const std::string header = "{" + entry("a", "U8", "[2]", "[4,6]") + "}    ";
  const std::vector<unsigned char> file = make_file(header, {9, 9, 9, 9, 1, 2, 9, 9});
  EXPECT_EQ(io::parse_safetensors(kLabel, file.data(), file.size()).at("a").to_vector<uint8_t>(),
            (std::vector<uint8_t>{1, 2}));
}

}  // namespace
}  // namespace clipgrad
