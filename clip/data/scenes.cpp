#include "clip/data/scenes.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "clip/data/dataset.h"
#include "clip/data/fashion_mnist.h"
#include "clip/data/scene_captions.h"
#include "clip/data/templates.h"
#include "io/atomic_file.h"
#include "io/csv.h"
#include "io/image.h"

namespace clipgrad::clip {

namespace fs = std::filesystem;

namespace {

constexpr int kItemSide = 28;
constexpr double kPi = 3.14159265358979323846;
constexpr int64_t kPretrainItems = 54000;  // training images [0, 54000) for pretraining, the rest for fine-tuning

enum class Split : uint64_t { kTrain = 1, kFinetune = 2, kTest = 3 };

struct Canvas {
  int side = 0;
  std::vector<float> rgb;  // [side, side, 3], 0..255
  float* at(int x, int y) { return rgb.data() + (static_cast<size_t>(y) * side + x) * 3; }
};

double smooth_step(double t) { return t * t * (3 - 2 * t); }

// The background's mix between its two colours at (x, y), in [0, 1], for one texture.
struct Texture {
  int kind = 0;  // scene_textures()
  double period = 8, cos_angle = 1, sin_angle = 0, wave = 0;
  double lattice[6][6] = {};  // mottled: values on a 5x5-cell grid

  double mix(double x, double y) const {
    enum { kPlain, kStriped, kCheckered, kDotted, kMottled, kWavy };  // scene_textures()'s order
    const double along = (x * cos_angle + y * sin_angle) / period;
    if (kind == kStriped || kind == kWavy) {
      const double shifted = along + (kind == kWavy ? wave * std::sin(y / period * 1.7) : 0);
      return std::clamp(std::sin(2 * kPi * shifted) * 2 + 0.5, 0.0, 1.0);
    }
    if (kind == kCheckered)
      return (static_cast<int>(std::floor(x / period)) + static_cast<int>(std::floor(y / period))) % 2 ? 1.0 : 0.0;
    if (kind == kDotted) {
      const double dx = std::fmod(x, period) - period / 2, dy = std::fmod(y, period) - period / 2;
      return std::sqrt(dx * dx + dy * dy) < period * 0.3 ? 1.0 : 0.0;
    }
    if (kind == kMottled) {
      const double u = x / period, v = y / period;
      const int i = std::min(static_cast<int>(u), 4), j = std::min(static_cast<int>(v), 4);
      const double fu = smooth_step(u - i), fv = smooth_step(v - j);
      return (1 - fv) * ((1 - fu) * lattice[j][i] + fu * lattice[j][i + 1]) +
             fv * ((1 - fu) * lattice[j + 1][i] + fu * lattice[j + 1][i + 1]);
    }
    return 0.0;  // plain
  }
};

void paint_background(Canvas& canvas, const SceneWords& words, Generator& generator) {
  Texture texture;
  texture.kind = words.texture;
  texture.period = 6 + generator.uniform() * 8;
  const double angle = static_cast<double>(generator.below(4)) * kPi / 4;
  texture.cos_angle = std::cos(angle);
  texture.sin_angle = std::sin(angle);
  texture.wave = 0.3 + generator.uniform() * 0.5;
  if (scene_textures()[words.texture] == std::string("mottled")) texture.period = canvas.side / 5.0;
  for (auto& row : texture.lattice)
    for (double& value : row) value = generator.uniform();
  const float* first = scene_colours()[words.background].rgb;
  const float* second = scene_colours()[words.background_second].rgb;
  for (int y = 0; y < canvas.side; ++y)
    for (int x = 0; x < canvas.side; ++x) {
      // The second colour at half contrast: the texture is there, the items stand out of it.
      const double mix = 0.5 * texture.mix(x + 0.5, y + 0.5);
      const double grain = generator.normal() * 4;
      for (int c = 0; c < 3; ++c)
        canvas.at(x, y)[c] = static_cast<float>((1 - mix) * first[c] + mix * second[c] + grain);
    }
}

// One Fashion-MNIST item (bright on black) as an alpha mask over the canvas, tinted by its colour.
struct Placement {
  double centre_x = 0, centre_y = 0, side = kItemSide, angle = 0;
};

void paint_item(Canvas& canvas, const uint8_t* item, const Placement& place, const float* colour) {
  const double scale = place.side / kItemSide, cos_a = std::cos(place.angle), sin_a = std::sin(place.angle);
  const int reach = static_cast<int>(std::ceil(place.side * 0.75));
  const auto sample = [item](double u, double v) {  // bilinear, 0 outside
    const int u0 = static_cast<int>(std::floor(u)), v0 = static_cast<int>(std::floor(v));
    double value = 0;
    for (int dv = 0; dv < 2; ++dv)
      for (int du = 0; du < 2; ++du) {
        const int uu = u0 + du, vv = v0 + dv;
        if (uu < 0 || vv < 0 || uu >= kItemSide || vv >= kItemSide) continue;
        value += (du ? u - u0 : 1 - (u - u0)) * (dv ? v - v0 : 1 - (v - v0)) * item[vv * kItemSide + uu];
      }
    return value / 255.0;
  };
  const int cx = static_cast<int>(place.centre_x), cy = static_cast<int>(place.centre_y);
  for (int y = std::max(0, cy - reach); y < std::min(canvas.side, cy + reach + 1); ++y)
    for (int x = std::max(0, cx - reach); x < std::min(canvas.side, cx + reach + 1); ++x) {
      const double dx = x + 0.5 - place.centre_x, dy = y + 0.5 - place.centre_y;
      const double u = (dx * cos_a + dy * sin_a) / scale + kItemSide / 2.0 - 0.5;
      const double v = (-dx * sin_a + dy * cos_a) / scale + kItemSide / 2.0 - 0.5;
      const double intensity = sample(u, v);
      const double alpha = std::min(1.0, intensity * 2);
      if (alpha <= 0) continue;
      float* pixel = canvas.at(x, y);
      for (int c = 0; c < 3; ++c)
        pixel[c] = static_cast<float>((1 - alpha) * pixel[c] + alpha * colour[c] * (0.35 + 0.65 * intensity));
    }
}

double luminance(const float* rgb) { return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]; }

struct Scene {
  Canvas canvas;
  SceneWords words;
  int label = 0;  // the largest item's class
};

// A scene of `items` (indices into the pool), everything else drawn from `generator`.
Scene render_scene(const SceneOptions& options, const FashionMnistSplit& pool, const std::vector<int64_t>& items,
                   Generator& generator) {
  Scene scene;
  const int colours = static_cast<int>(scene_colours().size());
  scene.words.texture = static_cast<int>(generator.below(scene_textures().size()));
  scene.words.background = static_cast<int>(generator.below(colours));
  scene.words.background_second =
      (scene.words.background + 1 + static_cast<int>(generator.below(colours - 1))) % colours;
  scene.canvas.side = options.canvas;
  scene.canvas.rgb.resize(static_cast<size_t>(options.canvas) * options.canvas * 3);
  paint_background(scene.canvas, scene.words, generator);
  double largest = 0;
  const float* first_colour = scene_colours()[scene.words.background].rgb;
  for (int64_t index : items) {
    Placement place;
    place.side = options.min_item + generator.uniform() * (options.max_item - options.min_item);
    place.angle = (generator.uniform() * 2 - 1) * options.max_rotation_degrees * kPi / 180;
    const double margin = place.side * 0.3;
    place.centre_x = margin + generator.uniform() * (options.canvas - 2 * margin);
    place.centre_y = margin + generator.uniform() * (options.canvas - 2 * margin);
    SceneItemWords item;
    item.label = pool.labels[index];
    do item.colour = static_cast<int>(generator.below(colours));  // a colour that stands out of the background
    while (item.colour == scene.words.background || item.colour == scene.words.background_second ||
           std::fabs(luminance(scene_colours()[item.colour].rgb) - luminance(first_colour)) < 50);
    const double span = options.max_item - options.min_item;
    item.size = place.side < options.min_item + span / 4 ? -1 : (place.side > options.max_item - span / 4 ? 1 : 0);
    const int column = std::min(2, static_cast<int>(place.centre_x * 3 / options.canvas));
    const int row = std::min(2, static_cast<int>(place.centre_y * 3 / options.canvas));
    item.region = row * 3 + column;
    paint_item(scene.canvas, pool.pixels.data() + index * kItemSide * kItemSide, place,
               scene_colours()[item.colour].rgb);
    if (place.side > largest) largest = place.side, scene.label = item.label;
    scene.words.items.push_back(item);
  }
  return scene;
}

void write_scene_png(const Scene& scene, const std::string& path) {
  std::vector<uint8_t> bytes(scene.canvas.rgb.size());
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<uint8_t>(std::clamp(std::lround(scene.canvas.rgb[i]), 0L, 255L));
  io::write_png(path, scene.canvas.side, scene.canvas.side, 3, bytes.data());
}

std::string scene_name(Split split, int64_t index) {
  char name[48];
  std::snprintf(name, sizeof name, "images/%s/%06lld.png",
                split == Split::kTrain ? "train" : (split == Split::kFinetune ? "finetune" : "test"),
                static_cast<long long>(index));
  return name;
}

// Writes `count` scenes of one split and returns their CSV rows (image, caption, label; test: image, label).
std::vector<std::vector<std::string>> write_split(const SceneOptions& options, Split split, int64_t count,
                                                  const FashionMnistSplit& pool, int64_t pool_begin, int64_t pool_end,
                                                  const std::vector<SceneClassWords>& words) {
  std::vector<std::vector<std::string>> rows(static_cast<size_t>(count));
  std::exception_ptr failure;
  std::mutex failure_mutex;
#pragma omp parallel for schedule(dynamic, 64)
  for (int64_t i = 0; i < count; ++i) {
    try {
      Generator generator(mix_seed(mix_seed(mix_seed(options.seed) ^ static_cast<uint64_t>(split)) ^ i));
      std::vector<int64_t> items;
      if (split == Split::kTest) {
        items.push_back(i);
      } else {
        const double draw = generator.uniform();
        const int item_count = draw < 0.55 ? 1 : (draw < 0.9 ? 2 : 3);
        for (int k = 0; k < item_count; ++k)
          items.push_back(pool_begin + static_cast<int64_t>(generator.below(pool_end - pool_begin)));
      }
      const Scene scene = render_scene(options, pool, items, generator);
      const std::string name = scene_name(split, i);
      write_scene_png(scene, (fs::path(options.out) / name).string());
      if (split == Split::kTest)
        rows[i] = {name, std::to_string(scene.label)};
      else
        rows[i] = {name, compose_scene_caption(scene.words, words, generator, options.mention),
                   std::to_string(scene.label)};
    } catch (...) {
      std::lock_guard lock(failure_mutex);
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  return rows;
}

void check_options(const SceneOptions& options) {
  if (options.canvas < 32 || options.canvas > 512)
    throw std::invalid_argument("scenes: canvas " + std::to_string(options.canvas) + " px is outside 32..512");
  if (options.min_item < 8 || options.max_item < options.min_item || options.max_item > options.canvas)
    throw std::invalid_argument("scenes: item sides " + std::to_string(options.min_item) + ".." +
                                std::to_string(options.max_item) + " px must lie in 8..canvas");
  if (!(options.mention >= 0 && options.mention <= 1))
    throw std::invalid_argument("scenes: mention " + std::to_string(options.mention) + " must lie in [0, 1]");
  if (options.train < 1 || options.finetune < 0 || options.test < 1 || options.test > 10000)
    throw std::invalid_argument("scenes: need train >= 1, finetune >= 0 and 1 <= test <= 10000 scenes");
}

}  // namespace

nlohmann::json SceneOptions::to_json() const {
  return {{"canvas", canvas},
          {"train", train},
          {"finetune", finetune},
          {"test", test},
          {"min_item", min_item},
          {"max_item", max_item},
          {"max_rotation_degrees", max_rotation_degrees},
          {"mention", mention},
          {"seed", seed}};
}

void prepare_scenes(const SceneOptions& requested) {
  const auto start = std::chrono::steady_clock::now();
  check_options(requested);
  const std::vector<SceneClassWords> words = scene_class_words(requested.wordnet);
  const FashionMnistSplit train_items = read_fashion_mnist(requested.fashion_mnist, true);
  const FashionMnistSplit test_items = read_fashion_mnist(requested.fashion_mnist, false, requested.test);
  // Made whole beside --out, then put in its place: a failure leaves an earlier testbed as it was.
  io::StagedFolder staged(requested.out,
                          {"images", "train.csv", "finetune.csv", "test.csv", "classes.json", "scenes.json"});
  SceneOptions options = requested;
  options.out = staged.path();
  const fs::path out(options.out);
  for (const char* split : {"train", "finetune", "test"}) fs::create_directories(out / "images" / split);
  const std::vector<std::string> labelled = {"image", "caption", "label"};
  io::write_csv((out / "train.csv").string(), labelled,
                write_split(options, Split::kTrain, options.train, train_items, 0, kPretrainItems, words));
  io::write_csv(
      (out / "finetune.csv").string(), labelled,
      write_split(options, Split::kFinetune, options.finetune, train_items, kPretrainItems, train_items.count, words));
  io::write_csv((out / "test.csv").string(), {"image", "label"},
                write_split(options, Split::kTest, options.test, test_items, 0, test_items.count, words));
  ClassNames class_names;
  class_names.classes = fashion_mnist_class_names();
  class_names.templates = imagenet_templates();
  class_names.save_json((out / "classes.json").string());
  io::write_file_atomic((out / "scenes.json").string(), requested.to_json().dump(2) + "\n");
  staged.commit();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("scenes: wrote %lld train, %lld finetune and %lld test scenes of %d px to %s in %.1f s\n",
              static_cast<long long>(options.train), static_cast<long long>(options.finetune),
              static_cast<long long>(options.test), options.canvas, requested.out.c_str(), seconds);
}

}  // namespace clipgrad::clip
