// Webdataset shards: spec expansion, grouping by key, bad members skipped and
// counted, and the stream loader's order (seeded, each sample once per epoch,
// resumable mid-epoch to the bit, shards split among ranks).
#include "clip/data/shards.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "clip/data/stream_loader.h"
#include "io/jpeg.h"
#include "io/tar.h"
#include "test_temp_dir.h"

namespace clipgrad::clip {
namespace {

using testing::TempDir;

std::string jpeg_of(int seed, int width = 40, int height = 30) {
  io::Image image(width, height);
  for (size_t p = 0; p < image.rgb.size(); ++p) image.rgb[p] = static_cast<uint8_t>((seed * 37 + p * 5) % 251);
  return io::encode_jpeg(image, 90);
}

// Shards of `per_shard` samples each: key s*100+i, a jpg, a txt caption and a cls label.
std::vector<std::string> write_shards(const TempDir& dir, int shards, int per_shard) {
  std::vector<std::string> paths;
  for (int s = 0; s < shards; ++s) {
    char name[32];
    std::snprintf(name, sizeof name, "%05d.tar", s);
    std::ofstream out(dir.file(name), std::ios::binary);
    io::TarWriter tar(out);
    for (int i = 0; i < per_shard; ++i) {
      const std::string key = std::to_string(s * 100 + i);
      tar.add(key + ".jpg", jpeg_of(s * 100 + i));
      tar.add(key + ".txt", "caption " + key);
      tar.add(key + ".cls", std::to_string(i % 3));
    }
    tar.finish();
    paths.push_back(dir.file(name));
  }
  return paths;
}

TEST(Shards, SpecsExpandToTheNamedFiles) {
  TempDir dir("shards");
  auto paths = write_shards(dir, 3, 1);
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
  EXPECT_EQ(shard_sample_counts(paths), (std::vector<int64_t>{1, 1, 1}));
  std::ofstream(dir.file("sizes.json")) << R"({"00000.tar": 5, "00001.tar": 6, "00002.tar": 7})";
  EXPECT_EQ(shard_sample_counts(paths), (std::vector<int64_t>{5, 6, 7}));
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

struct EpochRun {
  std::vector<std::vector<int64_t>> ids;
  std::vector<std::vector<float>> pixels;
  std::vector<std::string> captions;
};

EpochRun run(StreamLoader& loader, int64_t epoch, int64_t first_batch = 0) {
  EpochRun result;
  loader.start_epoch(epoch, first_batch);
  for (Batch batch; loader.next(batch);) {
    result.ids.push_back(batch.indices);
    result.pixels.push_back(batch.pixels.to_vector<float>());
    for (size_t i = 0; i < batch.indices.size(); ++i) {
      EXPECT_EQ(batch.captions[i],
                "caption " + std::to_string((batch.indices[i] >> 32) * 100 + (batch.indices[i] & 0xffff)));
      result.captions.push_back(batch.captions[i]);
    }
  }
  return result;
}

TEST(StreamLoader, SeededOrderEachSampleOncePerEpochAndBitIdenticalResume) {
  TempDir dir("stream");
  auto shards = write_shards(dir, 4, 5);
  StreamOptions options{.batch_size = 3, .image_size = 8, .workers = 2, .seed = 11, .shuffle_buffer = 6};
  StreamLoader loader(shards, options);
  EpochRun first = run(loader, 0);
  ASSERT_EQ(first.ids.size(), 6u);  // 20 samples, batches of 3, the last one dropped
  std::set<int64_t> seen;
  for (const auto& batch : first.ids) seen.insert(batch.begin(), batch.end());
  EXPECT_EQ(seen.size(), 18u);
  EXPECT_EQ(run(loader, 0).ids, first.ids);  // same seed and epoch: same order
  EXPECT_NE(run(loader, 1).ids, first.ids);  // another epoch: another order
  StreamLoader inline_decoder(shards,
                              {.batch_size = 3, .image_size = 8, .workers = 0, .seed = 11, .shuffle_buffer = 6});
  EpochRun again = run(inline_decoder, 0);
  EXPECT_EQ(again.ids, first.ids);  // threads change nothing
  EXPECT_EQ(again.pixels, first.pixels);
  EpochRun resumed = run(loader, 0, 4);
  ASSERT_EQ(resumed.ids.size(), 2u);
  EXPECT_EQ(resumed.ids[0], first.ids[4]);
  EXPECT_EQ(resumed.pixels[1], first.pixels[5]);  // the same bits
  StreamLoader other_seed(shards, {.batch_size = 3, .image_size = 8, .workers = 1, .seed = 12, .shuffle_buffer = 6});
  EXPECT_NE(run(other_seed, 0).ids, first.ids);
}

TEST(StreamLoader, RanksReadDisjointShards) {
  TempDir dir("stream");
  auto shards = write_shards(dir, 5, 2);
  std::set<int64_t> all;
  for (int rank = 0; rank < 2; ++rank) {
    StreamLoader loader(shards, {.batch_size = 2, .image_size = 8, .workers = 1, .seed = 3, .ranks = 2, .rank = rank});
    EXPECT_EQ(loader.epoch_shards(0).size(), rank == 0 ? 3u : 2u);
    for (const auto& batch : run(loader, 0).ids)
      for (int64_t id : batch) EXPECT_TRUE(all.insert(id).second) << "sample " << id << " read by two ranks";
  }
  EXPECT_EQ(all.size(), 10u);
}

TEST(StreamLoader, UndecodableImagesAreSkippedAndCounted) {
  TempDir dir("stream");
  {
    std::ofstream out(dir.file("x.tar"), std::ios::binary);
    io::TarWriter tar(out);
    for (int i = 0; i < 4; ++i) {
      tar.add(std::to_string(i) + ".jpg", i == 1 ? jpeg_of(i).substr(0, 200) : jpeg_of(i));
      tar.add(std::to_string(i) + ".txt", "caption");
    }
    tar.finish();
  }
  StreamLoader loader({dir.file("x.tar")}, {.batch_size = 4, .image_size = 8, .workers = 1, .shuffle_shards = false});
  ::testing::internal::CaptureStderr();
  loader.start_epoch(0);
  Batch batch;
  ASSERT_TRUE(loader.next(batch));
  EXPECT_NE(::testing::internal::GetCapturedStderr().find("x.tar: key 1"), std::string::npos);
  EXPECT_EQ(batch.indices.size(), 3u);
  EXPECT_EQ(batch.skipped, 1);
  StreamLoader strict({dir.file("x.tar")}, {.batch_size = 4, .image_size = 8, .workers = 1, .read = {.strict = true}});
  strict.start_epoch(0);
  EXPECT_THROW(strict.next(batch), std::runtime_error);
}

}  // namespace
}  // namespace clipgrad::clip
