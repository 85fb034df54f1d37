// Shards for the tests of clip/data: small JPEGs, captions and labels in
// webdataset tar files.
#pragma once

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "io/jpeg.h"
#include "io/tar.h"
#include "test_temp_dir.h"

namespace clipgrad::clip {

inline std::string jpeg_of(int seed, int width = 40, int height = 30) {
  io::Image image(width, height);
  for (size_t p = 0; p < image.rgb.size(); ++p) image.rgb[p] = static_cast<uint8_t>((seed * 37 + p * 5) % 251);
  return io::encode_jpeg(image, 90);
}

// Shards of `per_shard` samples each: key s*100+i, a jpg, a txt caption and a cls label.
inline std::vector<std::string> write_test_shards(const testing::TempDir& dir, int shards, int per_shard) {
  std::vector<std::string> paths;
  for (int s = 0; s < shards; ++s) {
    char name[32];
    std::snprintf(name, sizeof name, "%05d.tar", s);
    std::ofstream out(dir.file(name), std::ios::binary);
    io::TarWriter tar(out);
    for (int i = 0; i < per_shard; ++i) {
      const std::string key = std::to_string(s * 100 + i);
      tar.add(key + ".jpg", jpeg_of(s * 100 + i));
      tar.add(key + ".txt", "caption " + key);
      tar.add(key + ".cls", std::to_string(i % 3));
    }
    tar.finish();
    paths.push_back(dir.file(name));
  }
  return paths;
}

}  // namespace clipgrad::clip
