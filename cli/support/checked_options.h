// Validators for numeric flags, and the flags every image-reading command
// shares. CLI11 alone reads "--seed -1" into a uint64 as 2^64 - 1, clamps
// "--seed 2^64" silently, and takes "--lr nan" and "--lr inf": these refuse
// them, with one line naming the flag.
//
//   command->add_option("--epochs", options.epochs)->capture_default_str()->check(integer_in(1, kMaxEpochs));
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <limits>
#include <string>

namespace clipgrad::cli {

inline constexpr int64_t kMaxEpochs = int64_t(1) << 20;
inline constexpr int64_t kMaxBatch = int64_t(1) << 24;
inline constexpr int64_t kMaxSteps = int64_t(1) << 40;
inline constexpr double kInfinity = std::numeric_limits<double>::infinity();

// The whole value an integer (decimal, no sign for a non-negative min) in [min, max].
CLI::Validator integer_in(int64_t min, int64_t max);
// A seed: a decimal integer in [0, 2^64 - 1], no sign, no wraparound.
CLI::Validator seed_value();
// A finite real in [min, max] (or (min, max] with min_open), never NaN or infinite.
CLI::Validator real_in(double min, double max, bool min_open = false);
// A path to write: not empty ("--json ''" would otherwise write nothing and say nothing).
CLI::Validator output_path();
// --workers: 0 .. clip::max_loader_workers().
CLI::Validator worker_count();
// --precision fp32|tf32|bf16 (tensor/precision.h), shared by train, eval, dump, bench and demo.
CLI::Option* add_precision_option(CLI::App* command, std::string& precision);

// --max-image-pixels and --max-image-aspect (io::ImageLimits); once the
// command's flags are parsed they become the process's image limits.
void add_image_limit_options(CLI::App* command);

}  // namespace clipgrad::cli
