// `clipgrad data`: prepares datasets as image folders + CSVs that the
// training and evaluation commands read.
//
// fashion-mnist: the IDX files become 28x28 grayscale PNGs, train.csv
// (image,caption) with a synthetic caption per image, test.csv (image,label)
// and classes.json (class names + the 80 ImageNet templates for zero-shot).
#include <memory>

#include "cli/commands/commands.h"
#include "cli/support/checked_options.h"
#include "clip/data/fashion_mnist.h"

namespace clipgrad::cli {

void register_data(CLI::App& app) {
  CLI::App* data = app.add_subcommand("data", "Prepare datasets (image folders + CSVs) for training and evaluation");
  data->require_subcommand(1);

  auto options = std::make_shared<clip::FashionMnistOptions>();
  CLI::App* fashion = data->add_subcommand(
      "fashion-mnist", "Fashion-MNIST as PNGs + train.csv (image,caption,label), test.csv (image,label), classes.json");
  fashion->add_option("--out", options->out, "Output folder")->required()->check(output_path());
  fashion->add_option("--source", options->source, "Folder with the IDX .gz files")->capture_default_str();
  fashion->add_option("--train-limit", options->train_limit, "Keep only the first N training images")
      ->check(integer_in(0, std::numeric_limits<int64_t>::max()));
  fashion->add_option("--test-limit", options->test_limit, "Keep only the first N test images")
      ->check(integer_in(0, std::numeric_limits<int64_t>::max()));
  fashion->add_option("--seed", options->seed, "Seed of the caption choice")
      ->capture_default_str()
      ->check(seed_value());
  fashion->callback([options] { clip::prepare_fashion_mnist(*options); });
}

}  // namespace clipgrad::cli
