// Fashion-MNIST from Debian's dataset-fashion-mnist (IDX files) as 28x28
// grayscale PNGs plus train.csv (image,caption,label: a random ImageNet
// template filled with a random name of the class), test.csv (image,label)
// and classes.json (class names + the 80 ImageNet templates), the dataset the
// demo trains on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace clipgrad::clip {

struct FashionMnistOptions {
  std::string out;
  std::string source = "/usr/share/datasets/fashion-mnist";
  int64_t train_limit = -1;  // -1: all
  int64_t test_limit = -1;
  uint64_t seed = 0;
};

// Writes the dataset into options.out; throws naming the missing file (and the
// package to install) when the IDX files are absent.
void prepare_fashion_mnist(const FashionMnistOptions& options);

// One split of the IDX files as they are: the first `limit` images (all when
// limit < 0), 28x28 grayscale, and their labels. Throws as prepare_fashion_mnist.
struct FashionMnistSplit {
  int64_t count = 0;
  std::vector<uint8_t> pixels;  // [count, 28, 28]
  std::vector<uint8_t> labels;  // [count], 0..9
};
FashionMnistSplit read_fashion_mnist(const std::string& source, bool train, int64_t limit = -1);

// The ten class names, as classes.json names them ("t-shirt" ... "ankle boot").
std::vector<std::string> fashion_mnist_class_names();

}  // namespace clipgrad::clip
