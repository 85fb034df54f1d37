#include "clip/data/loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <numeric>
#include <set>

#include "counting_host_memory.h"
#include "io/decode.h"
#include "test_temp_dir.h"

namespace clipgrad::clip {
namespace {

using testing::TempDir;

constexpr int kImageSize = 4;

// Ten small PNGs of different sizes and colours; item i is image i.
class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 10; ++i) {
      io::Image image(5 + i % 3, 4 + i % 2);
      for (size_t p = 0; p < image.rgb.size(); ++p) image.rgb[p] = static_cast<uint8_t>(i * 20 + p % 7);
      std::string path = dir_.file("img" + std::to_string(i) + ".png");
      io::write_png(path, image.width, image.height, 3, image.rgb.data());
      items_.push_back({path, 100 + i, "train.csv:" + std::to_string(i + 2)});
    }
  }

  LoaderOptions options(int workers) const {
    LoaderOptions options;
    options.batch_size = 3;
    options.image_size = kImageSize;
    options.workers = workers;
    options.seed = 7;
    return options;
  }

  struct Epoch {
    std::vector<std::vector<int64_t>> indices;  // per batch
    std::vector<std::vector<float>> pixels;     // per batch, [B * 3 * S * S]
    int skipped = 0;
  };

  static Epoch run_epoch(Loader& loader, int64_t epoch, int64_t first_batch = 0) {
    Epoch result;
    loader.start_epoch(epoch, first_batch);
    for (Batch batch; loader.next(batch);) {
      EXPECT_EQ(batch.pixels.shape(), (Shape{static_cast<int64_t>(batch.indices.size()), 3, kImageSize, kImageSize}));
      result.indices.push_back(batch.indices);
      result.pixels.push_back(batch.pixels.to_vector<float>());
      result.skipped += batch.skipped;
    }
    return result;
  }

  TempDir dir_{"loader"};
  std::vector<LoaderItem> items_;
};

TEST_F(LoaderTest, SameBatchesWhateverTheThreadCount) {
  Loader reference(items_, options(0));
  Epoch expected0 = run_epoch(reference, 0);
  Epoch expected1 = run_epoch(reference, 1);
  ASSERT_EQ(expected0.indices.size(), 4u);  // 3 + 3 + 3 + 1
  EXPECT_EQ(expected0.indices.back().size(), 1u);
  for (int workers : {1, 3}) {
    Loader loader(items_, options(workers));
    Epoch epoch0 = run_epoch(loader, 0);
    Epoch epoch1 = run_epoch(loader, 1);
    EXPECT_EQ(epoch0.indices, expected0.indices) << workers;
    EXPECT_EQ(epoch0.pixels, expected0.pixels) << workers;
    EXPECT_EQ(epoch1.indices, expected1.indices) << workers;
    EXPECT_EQ(epoch1.pixels, expected1.pixels) << workers;
  }
}

TEST_F(LoaderTest, PixelsArePreprocessedImagesOfTheirIndices) {
  Loader loader(items_, options(2));
  Epoch epoch = run_epoch(loader, 0);
  const size_t sample = 3 * kImageSize * kImageSize;
  std::vector<float> expected(sample);  // [3, S, S]
  for (size_t b = 0; b < epoch.indices.size(); ++b) {
    for (size_t row = 0; row < epoch.indices[b].size(); ++row) {
      io::preprocess(io::decode_image(items_[epoch.indices[b][row] - 100].image_path), kImageSize, kClipNormalization,
                     expected.data());
      std::vector<float> actual(epoch.pixels[b].begin() + row * sample, epoch.pixels[b].begin() + (row + 1) * sample);
      EXPECT_EQ(actual, expected) << "batch " << b << " row " << row;
    }
  }
}

// Batches bound for a GPU are decoded into the memory they upload from
// (DeviceUpload::host_memory), with the same pixels as in ordinary memory.
TEST_F(LoaderTest, BatchesAreDecodedIntoTheMemoryTheyAreGiven) {
  testing::CountingHostMemory memory;
  LoaderOptions in_memory = options(2);
  in_memory.batch_memory = &memory;
  Loader loader(items_, in_memory, std::vector<ImageTransform>{nullptr, nullptr});
  Loader ordinary(items_, options(2));
  ordinary.start_epoch(0);
  loader.start_epoch(0);
  int64_t batches = 0;
  for (Batch batch, expected; loader.next(batch); ++batches) {
    ASSERT_TRUE(ordinary.next(expected));
    for (const Tensor& view : batch.views) {
      EXPECT_TRUE(view.allocated_by(memory));
      EXPECT_EQ(view.to_vector<float>(), expected.pixels.to_vector<float>());
    }
  }
  EXPECT_EQ(batches, 4);
  EXPECT_GE(memory.allocations, 2 * batches);  // two views per batch
}

TEST_F(LoaderTest, EachEpochIsADifferentReproduciblePermutation) {
  Loader loader(items_, options(2));
  auto flat = [](const Epoch& epoch) {
    std::vector<int64_t> order;
    for (const auto& batch : epoch.indices) order.insert(order.end(), batch.begin(), batch.end());
    return order;
  };
  std::vector<int64_t> epoch0 = flat(run_epoch(loader, 0));
  std::vector<int64_t> epoch1 = flat(run_epoch(loader, 1));
  std::vector<int64_t> sorted(10);
  std::iota(sorted.begin(), sorted.end(), 100);
  std::vector<int64_t> check = epoch0;
  std::sort(check.begin(), check.end());
  EXPECT_EQ(check, sorted);
  check = epoch1;
  std::sort(check.begin(), check.end());
  EXPECT_EQ(check, sorted);
  EXPECT_NE(epoch0, epoch1);
  EXPECT_NE(epoch0, sorted);
  EXPECT_EQ(flat(run_epoch(loader, 1)), epoch1);

  // Resuming epoch 1 at batch 2 yields the tail of the same epoch.
  Epoch resumed = run_epoch(loader, 1, 2);
  EXPECT_EQ(flat(resumed), std::vector<int64_t>(epoch1.begin() + 6, epoch1.end()));

  LoaderOptions unshuffled = options(1);
  unshuffled.shuffle = false;
  Loader in_order(items_, unshuffled);
  EXPECT_EQ(flat(run_epoch(in_order, 5)), sorted);
}

TEST_F(LoaderTest, DropLastDropsThePartialBatch) {
  LoaderOptions drop = options(2);
  drop.drop_last = true;
  Loader loader(items_, drop);
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  Epoch epoch = run_epoch(loader, 0);
  ASSERT_EQ(epoch.indices.size(), 3u);
  for (const auto& batch : epoch.indices) EXPECT_EQ(batch.size(), 3u);
}

TEST_F(LoaderTest, MissingAndCorruptImagesAreSkippedAndCounted) {
  std::ofstream(items_[4].image_path, std::ios::trunc) << "garbage";
  std::filesystem::remove(items_[7].image_path);
  for (int workers : {0, 2}) {
    LoaderOptions in_order = options(workers);
    in_order.shuffle = false;  // items 4 and 7 fall in batches 1 and 2
    Loader loader(items_, in_order);
    Epoch epoch = run_epoch(loader, 0);
    std::set<int64_t> seen;
    for (const auto& batch : epoch.indices) seen.insert(batch.begin(), batch.end());
    EXPECT_EQ(seen.size(), 8u);
    EXPECT_FALSE(seen.count(104));
    EXPECT_FALSE(seen.count(107));
    EXPECT_EQ(epoch.skipped, 2);
    EXPECT_EQ(loader.skipped_in_epoch(), 2);
  }
}

TEST_F(LoaderTest, StrictModeThrowsNamingTheRow) {
  std::filesystem::remove(items_[7].image_path);
  LoaderOptions strict = options(2);
  strict.strict = true;
  strict.shuffle = false;
  Loader loader(items_, strict);
  loader.start_epoch(0);
  Batch batch;
  EXPECT_TRUE(loader.next(batch));
  EXPECT_TRUE(loader.next(batch));
  try {
    loader.next(batch);  // batch 2 holds items 6..8
    FAIL() << "expected an error";
  } catch (const std::runtime_error& error) {
    std::string message = error.what();
    EXPECT_NE(message.find("train.csv:9"), std::string::npos) << message;
    EXPECT_NE(message.find("img7.png"), std::string::npos) << message;
  }
  EXPECT_THROW(loader.next(batch), std::runtime_error);  // stays failed until restarted
}

// An image beyond the limits is a bad row like a corrupt one: skipped and counted, or named in strict
// mode. A 1 x 2,000,000 strip was once upscaled to 28 x 56M outside the per-row handling, killing the run.
TEST_F(LoaderTest, ImagesBeyondTheLimitsAreBadRows) {
  std::vector<uint8_t> strip(2000 * 3, 128);
  io::write_png(items_[4].image_path, 1, 2000, 3, strip.data());
  LoaderOptions in_order = options(2);
  in_order.shuffle = false;
  Loader loader(items_, in_order);
  Epoch epoch = run_epoch(loader, 0);
  EXPECT_EQ(epoch.skipped, 1);
  for (const auto& batch : epoch.indices) EXPECT_EQ(std::count(batch.begin(), batch.end(), 104), 0);
  in_order.image_limits.max_pixels = 25;  // of the 5 x 4 .. 7 x 5 images, 5 are larger
  Loader small(items_, in_order);
  EXPECT_EQ(run_epoch(small, 0).skipped, 6);
  in_order.strict = true;
  Loader strict(items_, in_order);
  strict.start_epoch(0);
  Batch batch;
  try {
    while (strict.next(batch)) {
    }
    FAIL() << "expected an error";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("train.csv:"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("(--max-image-"), std::string::npos) << error.what();
  }
}

TEST_F(LoaderTest, AllSkippedBatchCarriesItsCountForward) {
  for (int i : {0, 1, 2, 9}) std::filesystem::remove(items_[i].image_path);
  LoaderOptions in_order = options(2);
  in_order.shuffle = false;
  Loader loader(items_, in_order);
  Epoch epoch = run_epoch(loader, 0);
  ASSERT_EQ(epoch.indices.size(), 2u);  // batches 0 (items 0..2) and 3 (item 9) are empty
  EXPECT_EQ(epoch.indices.front(), (std::vector<int64_t>{103, 104, 105}));
  EXPECT_EQ(epoch.skipped, 3);              // batch 0's count rides on batch 1
  EXPECT_EQ(loader.skipped_in_epoch(), 4);  // the trailing empty batch is counted here
}

TEST_F(LoaderTest, TransformIsDeterministicPerSample) {
  std::vector<std::vector<int64_t>> seen_indices(2);
  auto transform = [](io::Image& image, int64_t index, Generator& generator) {
    uint8_t value = static_cast<uint8_t>(generator.below(256));
    for (auto& channel : image.rgb) channel = static_cast<uint8_t>(value ^ index);
  };
  Loader serial(items_, options(0), transform);
  Loader threaded(items_, options(3), transform);
  Epoch serial0 = run_epoch(serial, 0);
  EXPECT_EQ(run_epoch(threaded, 0).pixels, serial0.pixels);
  Epoch serial1 = run_epoch(serial, 1);
  EXPECT_EQ(run_epoch(threaded, 1).pixels, serial1.pixels);

  // The generator depends on (seed, epoch, index) only.
  EXPECT_NE(sample_seed(7, 0, 100), sample_seed(7, 1, 100));
  EXPECT_NE(sample_seed(7, 0, 100), sample_seed(7, 0, 101));
  EXPECT_NE(sample_seed(7, 0, 100), sample_seed(8, 0, 100));
  io::Image image(1, 1);
  Generator generator(sample_seed(7, 0, 100));
  transform(image, 100, generator);
  const float expected = (image.rgb[0] / 255.0f - kClipNormalization.mean[0]) / kClipNormalization.std[0];
  for (size_t b = 0; b < serial0.indices.size(); ++b)
    for (size_t row = 0; row < serial0.indices[b].size(); ++row)
      if (serial0.indices[b][row] == 100)
        EXPECT_FLOAT_EQ(serial0.pixels[b][row * 3 * kImageSize * kImageSize], expected);
}

// Data parallel: slice s of a global batch of 4 over 2 slices is rows
// [2s, 2s + 2) of the single loader's batch, the same pixels, and this
// loader decodes those images alone.
TEST_F(LoaderTest, EachSliceIsItsPartOfTheGlobalBatchAndDecodesNothingElse) {
  LoaderOptions global = options(1);
  global.batch_size = 4;
  global.drop_last = true;
  Loader whole(items_, global);
  Epoch expected = run_epoch(whole, 3);
  ASSERT_EQ(expected.indices.size(), 2u);  // 10 items: two batches of 4, the last 2 dropped
  const int64_t pixels_per_row = 3 * kImageSize * kImageSize;
  for (int slice = 0; slice < 2; ++slice) {
    LoaderOptions sliced = global;
    sliced.slices = 2;
    sliced.slice = slice;
    std::mutex mutex;
    std::set<int64_t> decoded;
    Loader loader(items_, sliced, [&](io::Image&, int64_t index, Generator&) {
      std::lock_guard<std::mutex> lock(mutex);
      decoded.insert(index);
    });
    Epoch epoch = run_epoch(loader, 3);
    ASSERT_EQ(epoch.indices.size(), expected.indices.size()) << slice;
    std::set<int64_t> mine;
    for (size_t b = 0; b < expected.indices.size(); ++b) {
      std::vector<int64_t> rows(expected.indices[b].begin() + 2 * slice, expected.indices[b].begin() + 2 * slice + 2);
      EXPECT_EQ(epoch.indices[b], rows) << "slice " << slice << " batch " << b;
      std::vector<float> pixels(expected.pixels[b].begin() + 2 * slice * pixels_per_row,
                                expected.pixels[b].begin() + (2 * slice + 2) * pixels_per_row);
      EXPECT_EQ(epoch.pixels[b], pixels) << "slice " << slice << " batch " << b;
      mine.insert(rows.begin(), rows.end());
    }
    EXPECT_EQ(decoded, mine) << "slice " << slice;
  }
  LoaderOptions uneven = global;
  uneven.slices = 3;
  EXPECT_THROW(Loader(items_, uneven), std::invalid_argument);
}

TEST(LoaderEdgeTest, EmptyListAndBadOptions) {
  Loader loader({}, LoaderOptions{});
  EXPECT_EQ(loader.batches_per_epoch(), 0);
  Batch batch;
  EXPECT_THROW(loader.next(batch), std::logic_error);
  loader.start_epoch(0);
  EXPECT_FALSE(loader.next(batch));
  LoaderOptions bad;
  bad.batch_size = 0;
  EXPECT_THROW(Loader({}, bad), std::invalid_argument);
  // A thousand threads once aborted the process (a failed start destroyed joinable threads).
  LoaderOptions many;
  many.workers = 1000;
  EXPECT_THROW(Loader({}, many), std::invalid_argument);
  many.workers = max_loader_workers();
  EXPECT_NO_THROW(Loader({}, many));
}

}  // namespace
}  // namespace clipgrad::clip
