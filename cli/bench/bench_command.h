// `clipgrad bench`: full CLIP training steps timed on one device.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

namespace clipgrad::cli {

void register_bench(CLI::App& app);  // cli/bench/cmd_bench.cpp

// clipgrad bench --data SHARDS (cli/bench/data_bench.cpp).
struct DataBenchOptions {
  std::string data, json;
  int workers = 1, image_size = 224;
  int64_t images = 0;   // 0: every image of the shards
  int64_t compare = 0;  // images whose scaled and exact decodes are compared
};
void run_data_bench(const DataBenchOptions& options);

}  // namespace clipgrad::cli
