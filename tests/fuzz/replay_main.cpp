// Runs the fuzz target over every file of a corpus folder, so that the seed
// corpus (and every crash the fuzzer ever found) is a regression test that
// builds with any compiler, without libFuzzer.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  std::vector<std::filesystem::path> inputs;
  try {
    for (const auto& entry : std::filesystem::directory_iterator(argv[1]))
      if (entry.is_regular_file()) inputs.push_back(entry.path());
  } catch (const std::filesystem::filesystem_error& error) {
    std::fprintf(stderr, "cannot list corpus: %s\n", error.what());
    return 1;
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "corpus folder '%s' holds no files; pass the folder of seed inputs\n", argv[1]);
    return 1;
  }
  std::sort(inputs.begin(), inputs.end());
  for (const auto& path : inputs) {
    std::ifstream in(path, std::ios::binary);
    const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    try {
      LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
    } catch (const std::exception& error) {
      std::fprintf(stderr, "%s: exception escaped the fuzz target: %s\n", path.c_str(), error.what());
      return 1;
    }
  }
  std::printf("replayed %zu corpus inputs\n", inputs.size());
  return 0;
}
