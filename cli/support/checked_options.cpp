#include "cli/support/checked_options.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "clip/data/loader.h"
#include "io/image.h"

namespace clipgrad::cli {

namespace {

template <class T>
bool parse_whole(const std::string& text, T& value) {
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(text.data(), end, value);
  return error == std::errc() && stop == end && !text.empty();
}

std::string range_text(int64_t min, int64_t max) {
  if (max == std::numeric_limits<int64_t>::max()) return "an integer >= " + std::to_string(min);
  return "an integer from " + std::to_string(min) + " to " + std::to_string(max);
}

}  // namespace

CLI::Validator integer_in(int64_t min, int64_t max) {
  const std::string expected = range_text(min, max);
  return CLI::Validator(
      [min, max, expected](std::string& text) -> std::string {
        int64_t value = 0;
        if (!parse_whole(text, value) || value < min || value > max) return "'" + text + "' is not " + expected;
        return "";
      },
      max == std::numeric_limits<int64_t>::max() ? "INT >= " + std::to_string(min)
                                                 : "INT in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
}

CLI::Validator seed_value() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        uint64_t value = 0;
        if (!parse_whole(text, value)) return "'" + text + "' is not a seed (an integer from 0 to 2^64 - 1)";
        return "";
      },
      "UINT64");
}

CLI::Validator real_in(double min, double max, bool min_open) {
  auto bound = [](double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", value);
    return std::string(text);
  };
  const std::string expected = std::string("a finite number ") + (min_open ? "> " : ">= ") + bound(min) +
                               (std::isinf(max) ? "" : " and <= " + bound(max));
  return CLI::Validator(
      [min, max, min_open, expected](std::string& text) -> std::string {
        double value = 0;
        if (!parse_whole(text, value) || !std::isfinite(value) || !(min_open ? value > min : value >= min) ||
            !(value <= max))
          return "'" + text + "' is not " + expected;
        return "";
      },
      "NUMBER");
}

CLI::Validator output_path() {
  return CLI::Validator(
      [](std::string& text) -> std::string { return text.empty() ? "an empty path names no file" : ""; }, "PATH");
}

CLI::Validator worker_count() { return integer_in(0, clip::max_loader_workers()); }

void add_image_limit_options(CLI::App* command) {
  auto limits = std::make_shared<io::ImageLimits>();
  command
      ->add_option("--max-image-pixels", limits->max_pixels,
                   "an image of more pixels (width x height) is a bad image, skipped and counted")
      ->capture_default_str()
      ->check(integer_in(1, std::numeric_limits<int64_t>::max()));
  command
      ->add_option("--max-image-aspect", limits->max_aspect,
                   "an image whose longer side exceeds this many times its shorter side is a bad image")
      ->capture_default_str()
      ->check(real_in(1, kInfinity));
  command->parse_complete_callback([limits] { io::set_default_image_limits(*limits); });
}

CLI::Option* add_precision_option(CLI::App* command, std::string& precision) {
  return command
      ->add_option("--precision", precision,
                   "fp32; tf32 (cuda: TF32 tensor cores in f32 GEMMs and convolutions); or bf16 (torch.autocast's "
                   "bf16 rounding of linear layers, products and convolutions, docs/ARCHITECTURE.md)")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}))
      ->capture_default_str();
}

}  // namespace clipgrad::cli
