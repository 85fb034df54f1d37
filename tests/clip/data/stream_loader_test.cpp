// The stream loader: a seeded order with each sample once per epoch,
// resumable mid-epoch to the bit, shards split among ranks, bad images skipped.
#include "clip/data/stream_loader.h"

#include <gtest/gtest.h>

#include <set>

#include "counting_host_memory.h"
#include "shards_test_support.h"

namespace clipgrad::clip {
namespace {

using testing::TempDir;

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
  auto shards = write_test_shards(dir, 4, 5);
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

TEST(StreamLoader, BatchesAreDecodedIntoTheMemoryTheyAreGiven) {
  TempDir dir("stream-memory");
  auto shards = write_test_shards(dir, 2, 4);
  testing::CountingHostMemory memory;
  StreamLoader loader(shards, {.batch_size = 3, .image_size = 8, .workers = 2, .seed = 5, .batch_memory = &memory});
  StreamLoader ordinary(shards, {.batch_size = 3, .image_size = 8, .workers = 2, .seed = 5});
  EpochRun expected = run(ordinary, 0);
  loader.start_epoch(0);
  size_t batches = 0;
  for (Batch batch; loader.next(batch); ++batches) {
    EXPECT_TRUE(batch.pixels.allocated_by(memory));
    ASSERT_LT(batches, expected.pixels.size());
    EXPECT_EQ(batch.pixels.to_vector<float>(), expected.pixels[batches]);
  }
  EXPECT_EQ(batches, expected.pixels.size());
  EXPECT_GE(memory.allocations, static_cast<int64_t>(batches));
}

TEST(StreamLoader, RanksReadDisjointShards) {
  TempDir dir("stream");
  auto shards = write_test_shards(dir, 5, 2);
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
