// A multi-threaded image loader: worker threads decode and preprocess whole
// batches ahead of the consumer, and batches come out in order, so the output
// for a seed is the same whatever the thread count or timing.
//
//   Loader loader(loader_items(dataset), {.batch_size = 64, .image_size = 224, .seed = 1});
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     for (Batch batch; loader.next(batch);) train_step(batch.pixels, batch.indices);
//   }
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "clip/data/dataset.h"
#include "io/image.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace clipgrad::clip {

// CLIP's normalisation constants (OpenAI CLIP, per RGB channel).
inline constexpr io::ChannelNormalization kClipNormalization{{0.48145466f, 0.4578275f, 0.40821073f},
                                                             {0.26862954f, 0.26130258f, 0.27577711f}};

struct LoaderItem {
  std::string image_path;
  int64_t index = 0;   // payload index handed back in Batch::indices (e.g. the dataset row)
  std::string origin;  // where the item came from, for messages ("train.csv:17"); may be empty
};

// One item per dataset row: index = row, origin = the CSV line.
std::vector<LoaderItem> loader_items(const ImageCaptionDataset& dataset);
std::vector<LoaderItem> loader_items(const LabelledDataset& dataset);
// One item per path: index = position in `image_paths`.
std::vector<LoaderItem> loader_items(const std::vector<std::string>& image_paths);

struct LoaderOptions {
  int64_t batch_size = 32;
  int image_size = 224;    // S: images are preprocessed to S x S
  int workers = 2;         // worker threads; 0 decodes on the consumer's thread inside next()
  bool shuffle = true;     // epoch e is shuffled with Generator(seed + e)
  bool drop_last = false;  // drop the final batch when it has fewer than batch_size items
  uint64_t seed = 0;
  io::ImageLimits image_limits = io::default_image_limits();  // an image beyond them is a bad image
  bool strict = false;  // a bad image (missing, corrupt, too large) throws instead of being skipped
  int prefetch = 4;     // batches decoded ahead of the consumer, at most
  // Data parallel: each batch is cut into `slices` contiguous slices of
  // batch_size / slices items and this loader decodes and returns only slice
  // `slice` (the rank's share of the global batch). Needs drop_last and a
  // batch_size that slices divides.
  int slices = 1;
  int slice = 0;
  // JPEGs at least twice the target size are decoded at 1/2, 1/4 or 1/8 scale
  // in the DCT domain (io/decode.h) unless exact_resize.
  bool exact_resize = false;
  // Where the batches' pixels are allocated: null for ordinary host memory;
  // DeviceUpload::host_memory(device) for batches bound for a GPU, which then
  // upload straight from the memory they were decoded into.
  Allocator* batch_memory = nullptr;
};

// The most worker threads a loader takes: a multiple of the cores, beyond which
// threads only contend (and a thousand of them can fail to start).
int max_loader_workers();

struct Batch {
  Tensor pixels;                      // f32 [B, 3, S, S], CLIP-normalised; B = indices.size(); = views[0]
  std::vector<Tensor> views;          // [V] f32 [B, 3, S, S]: one per view the loader was made with
  std::vector<int64_t> indices;       // [B] LoaderItem::index of each row
  int skipped = 0;                    // bad images skipped (missing, corrupt, too large) since the previous batch
  int64_t number = 0;                 // position of this batch in its epoch
  std::vector<std::string> captions;  // [B] shards only: each sample's caption
  std::vector<int64_t> labels;        // [B] shards only: each sample's class (its cls member), -1 if none
  double wait_seconds = 0;            // how long next() waited for this batch (the data wait of a step)
};

// Where a training or evaluation loop gets its batches: a Loader over a CSV's
// rows, or a StreamLoader over webdataset shards (clip/data/stream_loader.h).
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Starts (or restarts) epoch `epoch` at batch `first_batch` (to resume mid-epoch).
  virtual void start_epoch(int64_t epoch, int64_t first_batch = 0) = 0;
  // The next batch of the epoch, in order; false once the epoch is exhausted.
  virtual bool next(Batch& batch) = 0;
  // Images skipped so far in the current epoch.
  virtual int64_t skipped_in_epoch() const = 0;
};

// Applied to each decoded image before preprocessing (augmentations, attack
// triggers). `index` is the item's LoaderItem::index; `generator` is seeded
// from (seed, epoch, index) alone, so the result does not depend on threads or
// batch order. Called from worker threads concurrently: it must be thread-safe.
using ImageTransform = std::function<void(io::Image& image, int64_t index, Generator& generator)>;

// What the loaders make of each decoded image: view v is transforms[v] applied
// to a copy (null: the image as decoded), preprocessed to image_size.
struct ViewPlan {
  const std::vector<ImageTransform>& transforms;  // [V]
  int image_size;
  uint64_t seed;  // of the per-view generators (view_seed)
  bool strict;    // a bad image throws instead of being skipped
};

// One sample as it is loaded: `where` names it in warnings (a CSV row, a shard
// and key; may be empty), `image` in a transform's error (the file too).
struct SampleRef {
  std::string where, image;
  int64_t epoch = 0, index = 0;  // the view generators' seeds
};

// The loaders' common step: decodes one image with `decode` (io/decode.h),
// applies each view's transform and preprocesses view v into row `slot` of
// pixels[v] (f32 [B, 3, S, S] each). A bad image (it cannot be decoded or
// preprocessed: missing, corrupt, beyond the limits) returns false after a
// warning, counted in batch.skipped, or throws in strict mode; a transform's
// failure is not the image's and always throws, naming the image.
bool load_views(const std::function<io::Image()>& decode, const SampleRef& sample, const ViewPlan& plan,
                std::vector<Tensor>& pixels, int64_t slot, Batch& batch);
// The pixels of one view of a batch: f32 [rows, 3, size, size], uninitialised,
// in `batch_memory` (LoaderOptions::batch_memory; null: ordinary host memory).
Tensor batch_pixels(Allocator* batch_memory, int64_t rows, int64_t size);
// "clipgrad: warning: skipping WHERE: REASON" on stderr, one line at a time.
void warn_skipped(const std::string& where, const std::string& reason);

// The seed of the per-sample generator given to an ImageTransform.
uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index);
// The same for view `view` of a multi-view loader (view 0: sample_seed).
uint64_t view_seed(uint64_t seed, int64_t epoch, int64_t index, int64_t view);

class Loader : public BatchSource {
 public:
  Loader(std::vector<LoaderItem> items, LoaderOptions options, ImageTransform transform = nullptr);
  // Several views of each image from one decode: view v is views[v] applied
  // to a copy of the decoded image (null: the image as it is), with a
  // generator seeded by view_seed(seed, epoch, index, v).
  Loader(std::vector<LoaderItem> items, LoaderOptions options, std::vector<ImageTransform> views);
  ~Loader() override;
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Starts (or restarts) producing epoch `epoch` from batch `first_batch`
  // (to resume mid-epoch); work still in flight for an earlier epoch is discarded.
  void start_epoch(int64_t epoch, int64_t first_batch = 0) override;

  // The next batch of the epoch, in order; false once the epoch is exhausted.
  // A bad image (one that cannot be decoded or preprocessed) is skipped with a
  // warning naming its origin and file, and counted; a batch whose images were
  // all skipped is not returned: its count carries into the next batch's
  // `skipped`. In strict mode a bad image throws here (message: origin, file
  // and reason), and the epoch must be restarted. A transform's error always
  // throws, naming the image.
  bool next(Batch& batch) override;

  int64_t size() const;  // items
  int64_t batches_per_epoch() const;
  const LoaderOptions& options() const;
  // Images skipped so far in the current epoch (including trailing empty batches).
  int64_t skipped_in_epoch() const override;

 private:
  void stop_workers();  // stops and joins the worker threads

  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace clipgrad::clip
