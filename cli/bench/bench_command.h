// `clipgrad bench`: full CLIP training steps timed on one device.
#pragma once

#include <CLI/CLI.hpp>

namespace clipgrad::cli {

void register_bench(CLI::App& app);  // cli/bench/cmd_bench.cpp

}  // namespace clipgrad::cli
