// clipgrad bench --data SHARDS: how fast images become CLIP's input tensors.
//
// The shards' encoded images are read into memory first, so the timed passes
// measure decoding and preprocessing alone: K threads each take every K-th
// image; decode-only stops at the RGB image, full goes on to CLIP's resize,
// centre crop and normalisation into a [3, S, S] float tensor. Each pass runs
// with DCT-domain scaling (the default) and without (--exact-resize's path).
// Then the StreamLoader itself (tar reading, shuffle, batches) runs one epoch.
// Rates are given per wall second and per CPU second (user + system time of
// the whole process), the latter being images per second per core even on a
// machine shared with other work. --compare N measures what the scaling
// changes in the first N images' 8-bit 224 px crops.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>
#include <type_traits>

#include "cli/bench/bench_command.h"
#include "clip/data/stream_loader.h"
#include "io/atomic_file.h"
#include "io/decode.h"

namespace clipgrad::cli {

namespace {

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + 1e-6 * (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

struct Rate {
  double per_second = 0, per_cpu_second = 0;
};

// count images in work(), or in as many as it returns when count is negative.
template <class Work>
Rate timed(int64_t count, Work&& work) {
  const double cpu_start = cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  if constexpr (std::is_same_v<decltype(work()), int64_t>)
    count = work();
  else
    work();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {count / wall, count / std::max(cpu_seconds() - cpu_start, 1e-9)};
}

// The images' pass on `workers` threads; full: preprocessing too.
Rate decode_pass(const std::vector<clip::ShardSample>& samples, const DataBenchOptions& options, bool exact,
                 bool full) {
  return timed(static_cast<int64_t>(samples.size()), [&] {
    std::vector<std::thread> threads;
    for (int t = 0; t < options.workers; ++t)
      threads.emplace_back([&, t] {
        std::vector<float> pixels(3 * static_cast<size_t>(options.image_size) * options.image_size);
        for (size_t i = t; i < samples.size(); i += options.workers) {
          const auto& sample = samples[i];
          io::Image image =
              io::decode_image_bytes(reinterpret_cast<const uint8_t*>(sample.image.data()), sample.image.size(),
                                     sample.where, {.shorter_side = options.image_size, .exact = exact});
          if (full) io::preprocess(image, options.image_size, clip::kClipNormalization, pixels.data());
        }
      });
    for (auto& thread : threads) thread.join();
  });
}

// What the scaling changes: over the first `count` images that are decoded at a
// smaller scale, the 8-bit centre crops' absolute differences from the exact path.
struct Comparison {
  int64_t compared = 0, scaled = 0;
  double mean = 0;
  int p99 = 0, max = 0;
};

Comparison compare_paths(const std::vector<clip::ShardSample>& samples, int64_t count, int size) {
  auto crop = [size](const io::Image& image) {
    io::Image resized = io::resize_shorter_side(image, size);
    return io::crop(resized, static_cast<int>(std::nearbyint((resized.width - size) / 2.0)),
                    static_cast<int>(std::nearbyint((resized.height - size) / 2.0)), size, size);
  };
  std::vector<int64_t> histogram(256, 0);
  Comparison result;
  for (int64_t i = 0; i < std::min<int64_t>(count, samples.size()); ++i, ++result.compared) {
    const auto* data = reinterpret_cast<const uint8_t*>(samples[i].image.data());
    const size_t bytes = samples[i].image.size();
    const io::Image full = io::decode_image_bytes(data, bytes, "", {.shorter_side = size, .exact = true});
    const io::Image drafted = io::decode_image_bytes(data, bytes, "", {.shorter_side = size});
    if (drafted.width == full.width) continue;  // not scaled: the same pixels
    ++result.scaled;
    const io::Image exact = crop(full), scaled = crop(drafted);
    for (size_t v = 0; v < exact.rgb.size(); ++v) ++histogram[std::abs(exact.rgb[v] - scaled.rgb[v])];
  }
  int64_t values = 0, total = 0;
  for (int d = 0; d < 256; ++d) values += histogram[d], total += d * histogram[d];
  result.p99 = -1;
  for (int64_t d = 0, below = 0; d < 256; ++d) {
    if (histogram[d] > 0) result.max = static_cast<int>(d);
    below += histogram[d];
    if (result.p99 < 0 && below >= 0.99 * values) result.p99 = static_cast<int>(d);
  }
  result.mean = values ? double(total) / values : 0;
  return result;
}

}  // namespace

void run_data_bench(const DataBenchOptions& options) {
  if (options.workers < 1 || options.image_size < 1) throw std::invalid_argument("bench --data: needs --workers >= 1");
  const std::vector<std::string> shards = clip::expand_shard_spec(options.data);
  std::vector<clip::ShardSample> samples;
  for (size_t s = 0; s < shards.size() && (options.images == 0 || int64_t(samples.size()) < options.images); ++s)
    clip::read_shard(shards[s], static_cast<int64_t>(s), {.need_caption = false}, [&](clip::ShardSample&& sample) {
      if (options.images == 0 || int64_t(samples.size()) < options.images) samples.push_back(std::move(sample));
    });
  if (samples.empty()) throw std::runtime_error("bench --data: no image in '" + options.data + "'");
  nlohmann::json result = {
      {"images", samples.size()}, {"workers", options.workers}, {"image_size", options.image_size}};
  std::printf("bench --data: %zu images, %d worker thread(s), %d px\n", samples.size(), options.workers,
              options.image_size);
  for (const bool exact : {false, true})
    for (const bool full : {false, true}) {
      const Rate rate = decode_pass(samples, options, exact, full);
      const std::string name = std::string(full ? "full" : "decode") + (exact ? "_exact" : "_scaled");
      std::printf("  %-13s %8.1f images/s  %8.1f images per CPU-second\n", name.c_str(), rate.per_second,
                  rate.per_cpu_second);
      result[name] = {{"images_per_s", rate.per_second}, {"images_per_cpu_s", rate.per_cpu_second}};
    }
  clip::StreamLoader loader(shards, {.batch_size = 256,
                                     .image_size = options.image_size,
                                     .workers = options.workers,
                                     .shuffle_buffer = 1000,
                                     .drop_last = false,
                                     .read = {.need_caption = false}});
  const Rate rate = timed(0, [&]() -> int64_t {
    int64_t loaded = 0;
    loader.start_epoch(0);
    for (clip::Batch batch; loader.next(batch) && (options.images == 0 || loaded < options.images);)
      loaded += static_cast<int64_t>(batch.indices.size());
    return loaded;
  });
  std::printf("  %-13s %8.1f images/s  %8.1f images per CPU-second (StreamLoader: tar, shuffle, batches of 256)\n",
              "loader", rate.per_second, rate.per_cpu_second);
  result["loader"] = {{"images_per_s", rate.per_second}, {"images_per_cpu_s", rate.per_cpu_second}};
  if (options.compare > 0) {
    const Comparison c = compare_paths(samples, options.compare, options.image_size);
    std::printf(
        "  scaled vs exact decode: %lld of %lld images scaled; their %d px crops differ by %.3f levels on "
        "average, 99%% of values by %d or less, at most %d\n",
        static_cast<long long>(c.scaled), static_cast<long long>(c.compared), options.image_size, c.mean, c.p99, c.max);
    result["compare"] = {{"images", c.compared},
                         {"scaled", c.scaled},
                         {"mean_abs_levels", c.mean},
                         {"p99_abs_levels", c.p99},
                         {"max_abs_levels", c.max}};
  }
  if (!options.json.empty()) io::write_file_atomic(options.json, result.dump(2) + "\n");
}

}  // namespace clipgrad::cli
