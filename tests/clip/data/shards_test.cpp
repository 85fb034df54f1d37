// Webdataset shards: spec expansion, grouping by key, bad members skipped and
// counted.
#include "clip/data/shards.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "io/tar.h"
#include "shards_test_support.h"
#include "test_temp_dir.h"

namespace clipgrad::clip {
namespace {

using testing::TempDir;

TEST(Shards, SpecsExpandToTheNamedFiles) {
  TempDir dir("shards");
  auto paths = write_test_shards(dir, 3, 1);
  EXPECT_EQ(expand_shard_spec(dir.file("{00000..00002}.tar")), paths);
  EXPECT_EQ(expand_shard_spec(dir.file("*.tar")), paths);
  EXPECT_EQ(expand_shard_spec(dir.path().string()), paths);
  EXPECT_EQ(expand_shard_spec(dir.file("0000{2,0}.tar")), (std::vector<std::string>{paths[2], paths[0]}));
  EXPECT_EQ(expand_shard_spec(paths[0] + "::" + paths[2]), (std::vector<std::string>{paths[0], paths[2]}));
  std::ofstream(dir.file("list.txt")) << "# train shards\n00001.tar\n" << paths[0] << "\n";
  EXPECT_EQ(expand_shard_spec(dir.file("list.txt")), (std::vector<std::string>{paths[1], paths[0]}));
  EXPECT_THROW(expand_shard_spec(dir.file("{00000..00005}.tar")), std::runtime_error);
  EXPECT_TRUE(is_shard_spec(dir.file("*.tar")));
  std::ofstream(dir.file("train.csv")) << "image,caption\n";
  EXPECT_FALSE(is_shard_spec(dir.file("train.csv")));
  EXPECT_TRUE(is_shard_spec(dir.file("list.txt")));
  EXPECT_TRUE(is_shard_spec(paths[0]));
  std::ofstream(dir.file("train.txt")) << "image,caption\nimages/0.png,a bag\n";  // a CSV by another name
  EXPECT_FALSE(is_shard_spec(dir.file("train.txt")));
  EXPECT_EQ(shard_sample_counts(paths), (std::vector<int64_t>{1, 1, 1}));
  std::ofstream(dir.file("sizes.json")) << R"({"00000.tar": 5, "00001.tar": 6, "00002.tar": 7})";
  EXPECT_EQ(shard_sample_counts(paths), (std::vector<int64_t>{5, 6, 7}));
}

// clipgrad data shards: every row once, in order, with its caption and label;
// the folder written whole, over its own earlier output but never over other files.
TEST(Shards, WrittenFromACsvWholeAndNeverOverOtherFiles) {
  TempDir dir("shards_from_csv");
  std::ofstream csv(dir.file("data.csv"));
  csv << "image,caption,label\n";
  for (int row = 0; row < 5; ++row) {
    std::ofstream(dir.file(std::to_string(row) + ".jpg"), std::ios::binary) << jpeg_of(row);
    csv << row << ".jpg,caption " << row << "," << row % 2 << "\n";
  }
  csv.close();
  EXPECT_EQ(write_shards(dir.file("data.csv"), dir.file("out"), 2), 3);
  std::vector<ShardSample> samples;
  for (const std::string& shard : expand_shard_spec(dir.file("out")))
    read_shard(shard, 0, {}, [&](ShardSample&& sample) { samples.push_back(std::move(sample)); });
  ASSERT_EQ(samples.size(), 5u);
  for (int row = 0; row < 5; ++row) {
    EXPECT_EQ(samples[row].caption, "caption " + std::to_string(row));
    EXPECT_EQ(samples[row].label, row % 2);
    EXPECT_EQ(samples[row].image, jpeg_of(row));
  }
  EXPECT_EQ(shard_sample_counts(expand_shard_spec(dir.file("out"))), (std::vector<int64_t>{2, 2, 1}));
  EXPECT_EQ(write_shards(dir.file("data.csv"), dir.file("out"), 5), 1) << "its own output is replaced";
  EXPECT_FALSE(std::filesystem::exists(dir.file("out/00001.tar")));
  std::ofstream(dir.file("out/notes.txt")) << "mine";
  EXPECT_THROW(write_shards(dir.file("data.csv"), dir.file("out"), 5), std::runtime_error);
  EXPECT_TRUE(std::filesystem::exists(dir.file("out/notes.txt")));
  // A row whose image is missing: an error naming the row, and the folder as it was.
  std::ofstream(dir.file("bad.csv")) << "image,caption\n0.jpg,fine\nabsent.jpg,gone\n";
  EXPECT_THROW(write_shards(dir.file("bad.csv"), dir.file("bad_out"), 5), std::runtime_error);
  EXPECT_FALSE(std::filesystem::exists(dir.file("bad_out")));
}

TEST(Shards, GroupsByKeyAndSkipsBadSamplesNamingShardAndKey) {
  TempDir dir("shards");
  const std::string path = dir.file("bad.tar");
  {
    std::ofstream out(path, std::ios::binary);
    io::TarWriter tar(out);
    tar.add("a.b.jpg", jpeg_of(1));  // key "a", extension "b.jpg": no image member by that name
    tar.add("a.txt", "dotted");
    tar.add("good.jpg", jpeg_of(2));
    tar.add("good.json", R"({"caption": "from json", "url": "x"})");
    tar.add("good.txt", "from txt");
    tar.add("nocap.jpg", jpeg_of(3));
    tar.add("../evil.jpg", jpeg_of(4));
    tar.add("../evil.txt", "x");
    tar.add("link.jpg", "", '2');
    tar.add("link.txt", "x");
    tar.add("twice.jpg", jpeg_of(5));
    tar.add("twice.jpg", jpeg_of(6));
    tar.add("twice.txt", "x");
    tar.add("last.png", "not really a png");
    tar.add("last.txt", "kept: decoding is the loader's job");
    tar.finish();
  }
  std::vector<ShardSample> samples;
  ::testing::internal::CaptureStderr();
  const int64_t skipped = read_shard(path, 4, {}, [&](ShardSample&& sample) { samples.push_back(sample); });
  const std::string warnings = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(skipped, 5);
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].key, "good");
  EXPECT_EQ(samples[0].caption, "from json");
  EXPECT_EQ(samples[0].id(), (int64_t(4) << 32) | 1);
  EXPECT_EQ(samples[1].key, "last");
  for (const char* expected : {"bad.tar: key a: no image", "key nocap: no caption", "key ../evil: member '../evil.jpg'",
                               "key link: member 'link.jpg': symbolic link", "key twice: member 'twice.jpg' repeats"})
    EXPECT_NE(warnings.find(expected), std::string::npos) << expected << " not in:\n" << warnings;
  EXPECT_THROW(read_shard(path, 0, {.strict = true}, [](ShardSample&&) {}), std::runtime_error);

  // A truncated shard: its good samples up to the cut, then one warning for the rest.
  std::ifstream in(path, std::ios::binary);
  std::string bytes(std::istreambuf_iterator<char>(in), {});
  std::ofstream(dir.file("cut.tar"), std::ios::binary) << bytes.substr(0, 512 * 9 + 100);
  samples.clear();
  ::testing::internal::CaptureStderr();
  read_shard(dir.file("cut.tar"), 0, {}, [&](ShardSample&& sample) { samples.push_back(sample); });
  EXPECT_NE(::testing::internal::GetCapturedStderr().find("truncated"), std::string::npos);
}

}  // namespace
}  // namespace clipgrad::clip
