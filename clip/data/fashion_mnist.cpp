// Fashion-MNIST (Debian's dataset-fashion-mnist) as the image folders and
// CSVs the training and evaluation commands read.
#include "clip/data/fashion_mnist.h"

#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "clip/data/dataset.h"
#include "clip/data/templates.h"
#include "io/csv.h"
#include "io/atomic_file.h"
#include "io/image.h"
#include "tensor/random.h"

namespace clipgrad::clip {

namespace fs = std::filesystem;

namespace {

// The class names used in captions and for zero-shot prompts (lowercase,
// natural), with synonyms so captions are not one fixed word per class. Each
// zero-shot name is one of its caption names: a word never seen in training
// has an untrained embedding (measured: "trouser" against captions saying
// "trousers" scored 0.2% zero-shot on its class).
struct FashionClass {
  const char* name;
  std::vector<const char*> caption_names;
};

const std::vector<FashionClass>& fashion_classes() {
  static const std::vector<FashionClass> classes = {
      {"t-shirt", {"t-shirt", "top", "tee"}},
      {"trousers", {"trousers", "pants"}},
      {"pullover", {"pullover", "sweater", "jumper"}},
      {"dress", {"dress"}},
      {"coat", {"coat", "jacket"}},
      {"sandal", {"sandal"}},
      {"shirt", {"shirt", "button-up shirt"}},
      {"sneaker", {"sneaker", "running shoe", "trainer"}},
      {"bag", {"bag", "handbag"}},
      {"ankle boot", {"ankle boot", "boot"}},
  };
  return classes;
}

struct IdxImages {
  int64_t available = 0;  // images in the file
  int64_t count = 0;      // images read
  int rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // [count, rows, cols]
};

class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path), file_(gzopen(path.c_str(), "rb")) {
    if (!file_) throw std::runtime_error("cannot open '" + path + "'");
  }
  ~GzFile() { gzclose(file_); }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  void read(void* buffer, size_t bytes, const char* what) {
    auto* out = static_cast<uint8_t*>(buffer);
    while (bytes > 0) {
      unsigned chunk = static_cast<unsigned>(std::min<size_t>(bytes, 1u << 30));
      int got = gzread(file_, out, chunk);
      if (got <= 0) {
        int code = 0;
        const char* message = gzerror(file_, &code);
        throw std::runtime_error("'" + path_ + "' is truncated or corrupt while reading " + what +
                                 (code != Z_OK ? std::string(" (") + message + ")" : std::string()) +
                                 "; re-install it with `apt-get install --reinstall dataset-fashion-mnist`");
      }
      out += got;
      bytes -= static_cast<size_t>(got);
    }
  }
  uint32_t read_u32(const char* what) {
    uint8_t bytes[4];
    read(bytes, 4, what);
    return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) | bytes[3];
  }
  void expect_end() {
    uint8_t extra;
    if (gzread(file_, &extra, 1) != 0)
      throw std::runtime_error("'" + path_ + "' has data after the last item; it is not a valid IDX file");
  }

 private:
  std::string path_;
  gzFile file_;
};

void check_magic(uint32_t magic, uint32_t expected, const std::string& path) {
  if (magic != expected) {
    char message[160];
    std::snprintf(message, sizeof message, "'%s' is not an IDX %s file: magic number 0x%08x, expected 0x%08x",
                  path.c_str(), expected == 0x803 ? "image" : "label", magic, expected);
    throw std::runtime_error(message);
  }
}

// Reads the first `limit` images (all when limit < 0); a full read also checks
// that nothing follows the last image.
IdxImages read_idx_images(const std::string& path, int64_t limit) {
  GzFile file(path);
  check_magic(file.read_u32("the header"), 0x00000803, path);
  IdxImages images;
  images.available = images.count = file.read_u32("the header");
  images.rows = static_cast<int>(file.read_u32("the header"));
  images.cols = static_cast<int>(file.read_u32("the header"));
  if (images.rows != 28 || images.cols != 28 || images.count == 0 || images.count > 1'000'000)
    throw std::runtime_error("'" + path + "' holds " + std::to_string(images.available) + " images of " +
                             std::to_string(images.rows) + "x" + std::to_string(images.cols) +
                             "; Fashion-MNIST images are 28x28");
  if (limit >= 0 && limit < images.count) images.count = limit;
  images.pixels.resize(static_cast<size_t>(images.count) * images.rows * images.cols);
  file.read(images.pixels.data(), images.pixels.size(), "the pixels");
  if (images.count == images.available) file.expect_end();
  return images;
}

std::vector<uint8_t> read_idx_labels(const std::string& path, int64_t image_count) {
  GzFile file(path);
  check_magic(file.read_u32("the header"), 0x00000801, path);
  int64_t count = file.read_u32("the header");
  if (count != image_count)
    throw std::runtime_error("'" + path + "' holds " + std::to_string(count) + " labels but its image file holds " +
                             std::to_string(image_count) + " images");
  std::vector<uint8_t> labels(static_cast<size_t>(count));
  file.read(labels.data(), labels.size(), "the labels");
  file.expect_end();
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= fashion_classes().size())
      throw std::runtime_error("'" + path + "': label " + std::to_string(labels[i]) + " of item " + std::to_string(i) +
                               " is not a Fashion-MNIST class (0..9)");
  return labels;
}

std::string image_name(int64_t index) {
  char name[32];
  std::snprintf(name, sizeof name, "%05lld.png", static_cast<long long>(index));
  return name;
}

// Writes the images as PNGs under out_dir/images/split/, in parallel.
void write_pngs(const IdxImages& images, const fs::path& out_dir, const std::string& split) {
  const int64_t count = images.count;
  fs::create_directories(out_dir / "images" / split);
  const size_t image_bytes = static_cast<size_t>(images.rows) * images.cols;
  std::exception_ptr failure;
  std::mutex failure_mutex;
#pragma omp parallel for schedule(dynamic, 256) if (count > 256)
  for (int64_t i = 0; i < count; ++i) {
    try {
      std::string path = (out_dir / "images" / split / image_name(i)).string();
      io::write_png(path, images.cols, images.rows, 1, images.pixels.data() + i * image_bytes);
    } catch (...) {
      std::lock_guard lock(failure_mutex);
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

std::string source_file(const std::string& source, const char* name) {
  if (!fs::is_directory(source))
    throw std::runtime_error("Fashion-MNIST not found in " + source +
                             ": install it with `apt-get install dataset-fashion-mnist`");
  fs::path path = fs::path(source) / name;
  if (!fs::is_regular_file(path))
    throw std::runtime_error("Fashion-MNIST file " + path.string() +
                             " is missing: install it with `apt-get install dataset-fashion-mnist`");
  return path.string();
}

}  // namespace

FashionMnistSplit read_fashion_mnist(const std::string& source, bool train, int64_t limit) {
  IdxImages images =
      read_idx_images(source_file(source, train ? "train-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte.gz"), limit);
  std::vector<uint8_t> labels = read_idx_labels(
      source_file(source, train ? "train-labels-idx1-ubyte.gz" : "t10k-labels-idx1-ubyte.gz"), images.available);
  labels.resize(static_cast<size_t>(images.count));
  return {images.count, std::move(images.pixels), std::move(labels)};
}

std::vector<std::string> fashion_mnist_class_names() {
  std::vector<std::string> names;
  for (const auto& fashion_class : fashion_classes()) names.emplace_back(fashion_class.name);
  return names;
}

void prepare_fashion_mnist(const FashionMnistOptions& options) {
  auto start = std::chrono::steady_clock::now();
  IdxImages train = read_idx_images(source_file(options.source, "train-images-idx3-ubyte.gz"), options.train_limit);
  std::vector<uint8_t> train_labels =
      read_idx_labels(source_file(options.source, "train-labels-idx1-ubyte.gz"), train.available);
  IdxImages test = read_idx_images(source_file(options.source, "t10k-images-idx3-ubyte.gz"), options.test_limit);
  std::vector<uint8_t> test_labels =
      read_idx_labels(source_file(options.source, "t10k-labels-idx1-ubyte.gz"), test.available);
  const int64_t train_count = train.count;
  const int64_t test_count = test.count;

  // Made whole beside --out, then put in its place: a failure leaves an earlier import as it was.
  io::StagedFolder staged(options.out, {"images", "train.csv", "test.csv", "classes.json"});
  const fs::path out(staged.path());
  write_pngs(train, out, "train");
  write_pngs(test, out, "test");

  // Captions: a random ImageNet template filled with a random name of the class.
  const auto& templates = imagenet_templates();
  Generator generator(options.seed);
  std::vector<std::vector<std::string>> train_rows;
  train_rows.reserve(train_count);
  for (int64_t i = 0; i < train_count; ++i) {
    const FashionClass& fashion_class = fashion_classes()[train_labels[i]];
    const std::string& prompt_template = templates[generator.below(templates.size())];
    const char* name = fashion_class.caption_names[generator.below(fashion_class.caption_names.size())];
    train_rows.push_back(
        {"images/train/" + image_name(i), fill_template(prompt_template, name), std::to_string(train_labels[i])});
  }
  // The label column is extra for training; it makes train.csv a labelled set
  // too (linear probes, supervised fine-tuning).
  io::write_csv((out / "train.csv").string(), {"image", "caption", "label"}, train_rows);

  std::vector<std::vector<std::string>> test_rows;
  test_rows.reserve(test_count);
  for (int64_t i = 0; i < test_count; ++i)
    test_rows.push_back({"images/test/" + image_name(i), std::to_string(test_labels[i])});
  io::write_csv((out / "test.csv").string(), {"image", "label"}, test_rows);

  ClassNames class_names;
  for (const auto& fashion_class : fashion_classes()) class_names.classes.emplace_back(fashion_class.name);
  class_names.templates = templates;
  class_names.save_json((out / "classes.json").string());
  staged.commit();

  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "fashion-mnist: wrote %lld train + %lld test images, train.csv, test.csv and classes.json to %s "
      "in %.1f s\n",
      static_cast<long long>(train_count), static_cast<long long>(test_count), options.out.c_str(), seconds);
}

}  // namespace clipgrad::clip
