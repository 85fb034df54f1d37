#include "clip/data/loader.h"

#include "io/decode.h"

#include <chrono>
#include <condition_variable>
#include <exception>
#include <iostream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace clipgrad::clip {

std::vector<LoaderItem> loader_items(const ImageCaptionDataset& dataset) {
  std::vector<LoaderItem> items;
  items.reserve(dataset.size());
  for (size_t row = 0; row < dataset.size(); ++row)
    items.push_back({dataset[row].image_path, static_cast<int64_t>(row), dataset.where(row)});
  return items;
}

std::vector<LoaderItem> loader_items(const LabelledDataset& dataset) {
  std::vector<LoaderItem> items;
  items.reserve(dataset.size());
  for (size_t row = 0; row < dataset.size(); ++row)
    items.push_back({dataset[row].image_path, static_cast<int64_t>(row), dataset.where(row)});
  return items;
}

std::vector<LoaderItem> loader_items(const std::vector<std::string>& image_paths) {
  std::vector<LoaderItem> items;
  items.reserve(image_paths.size());
  for (size_t i = 0; i < image_paths.size(); ++i) items.push_back({image_paths[i], static_cast<int64_t>(i), ""});
  return items;
}

Tensor batch_pixels(Allocator* batch_memory, int64_t rows, int64_t size) {
  const Shape shape{rows, 3, size, size};
  return batch_memory ? Tensor::empty_in(*batch_memory, shape) : Tensor::empty(shape);
}

void warn_skipped(const std::string& where, const std::string& reason) {
  static std::mutex stderr_mutex;
  std::lock_guard lock(stderr_mutex);
  std::cerr << "clipgrad: warning: skipping " << (where.empty() ? "image" : where) << ": " << reason << "\n";
}

namespace {

std::string where_prefix(const std::string& where) { return where.empty() ? "" : where + ": "; }

// A bad image: fatal in strict mode, else skipped with a warning and counted.
void bad_image(const SampleRef& sample, const ViewPlan& plan, const std::exception& error, Batch& batch) {
  if (plan.strict)
    throw std::runtime_error(where_prefix(sample.where) + error.what() + " (strict loading; fix or remove the sample)");
  warn_skipped(sample.where, error.what());
  ++batch.skipped;
}

}  // namespace

bool load_views(const std::function<io::Image()>& decode, const SampleRef& sample, const ViewPlan& plan,
                std::vector<Tensor>& pixels, int64_t slot, Batch& batch) {
  const int64_t sample_numel = 3 * static_cast<int64_t>(plan.image_size) * plan.image_size;
  io::Image image;
  try {
    image = decode();
  } catch (const std::exception& error) {
    bad_image(sample, plan, error, batch);
    return false;
  }
  for (size_t v = 0; v < plan.transforms.size(); ++v) {
    float* out = pixels[v].data<float>() + slot * sample_numel;
    const ImageTransform& transform = plan.transforms[v];
    io::Image view;
    if (transform) {
      view = image;
      Generator generator(view_seed(plan.seed, sample.epoch, sample.index, static_cast<int64_t>(v)));
      try {
        transform(view, sample.index, generator);
      } catch (const std::exception& error) {  // the transform's failure, not the image's
        throw std::runtime_error(where_prefix(sample.where) + sample.image + ": " + error.what());
      }
    }
    try {
      io::preprocess(transform ? view : image, plan.image_size, kClipNormalization, out);
    } catch (const std::exception& error) {
      bad_image(sample, plan, error, batch);
      return false;
    }
  }
  return true;
}

int max_loader_workers() {
  const unsigned cores = std::thread::hardware_concurrency();
  return 4 * static_cast<int>(cores == 0 ? 1 : cores) + 4;
}

uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index) {
  return mix_seed(mix_seed(mix_seed(seed) ^ static_cast<uint64_t>(epoch)) ^ static_cast<uint64_t>(index));
}

uint64_t view_seed(uint64_t seed, int64_t epoch, int64_t index, int64_t view) {
  uint64_t base = sample_seed(seed, epoch, index);
  return view == 0 ? base : mix_seed(base ^ mix_seed(static_cast<uint64_t>(view)));
}

struct Loader::State {
  std::vector<LoaderItem> items;
  LoaderOptions options;
  std::vector<ImageTransform> views;  // [V]; null: the image as decoded

  // A finished batch, or the error that stopped it.
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };

  std::mutex mutex;
  std::condition_variable work_ready;   // workers: a batch may be claimed, or stop
  std::condition_variable batch_ready;  // consumer: a slot was filled
  bool stopping = false;
  bool started = false;
  uint64_t generation = 0;  // bumped by start_epoch; results of older generations are dropped
  int64_t epoch = 0;
  std::shared_ptr<const std::vector<int64_t>> order;  // [items] item of each epoch position
  int64_t next_claim = 0;                             // next batch number a worker will build
  int64_t next_yield = 0;                             // next batch number next() returns
  std::map<int64_t, Slot> done;
  std::exception_ptr failure;  // a strict-mode or transform error, rethrown until restart
  int64_t pending_skipped = 0;
  int64_t skipped_in_epoch = 0;
  std::vector<std::thread> workers;

  int64_t batches_per_epoch() const {
    int64_t n = static_cast<int64_t>(items.size());
    return options.drop_last ? n / options.batch_size : (n + options.batch_size - 1) / options.batch_size;
  }

  // Decodes, transforms and preprocesses batch `number`; reads only immutable state.
  Batch build_batch(const std::vector<int64_t>& epoch_order, int64_t batch_epoch, int64_t number) const {
    const int64_t size = options.image_size;
    const int64_t slice_size = options.batch_size / options.slices;
    const int64_t begin = number * options.batch_size + options.slice * slice_size;
    const int64_t end = std::min<int64_t>(begin + slice_size, static_cast<int64_t>(epoch_order.size()));
    Batch batch;
    batch.number = number;
    std::vector<Tensor> pixels;  // [V] f32 [B, 3, S, S]
    for (size_t v = 0; v < views.size(); ++v) pixels.push_back(batch_pixels(options.batch_memory, end - begin, size));
    const ViewPlan plan{views, options.image_size, options.seed, options.strict};
    for (int64_t position = begin; position < end; ++position) {
      const LoaderItem& item = items[epoch_order[position]];
      const io::DecodeOptions decoding{
          .shorter_side = options.image_size, .exact = options.exact_resize, .limits = options.image_limits};
      const SampleRef sample{item.origin, "'" + item.image_path + "'", batch_epoch, item.index};
      if (load_views([&] { return io::decode_image(item.image_path, decoding); }, sample, plan, pixels,
                     static_cast<int64_t>(batch.indices.size()), batch))
        batch.indices.push_back(item.index);
    }
    if (!batch.indices.empty()) {
      for (Tensor& view : pixels) batch.views.push_back(view.rows(0, static_cast<int64_t>(batch.indices.size())));
      batch.pixels = batch.views[0];
    }
    return batch;
  }

  void worker_loop() {
    std::unique_lock lock(mutex);
    while (true) {
      work_ready.wait(lock, [&] {
        return stopping || (started && next_claim < batches_per_epoch() && next_claim < next_yield + options.prefetch);
      });
      if (stopping) return;
      const int64_t number = next_claim++;
      const uint64_t claimed_generation = generation;
      const int64_t claimed_epoch = epoch;
      std::shared_ptr<const std::vector<int64_t>> claimed_order = order;
      lock.unlock();
      Slot slot;
      try {
        slot.batch = build_batch(*claimed_order, claimed_epoch, number);
      } catch (...) {
        slot.error = std::current_exception();
      }
      lock.lock();
      if (claimed_generation == generation) {
        done.emplace(number, std::move(slot));
        batch_ready.notify_all();
      }
    }
  }

  // Takes batch `next_yield`, built on this thread when there are no workers.
  Slot take_next(std::unique_lock<std::mutex>& lock) {
    if (options.workers == 0) {
      Slot slot;
      try {
        slot.batch = build_batch(*order, epoch, next_yield);
      } catch (...) {
        slot.error = std::current_exception();
      }
      return slot;
    }
    batch_ready.wait(lock, [&] { return done.count(next_yield) > 0; });
    auto found = done.find(next_yield);
    Slot slot = std::move(found->second);
    done.erase(found);
    return slot;
  }
};

Loader::Loader(std::vector<LoaderItem> items, LoaderOptions options, ImageTransform transform)
    : Loader(std::move(items), options, std::vector<ImageTransform>{std::move(transform)}) {}

Loader::Loader(std::vector<LoaderItem> items, LoaderOptions options, std::vector<ImageTransform> views)
    : state_(std::make_unique<State>()) {
  if (views.empty()) throw std::invalid_argument("Loader: needs at least one view");
  if (options.batch_size <= 0 || options.image_size <= 0 || options.workers < 0 || options.prefetch <= 0)
    throw std::invalid_argument("Loader: batch_size (" + std::to_string(options.batch_size) + "), image_size (" +
                                std::to_string(options.image_size) + ") and prefetch (" +
                                std::to_string(options.prefetch) + ") must be positive and workers (" +
                                std::to_string(options.workers) + ") non-negative");
  if (options.slices < 1 || options.slice < 0 || options.slice >= options.slices ||
      (options.slices > 1 && (!options.drop_last || options.batch_size % options.slices != 0)))
    throw std::invalid_argument("Loader: slice " + std::to_string(options.slice) + " of " +
                                std::to_string(options.slices) +
                                " needs 0 <= slice < slices, drop_last, and a batch_size (" +
                                std::to_string(options.batch_size) + ") that the slices divide");
  if (options.workers > max_loader_workers())
    throw std::invalid_argument("Loader: " + std::to_string(options.workers) + " workers; at most " +
                                std::to_string(max_loader_workers()) + " (4 per core, plus 4) on this machine");
  state_->items = std::move(items);
  state_->options = options;
  state_->views = std::move(views);
  // A thread that cannot start (the process's limit, memory) is an error, not
  // std::terminate: the ones already started are stopped and joined first.
  try {
    for (int w = 0; w < options.workers; ++w) state_->workers.emplace_back([this] { state_->worker_loop(); });
  } catch (const std::system_error& error) {
    const size_t started = state_->workers.size();
    stop_workers();
    throw std::runtime_error("cannot start " + std::to_string(options.workers) + " image decoding threads (" +
                             std::to_string(started) + " started): " + error.what() + "; lower --workers");
  }
}

void Loader::stop_workers() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->work_ready.notify_all();
  for (auto& worker : state_->workers) worker.join();
  state_->workers.clear();
}

Loader::~Loader() { stop_workers(); }

void Loader::start_epoch(int64_t epoch, int64_t first_batch) {
  State& s = *state_;
  if (first_batch < 0 || first_batch > s.batches_per_epoch())
    throw std::out_of_range("Loader::start_epoch: first_batch " + std::to_string(first_batch) + " outside [0, " +
                            std::to_string(s.batches_per_epoch()) + "]");
  auto order = std::make_shared<std::vector<int64_t>>(s.items.size());
  for (size_t i = 0; i < order->size(); ++i) (*order)[i] = static_cast<int64_t>(i);
  if (s.options.shuffle && order->size() > 1) {
    Generator generator(s.options.seed + static_cast<uint64_t>(epoch));
    for (size_t i = order->size() - 1; i > 0; --i) std::swap((*order)[i], (*order)[generator.below(i + 1)]);
  }
  {
    std::lock_guard lock(s.mutex);
    ++s.generation;
    s.epoch = epoch;
    s.order = std::move(order);
    s.next_claim = s.next_yield = first_batch;
    s.done.clear();
    s.failure = nullptr;
    s.pending_skipped = 0;
    s.skipped_in_epoch = 0;
    s.started = true;
  }
  s.work_ready.notify_all();
}

bool Loader::next(Batch& batch) {
  State& s = *state_;
  const auto wait_start = std::chrono::steady_clock::now();
  std::unique_lock lock(s.mutex);
  if (!s.started) throw std::logic_error("Loader::next called before start_epoch");
  while (true) {
    if (s.failure) std::rethrow_exception(s.failure);
    if (s.next_yield >= s.batches_per_epoch()) return false;
    State::Slot slot = s.take_next(lock);
    if (slot.error) {
      s.failure = slot.error;
      std::rethrow_exception(slot.error);
    }
    ++s.next_yield;
    s.work_ready.notify_all();
    s.skipped_in_epoch += slot.batch.skipped;
    s.pending_skipped += slot.batch.skipped;
    if (slot.batch.indices.empty()) continue;
    batch = std::move(slot.batch);
    batch.skipped = static_cast<int>(s.pending_skipped);
    batch.wait_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wait_start).count();
    s.pending_skipped = 0;
    return true;
  }
}

int64_t Loader::size() const { return static_cast<int64_t>(state_->items.size()); }
int64_t Loader::batches_per_epoch() const { return state_->batches_per_epoch(); }
const LoaderOptions& Loader::options() const { return state_->options; }

int64_t Loader::skipped_in_epoch() const {
  std::lock_guard lock(state_->mutex);
  return state_->skipped_in_epoch;
}

}  // namespace clipgrad::clip
