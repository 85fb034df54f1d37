// `clipgrad data`: prepares datasets as image folders + CSVs that the
// training and evaluation commands read.
//
// fashion-mnist: the IDX files become 28x28 grayscale PNGs, train.csv
// (image,caption) with a synthetic caption per image, test.csv (image,label)
// and classes.json (class names + the 80 ImageNet templates for zero-shot).
// scenes: the study's harder testbed (clip/data/scenes.h).
#include <cstdio>
#include <memory>

#include "cli/commands/commands.h"
#include "cli/support/checked_options.h"
#include "clip/data/fashion_mnist.h"
#include "clip/data/scenes.h"
#include "clip/data/shards.h"

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

  struct ShardArgs {
    std::string from, out, image_key = "image", caption_key = "caption", label_key = "label";
    int64_t shard_size = 1000;
  };
  auto shard_args = std::make_shared<ShardArgs>();
  CLI::App* shards = data->add_subcommand(
      "shards", "A CleanCLIP-style CSV as webdataset tar shards (KEY.jpg, KEY.txt, KEY.json, KEY.cls) + sizes.json");
  shards->add_option("--from", shard_args->from, "the CSV (image paths relative to it)")->required();
  shards->add_option("--out", shard_args->out, "Output folder")->required();
  shards->add_option("--shard-size", shard_args->shard_size, "samples per shard")->capture_default_str();
  shards->add_option("--image-key", shard_args->image_key)->capture_default_str();
  shards->add_option("--caption-key", shard_args->caption_key, "caption column (KEY.txt; none if absent)")
      ->capture_default_str();
  shards->add_option("--label-key", shard_args->label_key, "label column (KEY.cls; none if absent)")
      ->capture_default_str();
  shards->callback([shard_args] {
    const int64_t count = clip::write_shards(shard_args->from, shard_args->out, shard_args->shard_size,
                                             shard_args->image_key, shard_args->caption_key, shard_args->label_key);
    std::printf("shards: wrote %lld shards and sizes.json to %s\n", static_cast<long long>(count),
                shard_args->out.c_str());
  });

  auto scenes = std::make_shared<clip::SceneOptions>();
  CLI::App* scene = data->add_subcommand(
      "scenes",
      "Fashion-MNIST items on textured canvases with WordNet captions: train.csv, finetune.csv (disjoint items), "
      "test.csv (one item each), classes.json");
  scene->add_option("--out", scenes->out, "Output folder")->required()->check(output_path());
  scene->add_option("--source", scenes->fashion_mnist, "Folder with the IDX .gz files")->capture_default_str();
  scene->add_option("--wordnet", scenes->wordnet, "WordNet's database folder")->capture_default_str();
  scene->add_option("--canvas", scenes->canvas, "Canvas side (px)")->capture_default_str();
  scene->add_option("--train", scenes->train, "Pretraining scenes")->capture_default_str();
  scene->add_option("--finetune", scenes->finetune, "Clean fine-tuning scenes")->capture_default_str();
  scene->add_option("--test", scenes->test, "Test scenes (at most 10,000)")->capture_default_str();
  scene->add_option("--min-item", scenes->min_item, "Smallest item side (px)")->capture_default_str();
  scene->add_option("--max-item", scenes->max_item, "Largest item side (px)")->capture_default_str();
  scene->add_option("--max-rotation", scenes->max_rotation_degrees, "Largest rotation (degrees)")
      ->capture_default_str();
  scene
      ->add_option("--mention", scenes->mention,
                   "How often a caption says an item's colour, size or place (each); the background 0.8x as often")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  scene->add_option("--seed", scenes->seed, "Seed of every scene's draw")->capture_default_str()->check(seed_value());
  scene->callback([scenes] { clip::prepare_scenes(*scenes); });
}

}  // namespace clipgrad::cli
