// Batches streamed from webdataset shards: one reader thread reads the epoch's
// shards in a seeded order, each once, through a seeded shuffle buffer, and
// cuts the stream into batches of encoded samples; worker threads decode and
// preprocess them (the same per-sample steps as Loader); batches come out in
// order. The order depends only on the seed, the epoch, the shards and the rank,
// so an epoch restarted at batch k (a resumed run) gives the same batches from k
// on, bit for bit: the k batches before are read and shuffled but not decoded.
//
// Data parallel: the epoch's shard order is cut among the ranks (rank r reads
// shards r, r + N, r + 2N, ... of it), so each shard is read by one rank.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "clip/data/loader.h"
#include "clip/data/shards.h"

namespace clipgrad::clip {

struct StreamOptions {
  int64_t batch_size = 32;
  int image_size = 224;
  int workers = 2;                    // decoding threads; 0 decodes inside next()
  uint64_t seed = 0;                  // the epoch's shard order and shuffle buffer
  int64_t shuffle_buffer = 0;         // samples held for shuffling (0 or 1: the shards' own order)
  bool shuffle_shards = true;         // shuffle the shard order per epoch
  bool drop_last = true;              // drop a final batch smaller than batch_size
  bool exact_resize = false;          // no DCT-domain scaling (io/decode.h)
  int prefetch = 4;                   // batches read or decoded ahead of the consumer, at most
  int ranks = 1, rank = 0;            // data parallel: this process's share of the shards
  ShardReadOptions read;              // captions, labels, strictness
  Allocator* batch_memory = nullptr;  // where batches are allocated (LoaderOptions::batch_memory)
};

class StreamLoader : public BatchSource {
 public:
  StreamLoader(std::vector<std::string> shards, StreamOptions options, std::vector<ImageTransform> views = {nullptr});
  ~StreamLoader() override;
  StreamLoader(const StreamLoader&) = delete;
  StreamLoader& operator=(const StreamLoader&) = delete;

  void start_epoch(int64_t epoch, int64_t first_batch = 0) override;
  // Batch::indices holds each sample's ShardSample::id(), captions and labels its own.
  bool next(Batch& batch) override;
  int64_t skipped_in_epoch() const override;
  // The shards this rank reads in epoch `epoch`, in reading order (indices into the list).
  std::vector<int64_t> epoch_shards(int64_t epoch) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace clipgrad::clip
