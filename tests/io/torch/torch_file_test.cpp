// The PyTorch checkpoint reader on files written by real PyTorch
// (tools/make_torch_fixtures.py): every dtype, views, the three formats,
// state-dict discovery, malicious pickles, and truncated or corrupt bytes.
#include "io/torch/torch_file.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

namespace clipgrad::io {
namespace {

const std::string kFixtures = CLIPGRAD_FIXTURES;
const std::string kCorpus = kFixtures + "/../fuzz/torch_corpus";

std::vector<unsigned char> bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<double> values(const Tensor& tensor) {
  std::vector<double> out;
  for (int64_t i = 0; i < tensor.numel(); ++i) switch (tensor.dtype()) {
      case DType::F32: out.push_back(tensor.data<float>()[i]); break;
      case DType::F64: out.push_back(tensor.data<double>()[i]); break;
      case DType::I32: out.push_back(tensor.data<int32_t>()[i]); break;
      case DType::U8: out.push_back(tensor.data<uint8_t>()[i]); break;
      default: ADD_FAILURE() << "unexpected dtype " << dtype_name(tensor.dtype());
    }
  return out;
}

// Every seed holds {"t": arange(6).reshape(2, 3)} in one dtype.
TEST(TorchFile, ReadsEveryDtypeTorchSaves) {
  struct Case {
    const char* file;
    const char* stored;
    DType dtype;
  };
  for (const Case& c : {Case{"f32", "F32", DType::F32}, Case{"f16", "F16", DType::F32},
                        Case{"bf16", "BF16", DType::F32}, Case{"f64", "F64", DType::F64},
                        Case{"i64", "I64", DType::I32}, Case{"i32", "I32", DType::I32}, Case{"u8", "U8", DType::U8}}) {
    SCOPED_TRACE(c.file);
    TorchCheckpoint file = read_torch_file(kCorpus + "/seed_dtype_" + c.file + ".pt");
    EXPECT_EQ(file.format, TorchFormat::Zip);
    const StoredTensor& t = file.tensors.at("t");
    EXPECT_EQ(t.stored_dtype, c.stored);
    EXPECT_EQ(t.value.dtype(), c.dtype);
    EXPECT_EQ(t.value.shape(), (Shape{2, 3}));
    EXPECT_EQ(values(t.value), (std::vector<double>{0, 1, 2, 3, 4, 5}));
  }
  const StoredTensor flags = read_torch_file(kCorpus + "/seed_dtype_bool.pt").tensors.at("t");
  EXPECT_EQ(flags.stored_dtype, "BOOL");
  EXPECT_EQ(values(flags.value), (std::vector<double>{0, 0, 0, 1, 1, 1}));
}

TEST(TorchFile, MakesViewsContiguous) {
  TorchCheckpoint file = read_torch_file(kCorpus + "/seed_views.pt");
  EXPECT_EQ(file.tensors.at("view").value.shape(), (Shape{3, 2}));
  EXPECT_EQ(values(file.tensors.at("view").value), (std::vector<double>{0, 3, 1, 4, 2, 5}));  // base.t()
  EXPECT_EQ(values(file.tensors.at("slice").value), (std::vector<double>{1, 2, 4, 5}));       // base[:, 1:]
  EXPECT_EQ(file.tensors.at("scalar").value.shape(), Shape{});
  EXPECT_EQ(values(file.tensors.at("scalar").value), std::vector<double>{2.5});
}

TEST(TorchFile, ReadsTheLegacyFormat) {
  TorchCheckpoint file = read_torch_file(kCorpus + "/seed_legacy.pt");
  EXPECT_EQ(file.format, TorchFormat::Legacy);
  EXPECT_EQ(values(file.tensors.at("t").value), (std::vector<double>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(values(file.tensors.at("v").value), (std::vector<double>{0, 3, 1, 4, 2, 5}));
}

TEST(TorchFile, ReadsDeflatedEntries) {
  TorchCheckpoint file = read_torch_file(kCorpus + "/seed_zip_deflated.pt");
  EXPECT_EQ(values(file.tensors.at("t").value), (std::vector<double>{0, 1, 2, 3, 4, 5}));
}

TEST(TorchFile, ReadsTorchScriptParametersAndBuffersByAttributePath) {
  TorchCheckpoint file = read_torch_file(kCorpus + "/seed_torchscript.pt");
  EXPECT_EQ(file.format, TorchFormat::TorchScript);
  ASSERT_EQ(file.tensors.size(), 3u);
  EXPECT_EQ(file.tensors.at("linear.weight").value.shape(), (Shape{3, 2}));
  EXPECT_EQ(file.tensors.at("linear.bias").value.shape(), (Shape{3}));
  EXPECT_EQ(values(file.tensors.at("steps").value), (std::vector<double>{1, 2}));
  EXPECT_EQ(file.tensors.at("steps").stored_dtype, "I64");
}

TEST(TorchFile, FindsTheStateDictOfATrainingCheckpoint) {
  TorchCheckpoint file = read_torch_file(kCorpus + "/seed_checkpoint.pt");
  EXPECT_EQ(file.state_dict_key, "state_dict");
  EXPECT_TRUE(file.stripped_module_prefix);
  ASSERT_EQ(file.tensors.size(), 1u);
  EXPECT_TRUE(file.tensors.count("a"));
  ASSERT_EQ(file.extras.size(), 2u);
  EXPECT_EQ(file.extras[0], (std::pair<std::string, std::string>{"epoch", "1"}));
  EXPECT_EQ(file.extras[1].first, "optimizer");
}

TEST(TorchFile, NarrowsInt64WithARangeCheck) {
  const std::string path = kCorpus + "/seed_i64_out_of_range.pt";
  try {
    read_torch_file(path);
    FAIL() << "an int64 beyond int32 must be refused";
  } catch (const TorchFileError& error) {
    EXPECT_NE(std::string(error.what()).find("1099511627776"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find(path), std::string::npos) << error.what();
  }
}

// The file is refused naming the file and the global, and the payload never runs.
void expect_refused(const std::string& path, const std::string& global, const std::string& marker) {
  std::filesystem::remove(marker);
  try {
    read_torch_file(path);
    ADD_FAILURE() << path << " must be refused";
  } catch (const TorchFileError& error) {
    const std::string message = error.what();
    EXPECT_EQ(message.rfind("bad checkpoint '" + path + "': ", 0), 0u) << message;
    EXPECT_NE(message.find("'" + global + "'"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  if (!marker.empty()) {
    EXPECT_FALSE(std::filesystem::exists(marker)) << "the payload ran";
  }
}

TEST(TorchFile, RefusesMaliciousPickles) {
  expect_refused(kFixtures + "/torch/evil_reduce_zip.pt", "posix.system", "/tmp/clipgrad_pwned_zip");
  expect_refused(kFixtures + "/torch/evil_reduce_legacy.pt", "posix.system", "/tmp/clipgrad_pwned_legacy");
  expect_refused(kFixtures + "/torch/evil_global.pt", "collections.Counter", "");
}

// Every prefix of a valid file and every single-byte corruption either reads
// or throws TorchFileError naming the file in one line; nothing else escapes.
void expect_clean_failures(const std::string& path, bool every_byte) {
  const std::vector<unsigned char> bytes = bytes_of(path);
  ASSERT_FALSE(bytes.empty()) << path;
  auto check = [&](const std::vector<unsigned char>& input, size_t size, const std::string& what) {
    try {
      parse_torch_file("input.pt", input.data(), size);
    } catch (const TorchFileError& error) {
      const std::string message = error.what();
      EXPECT_EQ(message.rfind("bad checkpoint 'input.pt': ", 0), 0u) << what << ": " << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << what << ": " << message;
    }
  };
  for (size_t size = 0; size < bytes.size(); ++size) {
    try {
      parse_torch_file("input.pt", bytes.data(), size);
      ADD_FAILURE() << path << " truncated to " << size << " bytes was read";
    } catch (const TorchFileError& error) {
      EXPECT_EQ(std::string(error.what()).rfind("bad checkpoint 'input.pt': ", 0), 0u) << error.what();
    }
  }
  std::vector<unsigned char> corrupt = bytes;
  for (size_t at = 0; at < bytes.size(); at += every_byte ? 1 : 7) {
    corrupt[at] ^= 0xff;
    check(corrupt, corrupt.size(), path + " byte " + std::to_string(at));
    corrupt[at] = bytes[at];
  }
}

TEST(TorchFile, TruncatedOrCorruptFilesFailCleanly) {
  expect_clean_failures(kCorpus + "/seed_views.pt", true);
  expect_clean_failures(kCorpus + "/seed_legacy.pt", true);
  expect_clean_failures(kCorpus + "/seed_torchscript.pt", true);
  expect_clean_failures(kCorpus + "/seed_zip_deflated.pt", true);
}

TEST(TorchFile, CorruptTensorDataFailsItsChecksum) {
  std::vector<unsigned char> bytes = bytes_of(kCorpus + "/seed_dtype_f32.pt");
  // The 24 bytes of data/0 are the only run of arange(6) as f32; flip one of its bytes.
  const float second = 1.0f;
  auto found = std::search(bytes.begin(), bytes.end(), reinterpret_cast<const unsigned char*>(&second),
                           reinterpret_cast<const unsigned char*>(&second) + 4);
  ASSERT_NE(found, bytes.end());
  *found ^= 1;
  EXPECT_THROW(parse_torch_file("x.pt", bytes.data(), bytes.size()), TorchFileError);
}

TEST(TorchFile, NotATorchFile) {
  const unsigned char safetensors[] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
  EXPECT_FALSE(looks_like_torch_file(safetensors, sizeof safetensors));
  // A safetensors header of 640 bytes starts with the bytes of PROTO 2.
  const unsigned char header_640[] = {0x80, 0x02, 0, 0, 0, 0, 0, 0, '{', '"', 'a', '"', ':', '{', '}', '}'};
  EXPECT_FALSE(looks_like_torch_file(header_640, sizeof header_640));
  for (const char* seed : {"seed_legacy.pt", "seed_dtype_f32.pt", "seed_torchscript.pt"}) {
    const std::vector<unsigned char> bytes = bytes_of(kCorpus + "/" + seed);
    EXPECT_TRUE(looks_like_torch_file(bytes.data(), bytes.size())) << seed;
  }
  EXPECT_TRUE(looks_like_torch_file(kCorpus + "/seed_legacy.pt"));
  EXPECT_TRUE(looks_like_torch_file(kCorpus + "/seed_views.pt"));
  EXPECT_THROW(parse_torch_file("x", safetensors, sizeof safetensors), TorchFileError);
  EXPECT_THROW(read_torch_file("/nonexistent.pt"), TorchFileError);
}

}  // namespace
}  // namespace clipgrad::io
