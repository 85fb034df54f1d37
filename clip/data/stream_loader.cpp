#include "clip/data/stream_loader.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "io/decode.h"

namespace clipgrad::clip {

struct StreamLoader::State {
  using Samples = std::vector<ShardSample>;
  std::vector<std::string> shards;
  StreamOptions options;
  std::vector<ImageTransform> views;

  std::mutex mutex;
  std::condition_variable changed;  // every wait in here: a batch read or decoded, a batch taken, a stop
  bool stopping = false, started = false, reading_done = false;
  uint64_t generation = 0;  // bumped by start_epoch: older readers stop, older results are dropped
  int64_t epoch = 0, next_yield = 0, batches_read = 0;
  std::deque<std::pair<int64_t, std::shared_ptr<Samples>>> raw;  // read, not yet decoded
  std::map<int64_t, Batch> done;
  std::exception_ptr failure;
  int64_t skipped_in_epoch = 0, pending_skipped = 0;
  std::thread reader;
  std::vector<std::thread> workers;

  bool stale(uint64_t claimed) const { return stopping || claimed != generation; }

  // Batch `number` of encoded samples is ready: wait for room (at most prefetch ahead of the consumer).
  void deliver(uint64_t claimed, int64_t number, Samples&& samples) {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return stale(claimed) || number < next_yield + options.prefetch; });
    if (stale(claimed)) return;
    raw.emplace_back(number, std::make_shared<Samples>(std::move(samples)));
    changed.notify_all();
  }

  void count_skipped(int64_t skipped) {
    std::lock_guard lock(mutex);
    skipped_in_epoch += skipped;
    pending_skipped += skipped;
  }

  // The reader thread of one epoch: shards in order, the shuffle buffer, batches of encoded samples.
  void read_epoch(uint64_t claimed, int64_t read_epoch_number, int64_t first_batch, std::vector<int64_t> order) {
    const int64_t batch_size = options.batch_size;
    Generator shuffle(sample_seed(options.seed, read_epoch_number, -2 - options.rank));
    Samples buffer, batch;
    int64_t number = 0;
    auto push = [&](ShardSample&& sample) {
      batch.push_back(std::move(sample));
      if (static_cast<int64_t>(batch.size()) < batch_size) return;
      if (number >= first_batch) deliver(claimed, number, std::move(batch));  // earlier batches: resumed past
      ++number;
      batch.clear();
    };
    auto draw = [&] {  // a uniform pick from the buffer goes out
      std::swap(buffer[shuffle.below(buffer.size())], buffer.back());
      push(std::move(buffer.back()));
      buffer.pop_back();
    };
    try {
      for (int64_t shard : order) {
        auto stop = [&] {
          std::lock_guard lock(mutex);
          return stale(claimed);
        };
        if (stop()) return;
        count_skipped(read_shard(
            shards[shard], shard, options.read,
            [&](ShardSample&& sample) {
              if (options.shuffle_buffer <= 1) return push(std::move(sample));
              buffer.push_back(std::move(sample));
              if (static_cast<int64_t>(buffer.size()) >= options.shuffle_buffer) draw();
            },
            stop));
      }
      while (!buffer.empty()) draw();
      if (!options.drop_last && !batch.empty() && number >= first_batch) deliver(claimed, number++, std::move(batch));
    } catch (...) {
      std::lock_guard lock(mutex);
      if (!stale(claimed)) failure = std::current_exception();
    }
    std::lock_guard lock(mutex);
    if (stale(claimed)) return;
    reading_done = true;
    batches_read = std::max(number, first_batch);
    changed.notify_all();
  }

  Batch decode(const Samples& samples, int64_t batch_epoch, int64_t number) const {
    const int64_t size = options.image_size;
    Batch batch;
    batch.number = number;
    std::vector<Tensor> pixels;  // [V] f32 [B, 3, S, S]
    for (size_t v = 0; v < views.size(); ++v)
      pixels.push_back(batch_pixels(options.batch_memory, static_cast<int64_t>(samples.size()), size));
    const ViewPlan plan{views, options.image_size, options.seed, options.read.strict};
    const io::DecodeOptions decoding{.shorter_side = options.image_size, .exact = options.exact_resize};
    for (const ShardSample& sample : samples) {
      const auto* bytes = reinterpret_cast<const uint8_t*>(sample.image.data());
      auto decode = [&] { return io::decode_image_bytes(bytes, sample.image.size(), sample.where, decoding); };
      if (!load_views(decode, {sample.where, sample.where, batch_epoch, sample.id()}, plan, pixels,
                      static_cast<int64_t>(batch.indices.size()), batch))
        continue;
      batch.indices.push_back(sample.id());
      batch.captions.push_back(sample.caption);
      batch.labels.push_back(sample.label);
    }
    if (!batch.indices.empty())
      for (Tensor& view : pixels) batch.views.push_back(view.rows(0, static_cast<int64_t>(batch.indices.size())));
    if (!batch.views.empty()) batch.pixels = batch.views[0];
    return batch;
  }

  // Takes the oldest encoded batch and decodes it; the result goes to `done` unless the epoch moved on.
  void decode_next(std::unique_lock<std::mutex>& lock) {
    auto [number, samples] = std::move(raw.front());
    raw.pop_front();
    const uint64_t claimed = generation;
    const int64_t batch_epoch = epoch;
    lock.unlock();
    Batch batch;
    std::exception_ptr error;
    try {
      batch = decode(*samples, batch_epoch, number);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    if (stale(claimed)) return;
    if (error) failure = error;
    done.emplace(number, std::move(batch));
    changed.notify_all();
  }

  void worker_loop() {
    std::unique_lock lock(mutex);
    while (true) {
      changed.wait(lock, [&] { return stopping || !raw.empty(); });
      if (stopping) return;
      decode_next(lock);
    }
  }

  void stop_reader() {
    {
      std::lock_guard lock(mutex);
      ++generation;
    }
    changed.notify_all();
    if (reader.joinable()) reader.join();
  }
};

StreamLoader::StreamLoader(std::vector<std::string> shards, StreamOptions options, std::vector<ImageTransform> views)
    : state_(std::make_unique<State>()) {
  if (shards.empty()) throw std::invalid_argument("StreamLoader: no shards");
  if (views.empty() || options.batch_size <= 0 || options.image_size <= 0 || options.workers < 0 ||
      options.prefetch <= 0 || options.ranks < 1 || options.rank < 0 || options.rank >= options.ranks)
    throw std::invalid_argument(
        "StreamLoader: needs a view, positive batch_size, image_size and prefetch, workers >= 0 "
        "and 0 <= rank < ranks");
  state_->shards = std::move(shards);
  state_->options = options;
  state_->views = std::move(views);
  for (int w = 0; w < options.workers; ++w) state_->workers.emplace_back([this] { state_->worker_loop(); });
}

StreamLoader::~StreamLoader() {
  state_->stop_reader();
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->changed.notify_all();
  for (auto& worker : state_->workers) worker.join();
}

std::vector<int64_t> StreamLoader::epoch_shards(int64_t epoch) const {
  const StreamOptions& options = state_->options;
  std::vector<int64_t> order(state_->shards.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  if (options.shuffle_shards) {
    Generator generator(sample_seed(options.seed, epoch, -1));
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[generator.below(i)]);
  }
  std::vector<int64_t> mine;
  for (size_t i = static_cast<size_t>(options.rank); i < order.size(); i += static_cast<size_t>(options.ranks))
    mine.push_back(order[i]);
  return mine;
}

void StreamLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  if (first_batch < 0) throw std::out_of_range("StreamLoader::start_epoch: negative first_batch");
  State& s = *state_;
  s.stop_reader();
  uint64_t claimed = 0;
  {
    std::lock_guard lock(s.mutex);
    claimed = ++s.generation;
    s.epoch = epoch;
    s.next_yield = first_batch;
    s.raw.clear();
    s.done.clear();
    s.failure = nullptr;
    s.reading_done = false;
    s.skipped_in_epoch = s.pending_skipped = 0;
    s.started = true;
  }
  s.reader = std::thread([&s, claimed, epoch, first_batch, order = epoch_shards(epoch)] {
    s.read_epoch(claimed, epoch, first_batch, order);
  });
}

bool StreamLoader::next(Batch& batch) {
  State& s = *state_;
  const auto wait_start = std::chrono::steady_clock::now();
  std::unique_lock lock(s.mutex);
  if (!s.started) throw std::logic_error("StreamLoader::next called before start_epoch");
  while (true) {
    s.changed.wait(lock, [&] {
      return s.failure || s.done.count(s.next_yield) || (s.reading_done && s.next_yield >= s.batches_read) ||
             (s.options.workers == 0 && !s.raw.empty());
    });
    if (s.failure) std::rethrow_exception(s.failure);
    if (!s.done.count(s.next_yield)) {
      if (s.options.workers == 0 && !s.raw.empty()) {
        s.decode_next(lock);
        continue;
      }
      return false;
    }
    auto found = s.done.find(s.next_yield);
    Batch taken = std::move(found->second);
    s.done.erase(found);
    ++s.next_yield;
    s.changed.notify_all();
    s.skipped_in_epoch += taken.skipped;
    s.pending_skipped += taken.skipped;
    if (taken.indices.empty()) continue;
    batch = std::move(taken);
    batch.skipped = static_cast<int>(s.pending_skipped);
    s.pending_skipped = 0;
    batch.wait_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wait_start).count();
    return true;
  }
}

int64_t StreamLoader::skipped_in_epoch() const {
  std::lock_guard lock(state_->mutex);
  return state_->skipped_in_epoch;
}

}  // namespace clipgrad::clip
