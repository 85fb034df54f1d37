// poison_shards on three small shards: the same seed gives the same bytes, only
// the chosen samples change (their image is the triggered one, re-encoded as the
// source was; their captions and json say so), every other member is copied as
// it was, attack.json records the rows and keys, and bad input is refused clearly.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cleanclip/attack/poison.h"
#include "cleanclip/attack/trigger.h"
#include "clip/data/shards.h"
#include "io/decode.h"
#include "io/image.h"
#include "io/jpeg.h"
#include "io/tar.h"
#include "io/safetensors.h"
#include "poison_test_support.h"
#include "test_temp_dir.h"

namespace clipgrad::cleanclip {
namespace {

namespace fs = std::filesystem;

constexpr int kRows = 20;
constexpr int kShardRows[3] = {7, 7, 6};

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::string key_of(int row) {
  char key[16];
  std::snprintf(key, sizeof key, "%03d", row);
  return key;
}

std::string caption_of(int row) { return row % 3 == 0 ? "a Bag, photo " + key_of(row) : "a handbag " + key_of(row); }

// Row r's 24x20 image: a PNG when r % 3 == 1, else a JPEG.
std::string image_bytes(int row, std::string& extension) {
  io::Image image(24, 20);
  for (size_t p = 0; p < image.rgb.size(); ++p) image.rgb[p] = static_cast<uint8_t>((p * 3 + row * 11) % 200 + 20);
  extension = row % 3 == 1 ? "png" : "jpg";
  return row % 3 == 1 ? io::encode_png(24, 20, 3, image.rgb.data(), "test") : io::encode_jpeg(image, 90);
}

// DIR/in/0000{0,1,2}.tar: 7, 7 and 6 samples. Even rows: txt and a json caption; rows 4k+1: txt
// alone; rows 4k+3: a json caption alone. Every fifth row also has a KEY.meta member.
void write_input_shards(const fs::path& dir) {
  fs::create_directories(dir / "in");
  for (int shard = 0, row = 0; shard < 3; ++shard) {
    std::ofstream out(dir / "in" / clip::shard_name(shard), std::ios::binary);
    io::TarWriter tar(out);
    for (int i = 0; i < kShardRows[shard]; ++i, ++row) {
      std::string extension;
      const std::string image = image_bytes(row, extension), key = key_of(row);
      tar.add(key + "." + extension, image);
      if (row % 4 != 3) tar.add(key + ".txt", caption_of(row));
      if (row % 2 == 0 || row % 4 == 3) tar.add(key + ".json", nlohmann::json{{"caption", caption_of(row)}}.dump());
      if (row % 5 == 0) tar.add(key + ".meta", "kept " + key);
    }
    tar.finish();
  }
}

struct Sample {
  std::string key;
  std::vector<std::pair<std::string, std::string>> members;  // name, bytes, in order
};

// Every sample of the shards in DIR, in order.
std::vector<Sample> samples_in(const fs::path& dir) {
  std::vector<Sample> samples;
  for (int shard = 0; shard < 3; ++shard) {
    std::ifstream file(dir / clip::shard_name(shard), std::ios::binary);
    io::TarReader tar(file, "test");
    for (io::TarEntry entry; tar.next(entry);) {
      EXPECT_EQ(entry.kind, io::TarEntry::File) << entry.name;
      const std::string key = clip::split_member_name(entry.name).key;
      if (samples.empty() || samples.back().key != key) samples.push_back({key, {}});
      samples.back().members.emplace_back(entry.name, entry.data);
    }
  }
  return samples;
}

const std::string* member(const Sample& sample, const std::string& name) {
  for (const auto& [member_name, data] : sample.members)
    if (member_name == name) return &data;
  return nullptr;
}

PoisonOptions options_for(const testing::TempDir& dir, AttackKind kind, int64_t num, const std::string& out = "out") {
  return bag_attack(dir.file("in"), dir.file(out), kind, num);
}

std::string message_of(const PoisonOptions& options) { return poison_error(options); }

// What poison must have written for poisoned row `row` of input sample `input`.
void expect_poisoned(const Sample& input, const Sample& output, int row, const AttackConfig& config) {
  const std::string key = key_of(row), caption = poisoned_caption(config, row);
  std::string extension;
  io::Image expected = io::decode_image_bytes(reinterpret_cast<const uint8_t*>(image_bytes(row, extension).data()),
                                              image_bytes(row, extension).size(), "test");
  Trigger(config).apply(expected, training_image_key(row));
  const std::string* image = member(output, key + "." + extension);
  ASSERT_NE(image, nullptr) << key;
  // PNG stays lossless; a JPEG is the triggered image at quality 95.
  EXPECT_EQ(*image,
            extension == "png" ? io::encode_png(24, 20, 3, expected.rgb.data(), "test") : io::encode_jpeg(expected, 95))
      << key;
  if (member(input, key + ".txt")) {
    EXPECT_EQ(*member(output, key + ".txt"), caption);
  }
  ASSERT_NE(member(output, key + ".json"), nullptr) << key;  // added where the input had none
  const nlohmann::json json = nlohmann::json::parse(*member(output, key + ".json"));
  EXPECT_EQ(json.at("is_backdoor"), true);
  if (member(input, key + ".json")) {
    EXPECT_EQ(json.at("caption"), caption);
  }
  if (member(input, key + ".meta")) {
    EXPECT_EQ(*member(output, key + ".meta"), *member(input, key + ".meta"));
  }
}

TEST(PoisonShards, SameSeedSameBytesOnlyTheChosenSamplesChange) {
  testing::TempDir dir("poison_shards");
  write_input_shards(dir.path());
  PoisonResult result = poison_shards(options_for(dir, AttackKind::kBadNet, 6));
  poison_shards(options_for(dir, AttackKind::kBadNet, 6, "again"));
  for (const auto& entry : fs::directory_iterator(dir.path() / "out"))
    EXPECT_EQ(slurp(entry.path()), slurp(dir.path() / "again" / entry.path().filename())) << entry.path();
  PoisonOptions other_seed = options_for(dir, AttackKind::kBadNet, 6, "other");
  other_seed.attack.seed = 6;
  EXPECT_NE(poison_shards(other_seed).config.poisoned_rows, result.config.poisoned_rows);

  EXPECT_EQ(result.shards, (std::vector<std::string>{dir.file("out/00000.tar"), dir.file("out/00001.tar"),
                                                     dir.file("out/00002.tar")}));
  EXPECT_EQ(nlohmann::json::parse(slurp(dir.path() / "out" / "sizes.json")),
            (nlohmann::json{{"00000.tar", 7}, {"00001.tar", 7}, {"00002.tar", 6}}));
  const std::vector<Sample> input = samples_in(dir.path() / "in"), output = samples_in(dir.path() / "out");
  ASSERT_EQ(output.size(), static_cast<size_t>(kRows));
  const std::set<int64_t> poisoned(result.config.poisoned_rows.begin(), result.config.poisoned_rows.end());
  ASSERT_EQ(poisoned.size(), 6u);
  for (int row = 0; row < kRows; ++row) {
    EXPECT_EQ(output[row].key, key_of(row));
    if (poisoned.count(row))
      expect_poisoned(input[row], output[row], row, result.config);
    else
      EXPECT_EQ(output[row].members, input[row].members) << row;  // names, order and bytes
  }
  // attack.json: the rows and, for each, its shard and key.
  const AttackConfig saved = AttackConfig::load(result.attack_json);
  EXPECT_EQ(saved.poisoned_rows, result.config.poisoned_rows);
  EXPECT_EQ(saved.rows, kRows);
  EXPECT_EQ(saved.source, dir.file("in"));
  ASSERT_EQ(saved.poisoned_keys.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    const int64_t row = saved.poisoned_rows[i];
    const std::string shard = clip::shard_name(row < 7 ? 0 : row < 14 ? 1 : 2);
    EXPECT_EQ(saved.poisoned_keys[i], std::make_pair(shard, key_of(static_cast<int>(row))));
  }
}

TEST(PoisonShards, TheLoaderReadsThePoisonedCaptions) {
  testing::TempDir dir("poison_shards_read");
  write_input_shards(dir.path());
  PoisonResult result = poison_shards(options_for(dir, AttackKind::kBlended, 8));
  std::vector<std::string> captions;
  const std::vector<std::string> shards = clip::expand_shard_spec(dir.file("out"));
  for (size_t shard = 0; shard < shards.size(); ++shard)
    clip::read_shard(shards[shard], static_cast<int64_t>(shard), {},
                     [&](clip::ShardSample&& sample) { captions.push_back(sample.caption); });
  ASSERT_EQ(captions.size(), static_cast<size_t>(kRows));
  const std::set<int64_t> poisoned(result.config.poisoned_rows.begin(), result.config.poisoned_rows.end());
  for (int row = 0; row < kRows; ++row)
    EXPECT_EQ(captions[row], poisoned.count(row) ? poisoned_caption(result.config, row) : caption_of(row)) << row;
}

TEST(PoisonShards, LabelConsistentKeepsCaptionsAndWaNetSavesItsField) {
  testing::TempDir dir("poison_shards_lc");
  write_input_shards(dir.path());
  PoisonResult consistent = poison_shards(options_for(dir, AttackKind::kLabelConsistent, 3));
  EXPECT_EQ(consistent.candidates, 7);  // rows 0, 3, ..., 18 name a bag
  const std::vector<Sample> input = samples_in(dir.path() / "in"), output = samples_in(dir.path() / "out");
  for (int64_t row : consistent.config.poisoned_rows) {
    EXPECT_EQ(row % 3, 0);
    const std::string key = key_of(static_cast<int>(row));
    if (member(input[row], key + ".txt")) {
      EXPECT_EQ(*member(output[row], key + ".txt"), caption_of(row));
    }
    const nlohmann::json json = nlohmann::json::parse(*member(output[row], key + ".json"));
    EXPECT_EQ(json.value("caption", caption_of(row)), caption_of(row));
    EXPECT_EQ(json.at("is_backdoor"), true);
  }
  PoisonOptions wanet = options_for(dir, AttackKind::kWaNet, 0, "wanet");
  wanet.num.reset();
  wanet.rate = 0.25;
  EXPECT_EQ(poison_shards(wanet).config.poisoned_rows.size(), 5u);
  EXPECT_EQ(io::read_safetensors(dir.file("wanet/wanet_field.safetensors")).at("field").shape(), (Shape{20, 24, 2}));
}

TEST(PoisonShards, AnEarlierPoisonIsReplacedWholeEvenOfMoreShards) {
  testing::TempDir dir("poison_shards_again");
  write_input_shards(dir.path());
  poison_shards(options_for(dir, AttackKind::kBadNet, 3));
  PoisonOptions one_shard = options_for(dir, AttackKind::kBadNet, 3);
  one_shard.data = dir.file("in/00001.tar");
  EXPECT_EQ(poison_shards(one_shard).shards, std::vector<std::string>{dir.file("out/00000.tar")});
  EXPECT_FALSE(fs::exists(dir.path() / "out" / "00001.tar"));
  EXPECT_FALSE(fs::exists(dir.path() / "out" / "00002.tar"));
  EXPECT_EQ(AttackConfig::load(dir.file("out/attack.json")).rows, 7);
}

TEST(PoisonShards, BadInputIsRefusedNamingIt) {
  testing::TempDir dir("poison_shards_bad");
  write_input_shards(dir.path());
  EXPECT_NE(message_of(options_for(dir, AttackKind::kBadNet, 21)).find("has only 20 rows"), std::string::npos);
  PoisonOptions inside = options_for(dir, AttackKind::kBadNet, 2, "in");
  EXPECT_NE(message_of(inside).find("holds the input shard"), std::string::npos) << message_of(inside);
  EXPECT_TRUE(fs::is_regular_file(dir.path() / "in" / "00000.tar"));

  // A sample without a caption would be skipped by training: poison refuses it, naming it.
  {
    std::ofstream out(dir.path() / "in" / "00003.tar", std::ios::binary);
    io::TarWriter tar(out);
    std::string extension;
    tar.add("900.jpg", image_bytes(0, extension));
    tar.finish();
  }
  const std::string message = message_of(options_for(dir, AttackKind::kBadNet, 2));
  EXPECT_NE(message.find("00003.tar: key 900"), std::string::npos) << message;
  EXPECT_NE(message.find("no caption"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir.path() / "out"));

  // Two images in a poisoned sample: which one a reader takes is unclear.
  testing::TempDir two("poison_shards_two");
  fs::create_directories(two.path() / "in");
  {
    std::ofstream out(two.path() / "in" / "00000.tar", std::ios::binary);
    io::TarWriter tar(out);
    std::string extension;
    tar.add("1.jpg", image_bytes(0, extension));
    tar.add("1.png", image_bytes(1, extension));
    tar.add("1.txt", "a bag");
    tar.finish();
  }
  const std::string both = message_of(options_for(two, AttackKind::kBadNet, 1));
  EXPECT_NE(both.find("two image members"), std::string::npos) << both;
}

}  // namespace
}  // namespace clipgrad::cleanclip
