// Fashion-MNIST from Debian's dataset-fashion-mnist (IDX files) as 28x28
// grayscale PNGs plus train.csv (image,caption,label: a random ImageNet
// template filled with a random name of the class), test.csv (image,label)
// and classes.json (class names + the 80 ImageNet templates), the dataset the
// demo trains on.
#pragma once

#include <cstdint>
#include <string>

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

}  // namespace clipgrad::clip
