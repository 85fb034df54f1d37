// safetensors round trips (every dtype, metadata, header layout, atomic
// writes) and the checked-in fixtures. Malformed inputs are in
// safetensors_malformed_test.cpp.
#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>

namespace clipgrad {
namespace {

namespace fs = std::filesystem;

std::string temp_path(const std::string& stem) {
  return (fs::path(::testing::TempDir()) / (stem + "." + std::to_string(::getpid()) + ".safetensors")).string();
}

std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The raw stored bytes of one tensor, located through the file's own header.
std::vector<unsigned char> raw_tensor_bytes(const std::string& path, const std::string& name) {
  const std::vector<unsigned char> bytes = read_bytes(path);
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, bytes.data(), 8);
  const auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + header_bytes);
  const uint64_t begin = header.at(name).at("data_offsets")[0], end = header.at(name).at("data_offsets")[1];
  const auto data = bytes.begin() + 8 + header_bytes;
  return {data + begin, data + end};
}

template <class T>
std::vector<T> raw_values(const std::string& path, const std::string& name) {
  const std::vector<unsigned char> raw = raw_tensor_bytes(path, name);
  std::vector<T> values(raw.size() / sizeof(T));
  std::memcpy(values.data(), raw.data(), raw.size());
  return values;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

float bits_to_float(uint32_t bits) { return std::bit_cast<float>(bits); }
uint32_t float_to_bits(float value) { return std::bit_cast<uint32_t>(value); }

class SafetensorsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    fs::remove(path_);
    fs::remove(path_ + ".tmp");
  }
  std::string path_ = temp_path(::testing::UnitTest::GetInstance()->current_test_info()->name());
};

TEST_F(SafetensorsTest, RoundTripsEveryNativeDtype) {
  const std::map<std::string, Tensor> tensors = {
      {"f32", Tensor::from_vector<float>({2, 3}, {1.5f, -2.f, 0.f, -0.f, 1e-40f, 3.4e38f})},
      {"f64", Tensor::from_vector<double>({3}, {1.0 / 3.0, -1e300, 5e-324})},
      {"i32", Tensor::from_vector<int32_t>(
                  {4}, {std::numeric_limits<int32_t>::min(), -1, 0, std::numeric_limits<int32_t>::max()})},
      {"u8", Tensor::from_vector<uint8_t>({2, 2}, {0, 1, 128, 255})},
      {"scalar", Tensor::scalar(2.5)},
      {"empty", Tensor::zeros({0, 5})},
  };
  io::write_safetensors(path_, tensors);
  const io::SafetensorsFile file = io::read_safetensors(path_);
  ASSERT_EQ(file.tensors.size(), tensors.size());
  for (const auto& [name, tensor] : tensors) EXPECT_TRUE(same_bytes(file.at(name), tensor)) << name;
  EXPECT_EQ(file.tensors.at("f32").stored_dtype, "F32");
  EXPECT_EQ(file.tensors.at("f64").stored_dtype, "F64");
  EXPECT_EQ(file.tensors.at("i32").stored_dtype, "I32");
  EXPECT_EQ(file.tensors.at("u8").stored_dtype, "U8");
  EXPECT_EQ(file.at("scalar").shape(), Shape{});
  EXPECT_TRUE(file.metadata.empty());
  EXPECT_EQ(file.source, path_);
}

TEST_F(SafetensorsTest, RoundTripsStoredDtypes) {
  const std::vector<float> halves = {1.f, -2.f, 0.5f, 65504.f, std::ldexp(1.f, -24), -0.f};
  // bf16's largest finite value and its smallest subnormal.
  const std::vector<float> brains = {1.f, -2.f, 0.5f, bits_to_float(0x7f7f0000), bits_to_float(0x00010000), -0.f};
  const std::vector<int32_t> counts = {std::numeric_limits<int32_t>::min(), -7, 0, std::numeric_limits<int32_t>::max()};
  const std::map<std::string, io::StoredTensor> tensors = {
      {"half", {Tensor::from_vector<float>({6}, halves), "F16"}},
      {"brain", {Tensor::from_vector<float>({2, 3}, brains), "BF16"}},
      {"count", {Tensor::from_vector<int32_t>({4}, counts), "I64"}},
      {"mask", {Tensor::from_vector<uint8_t>({4}, {0, 1, 1, 0}), "BOOL"}},
      {"narrowed", {Tensor::from_vector<double>({2}, {0.25, 1.0 / 3.0}), "F32"}},
  };
  io::write_safetensors(path_, tensors);
  const io::SafetensorsFile file = io::read_safetensors(path_);
  EXPECT_EQ(file.tensors.at("half").stored_dtype, "F16");
  EXPECT_EQ(file.tensors.at("brain").stored_dtype, "BF16");
  EXPECT_EQ(file.tensors.at("count").stored_dtype, "I64");
  EXPECT_EQ(file.tensors.at("mask").stored_dtype, "BOOL");
  EXPECT_EQ(file.tensors.at("narrowed").stored_dtype, "F32");
  EXPECT_TRUE(same_bytes(file.at("half"), tensors.at("half").value));
  EXPECT_TRUE(same_bytes(file.at("brain"), tensors.at("brain").value));
  EXPECT_TRUE(same_bytes(file.at("count"), tensors.at("count").value));
  EXPECT_TRUE(same_bytes(file.at("mask"), tensors.at("mask").value));
  EXPECT_EQ(file.at("narrowed").to_vector<float>(), (std::vector<float>{0.25f, 1.f / 3.f}));

  const std::vector<int64_t> widened(counts.begin(), counts.end());
  EXPECT_EQ(raw_values<int64_t>(path_, "count"), widened);
  EXPECT_EQ(raw_values<uint16_t>(path_, "half"),
            (std::vector<uint16_t>{0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000}));
  EXPECT_EQ(raw_values<uint8_t>(path_, "mask"), (std::vector<uint8_t>{0, 1, 1, 0}));

  // Reading back and writing again reproduces the file byte for byte.
  const std::string again = path_ + ".again";
  io::write_safetensors(again, file.tensors);
  EXPECT_EQ(read_bytes(again), read_bytes(path_));
  fs::remove(again);
}

TEST_F(SafetensorsTest, HalfPrecisionRoundsToNearestEven) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<std::pair<float, uint16_t>> f16 = {
      {1.f + std::ldexp(1.f, -11), 0x3c00},      // tie: down to even
      {1.f + 3 * std::ldexp(1.f, -11), 0x3c02},  // tie: up to even
      {65519.f, 0x7bff},                         // below the halfway point to 65536
      {65520.f, 0x7c00},                         // halfway, odd below: overflows to inf
      {-inf, 0xfc00},
      {std::ldexp(1.f, -14), 0x0400},                         // smallest normal
      {std::ldexp(1.f, -14) - std::ldexp(1.f, -25), 0x0400},  // subnormal tie rounds up into the normals
      {std::ldexp(1.f, -25), 0x0000},                         // tie with zero: even
      {3 * std::ldexp(1.f, -25), 0x0002},                     // tie between 1 and 2 ulps: even
      {std::ldexp(1.f, -26), 0x0000},
      {1e-40f, 0x0000},
  };
  const std::vector<std::pair<float, uint16_t>> bf16 = {
      {1.f + std::ldexp(1.f, -8), 0x3f80},      // tie: down to even
      {1.f + 3 * std::ldexp(1.f, -8), 0x3f82},  // tie: up to even
      {std::numeric_limits<float>::max(), 0x7f80}, {-inf, 0xff80}, {bits_to_float(0x00010000), 0x0001},
  };
  std::vector<float> f16_in, bf16_in;
  for (const auto& [value, bits] : f16) f16_in.push_back(value);
  for (const auto& [value, bits] : bf16) bf16_in.push_back(value);
  f16_in.push_back(std::numeric_limits<float>::quiet_NaN());
  bf16_in.push_back(bits_to_float(0x7f800001));  // nan whose payload is all in the dropped bits
  const int64_t f16_count = static_cast<int64_t>(f16_in.size()), bf16_count = static_cast<int64_t>(bf16_in.size());
  io::write_safetensors(path_, std::map<std::string, io::StoredTensor>{
                                   {"f16", {Tensor::from_vector<float>({f16_count}, f16_in), "F16"}},
                                   {"bf16", {Tensor::from_vector<float>({bf16_count}, bf16_in), "BF16"}}});
  const std::vector<uint16_t> f16_out = raw_values<uint16_t>(path_, "f16");
  const std::vector<uint16_t> bf16_out = raw_values<uint16_t>(path_, "bf16");
  for (size_t i = 0; i < f16.size(); ++i) EXPECT_EQ(f16_out[i], f16[i].second) << "f16 case " << i;
  for (size_t i = 0; i < bf16.size(); ++i) EXPECT_EQ(bf16_out[i], bf16[i].second) << "bf16 case " << i;
  const io::SafetensorsFile file = io::read_safetensors(path_);
  EXPECT_TRUE(std::isnan(file.at("f16").data<float>()[f16.size()]));
  EXPECT_TRUE(std::isnan(file.at("bf16").data<float>()[bf16.size()]));
}

#ifdef __FLT16_MAX__
// The compiler's _Float16 is an independent reference for both directions.
TEST_F(SafetensorsTest, F16MatchesCompilerHalfFloat) {
  std::vector<uint16_t> every_half(65536);
  for (uint32_t i = 0; i < 65536; ++i) every_half[i] = static_cast<uint16_t>(i);
  std::vector<unsigned char> bytes(8);
  const std::string header = R"({"all":{"dtype":"F16","shape":[65536],"data_offsets":[0,131072]}})";
  const uint64_t header_bytes = header.size();
  std::memcpy(bytes.data(), &header_bytes, 8);
  bytes.insert(bytes.end(), header.begin(), header.end());
  const auto* half_bytes = reinterpret_cast<const unsigned char*>(every_half.data());
  bytes.insert(bytes.end(), half_bytes, half_bytes + every_half.size() * 2);
  const io::SafetensorsFile decoded = io::parse_safetensors("all-halves", bytes.data(), bytes.size());
  const float* values = decoded.at("all").data<float>();
  for (uint32_t i = 0; i < 65536; ++i) {
    const float expected = static_cast<float>(std::bit_cast<_Float16>(static_cast<uint16_t>(i)));
    if (std::isnan(expected)) {  // exact: the payload is kept, not quieted
      ASSERT_EQ(float_to_bits(values[i]), ((i & 0x8000u) << 16) | 0x7f800000u | ((i & 0x3ffu) << 13)) << i;
    } else {
      ASSERT_EQ(float_to_bits(values[i]), float_to_bits(expected)) << "half bits " << i;
    }
  }

  // Encoding: a sweep across every f32 exponent and many mantissas, nans excluded.
  std::vector<float> sweep;
  for (uint32_t bits = 0; bits < 0x7f800000u; bits += 0x7f800000u / 200003u) {
    sweep.push_back(bits_to_float(bits));
    sweep.push_back(-bits_to_float(bits + 1));
  }
  const int64_t count = static_cast<int64_t>(sweep.size());
  io::write_safetensors(
      path_, std::map<std::string, io::StoredTensor>{{"sweep", {Tensor::from_vector<float>({count}, sweep), "F16"}}});
  const std::vector<uint16_t> encoded = raw_values<uint16_t>(path_, "sweep");
  for (size_t i = 0; i < sweep.size(); ++i)
    ASSERT_EQ(encoded[i], std::bit_cast<uint16_t>(static_cast<_Float16>(sweep[i]))) << "f32 " << sweep[i];
}
#endif

// Reference bf16 rounding by distance, independent of the bit trick in the writer.
uint16_t bfloat16_by_distance(float value) {
  const uint32_t bits = float_to_bits(value);
  const uint16_t toward_zero = static_cast<uint16_t>(bits >> 16), away = static_cast<uint16_t>(toward_zero + 1);
  const auto as_double = [](uint16_t b) {
    if ((b & 0x7fffu) == 0x7f80u) return std::copysign(std::ldexp(1.0, 128), b & 0x8000u ? -1.0 : 1.0);
    return static_cast<double>(bits_to_float(static_cast<uint32_t>(b) << 16));
  };
  const double below = std::fabs(value - as_double(toward_zero)), above = std::fabs(as_double(away) - value);
  if (below != above) return below < above ? toward_zero : away;
  return (toward_zero & 1u) ? away : toward_zero;
}

TEST_F(SafetensorsTest, BF16MatchesDistanceRounding) {
  std::vector<float> sweep;
  for (uint32_t bits = 0; bits < 0x7f800000u; bits += 0x7f800000u / 100003u) {
    sweep.push_back(bits_to_float(bits));
    sweep.push_back(-bits_to_float((bits & 0xffff0000u) | 0x8000u));  // exactly halfway cases
  }
  const int64_t count = static_cast<int64_t>(sweep.size());
  io::write_safetensors(
      path_, std::map<std::string, io::StoredTensor>{{"sweep", {Tensor::from_vector<float>({count}, sweep), "BF16"}}});
  const std::vector<uint16_t> encoded = raw_values<uint16_t>(path_, "sweep");
  for (size_t i = 0; i < sweep.size(); ++i) ASSERT_EQ(encoded[i], bfloat16_by_distance(sweep[i])) << sweep[i];
  const io::SafetensorsFile file = io::read_safetensors(path_);
  for (size_t i = 0; i < sweep.size(); ++i)
    ASSERT_EQ(float_to_bits(file.at("sweep").data<float>()[i]), static_cast<uint32_t>(encoded[i]) << 16);
}

TEST_F(SafetensorsTest, MetadataRoundTrips) {
  const std::map<std::string, std::string> metadata = {
      {"clip_config", R"({"embed_dim": 32, "vision_layers": [1, 1]})"},
      {"quoted", "a \"b\" \\ c\nd\t"},
      {"unicode", "\xc2\xb5 \xc3\xbc \xe6\x97\xa5\xe6\x9c\xac"},
      {"empty", ""},
  };
  io::write_safetensors(path_, std::map<std::string, Tensor>{{"w", Tensor::zeros({2})}}, metadata);
  EXPECT_EQ(io::read_safetensors(path_).metadata, metadata);
  // The header alone gives the same, and a file without metadata gives none.
  EXPECT_EQ(io::read_safetensors_metadata(path_), metadata);
  io::write_safetensors(path_, std::map<std::string, Tensor>{{"w", Tensor::zeros({2})}});
  EXPECT_TRUE(io::read_safetensors_metadata(path_).empty());
  EXPECT_THROW(io::read_safetensors_metadata(path_ + ".missing"), std::runtime_error);
}

TEST_F(SafetensorsTest, HeaderIsSortedPaddedAndDataFollowsInNameOrder) {
  io::write_safetensors(
      path_,
      std::map<std::string, Tensor>{
          {"b", Tensor::zeros({3})}, {"a", Tensor::zeros({1}, DType::U8)}, {"c", Tensor::zeros({2}, DType::F64)}},
      {{"format", "pt"}});
  const std::vector<unsigned char> bytes = read_bytes(path_);
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, bytes.data(), 8);
  EXPECT_EQ(header_bytes % 8, 0u);
  const std::string header(bytes.begin() + 8, bytes.begin() + 8 + header_bytes);
  const size_t json_end = header.find_last_not_of(' ');
  EXPECT_EQ(header[json_end], '}');
  EXPECT_LT(header.size() - json_end - 1, 8u);
  EXPECT_LT(header.find("\"__metadata__\""), header.find("\"a\""));
  EXPECT_LT(header.find("\"a\""), header.find("\"b\""));
  EXPECT_LT(header.find("\"b\""), header.find("\"c\""));
  const auto parsed = nlohmann::json::parse(header);
  EXPECT_EQ(parsed["a"]["data_offsets"], nlohmann::json({0, 1}));
  EXPECT_EQ(parsed["b"]["data_offsets"], nlohmann::json({1, 13}));
  EXPECT_EQ(parsed["c"]["data_offsets"], nlohmann::json({13, 29}));
  EXPECT_EQ(bytes.size(), 8 + header_bytes + 29);
}

TEST_F(SafetensorsTest, FailedWriteLeavesNoPartialFile) {
  io::write_safetensors(path_, std::map<std::string, Tensor>{{"kept", Tensor::full({2}, 7.0)}});
  const std::vector<unsigned char> before = read_bytes(path_);
  const std::vector<std::pair<io::StoredTensor, std::string>> bad = {
      {{Tensor::from_vector<uint8_t>({2}, {0, 2}), "BOOL"}, "must hold only 0 and 1"},
      {{Tensor::from_vector<int32_t>({1}, {3}), "F16"}, "is i32 and cannot be stored as F16"},
      {{Tensor::zeros({1}), "F8_E4M3"}, "asks for dtype 'F8_E4M3'"},
      {{Tensor(), ""}, "is undefined"},
  };
  for (const auto& [tensor, problem] : bad) {
    try {
      io::write_safetensors(path_,
                            std::map<std::string, io::StoredTensor>{{"ok", {Tensor::zeros({4}), ""}}, {"bad", tensor}});
      ADD_FAILURE() << "wrote a tensor that should fail: " << problem;
    } catch (const io::SafetensorsError& error) {
      EXPECT_NE(std::string(error.what()).find("'" + path_ + "'"), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find(problem), std::string::npos) << error.what();
    }
    EXPECT_EQ(read_bytes(path_), before);
    EXPECT_FALSE(fs::exists(path_ + ".tmp"));
  }
  const std::string nowhere = (fs::path(::testing::TempDir()) / "no-such-dir" / "model.safetensors").string();
  EXPECT_THROW(io::write_safetensors(nowhere, std::map<std::string, Tensor>{{"w", Tensor::zeros({1})}}),
               io::SafetensorsError);
  EXPECT_FALSE(fs::exists(nowhere));
}

TEST(SafetensorsFixtures, ReadsTinyVit) {
  const io::SafetensorsFile file = io::read_safetensors(CLIPGRAD_FIXTURES "/tiny_vit_model.safetensors");
  EXPECT_EQ(file.tensors.size(), 62u);
  for (const auto& [name, stored] : file.tensors) EXPECT_EQ(stored.stored_dtype, "F32") << name;
  const auto config = nlohmann::json::parse(file.metadata.at("clip_config"));
  EXPECT_EQ(config.at("embed_dim"), 32);
  EXPECT_EQ(file.metadata.at("format"), "openai");
  EXPECT_EQ(file.at("logit_scale").shape(), Shape{});
  EXPECT_EQ(file.at("logit_scale").item(), 2.6592600345611572);
  const Tensor& proj = file.at("visual.proj");
  EXPECT_EQ(proj.shape(), (Shape{128, 32}));
  double sum = 0;
  for (float value : proj.to_vector<float>()) sum += value;
  EXPECT_NEAR(sum, 6.40325255241487, 1e-9);
  EXPECT_EQ(proj.data<float>()[0], -0.05532373487949371f);
}

TEST(SafetensorsFixtures, ReadsTinyResNetI64Buffers) {
  const io::SafetensorsFile file = io::read_safetensors(CLIPGRAD_FIXTURES "/tiny_rn_model.safetensors");
  EXPECT_EQ(file.tensors.size(), 153u);
  int i64_count = 0;
  for (const auto& [name, stored] : file.tensors) {
    if (stored.stored_dtype != "I64") continue;
    ++i64_count;
    EXPECT_NE(name.find("num_batches_tracked"), std::string::npos) << name;
    EXPECT_EQ(stored.value.dtype(), DType::I32);
  }
  EXPECT_EQ(i64_count, 19);
  EXPECT_EQ(file.at("visual.bn1.num_batches_tracked").item(), 0.0);
  EXPECT_TRUE(file.metadata.count("clip_config"));
}

TEST(SafetensorsFixtures, ReadsHuggingFaceLayoutWithUnalignedData) {
  // logit_scale takes bytes [0,4), so every later F32 span starts off 8-byte alignment.
  const io::SafetensorsFile file = io::read_safetensors(CLIPGRAD_FIXTURES "/hf_tiny/model.safetensors");
  EXPECT_EQ(file.tensors.size(), 78u);
  EXPECT_EQ(file.metadata.at("format"), "pt");
  const Tensor& positions = file.at("text_model.embeddings.position_embedding.weight");
  EXPECT_EQ(positions.shape(), (Shape{16, 64}));
  EXPECT_EQ(positions.data<float>()[1], 0.01681073196232319f);
  double sum = 0;
  for (float value : positions.to_vector<float>()) sum += value;
  EXPECT_NEAR(sum, -0.5410289833398565, 1e-9);
}

// The fuzz seeds are written by an independent Python encoder (tests/fuzz/make_seed_corpus.py).
TEST(SafetensorsFixtures, FuzzSeedsParseOrFailAsNamed) {
  const fs::path corpus = fs::path(CLIPGRAD_FIXTURES) / ".." / "fuzz" / "safetensors_corpus";
  int seeds = 0;
  for (const auto& entry : fs::directory_iterator(corpus)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("seed_", 0) != 0) continue;
    ++seeds;
    if (name.rfind("seed_valid_", 0) == 0)
      EXPECT_NO_THROW(io::read_safetensors(entry.path().string())) << name;
    else
      EXPECT_THROW(io::read_safetensors(entry.path().string()), io::SafetensorsError) << name;
  }
  EXPECT_GE(seeds, 10);

  const io::SafetensorsFile file = io::read_safetensors((corpus / "seed_valid_every_dtype").string());
  EXPECT_EQ(file.metadata.at("format"), "pt");
  EXPECT_EQ(file.at("f32").to_vector<float>(), (std::vector<float>{1.5f, -2.f}));
  EXPECT_EQ(file.at("f64").item(), 3.25);
  const std::vector<float> f16 = file.at("f16").to_vector<float>();
  EXPECT_EQ(f16[0], 1.f);
  EXPECT_EQ(f16[1], std::ldexp(1.f, -24));
  EXPECT_EQ(f16[2], std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(f16[3]) && std::signbit(f16[3]));
  EXPECT_EQ(file.at("bf16").data<float>()[0], 1.f);
  EXPECT_TRUE(std::isnan(file.at("bf16").data<float>()[1]));
  EXPECT_EQ(file.at("i32").to_vector<int32_t>(), (std::vector<int32_t>{-7, 2147483647}));
  EXPECT_EQ(file.at("i64").to_vector<int32_t>(), (std::vector<int32_t>{-2147483647 - 1, 12}));
  EXPECT_EQ(file.at("bool").to_vector<uint8_t>(), (std::vector<uint8_t>{0, 1, 1}));
  EXPECT_EQ(file.at("u8").shape(), (Shape{0, 4}));
}

TEST_F(SafetensorsTest, FixtureRewritesIdentically) {
  const io::SafetensorsFile original = io::read_safetensors(CLIPGRAD_FIXTURES "/tiny_rn_model.safetensors");
  io::write_safetensors(path_, original.tensors, original.metadata);
  const io::SafetensorsFile again = io::read_safetensors(path_);
  EXPECT_EQ(again.metadata, original.metadata);
  ASSERT_EQ(again.tensors.size(), original.tensors.size());
  for (const auto& [name, stored] : original.tensors) {
    EXPECT_EQ(again.tensors.at(name).stored_dtype, stored.stored_dtype) << name;
    EXPECT_TRUE(same_bytes(again.at(name), stored.value)) << name;
  }
}

TEST(SafetensorsFile, MissingTensorAndMissingFileNameThemselves) {
  const io::SafetensorsFile file = io::read_safetensors(CLIPGRAD_FIXTURES "/hf_tiny/model.safetensors");
  try {
    file.at("visual.proj");
    ADD_FAILURE() << "found a tensor that is not there";
  } catch (const io::SafetensorsError& error) {
    EXPECT_NE(std::string(error.what()).find("no tensor 'visual.proj'"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("hf_tiny/model.safetensors"), std::string::npos) << error.what();
  }
  try {
    io::read_safetensors("/nonexistent/model.safetensors");
    ADD_FAILURE() << "read a missing file";
  } catch (const io::SafetensorsError& error) {
    EXPECT_NE(std::string(error.what()).find("bad checkpoint '/nonexistent/model.safetensors': cannot open"),
              std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace clipgrad
