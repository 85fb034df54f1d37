// clipgrad probe: linear-probe accuracy of frozen CLIP image features.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/commands/commands.h"
#include "cli/support/checked_options.h"
#include "cli/support/checkpoint_args.h"
#include "clip/checkpoint/checkpoint.h"
#include "clip/eval/linear_probe.h"
#include "io/atomic_file.h"

namespace clipgrad::cli {

namespace {

struct ProbeArgs {
  std::string model, train, test, classes, json;
  CheckpointArgs checkpoint;
  int workers = 2;
  clip::ProbeOptions options;
};

std::vector<int64_t> labels_of(const clip::LabelledDataset& data, const std::vector<int64_t>& rows) {
  std::vector<int64_t> labels;
  for (int64_t row : rows) labels.push_back(data[row].label);
  return labels;
}

clip::ProbeResult probe_model(const ProbeArgs& args) {
  auto model = load_checkpoint(args.model, args.checkpoint).model;
  auto names = clip::ClassNames::from_json(args.classes);
  const int64_t class_count = static_cast<int64_t>(names.classes.size());
  auto train = clip::LabelledDataset::from_csv(args.train);
  auto test = clip::LabelledDataset::from_csv(args.test);
  train.check_labels(class_count, args.classes);
  test.check_labels(class_count, args.classes);
  auto train_features = clip::image_features(*model, clip::loader_items(train), args.workers);
  auto test_features = clip::image_features(*model, clip::loader_items(test), args.workers);
  return clip::linear_probe(train_features.features, labels_of(train, train_features.rows), test_features.features,
                            labels_of(test, test_features.rows), class_count, args.options);
}

void probe(const ProbeArgs& args) {
  clip::ProbeResult result;
  try {
    result = probe_model(args);
  } catch (const clip::BrokenModelError& error) {
    throw std::runtime_error("probe: model '" + args.model + "' cannot be evaluated: " + error.what());
  }
  std::printf("linear probe: train top-1 %.4f, test top-1 %.4f top-5 %.4f on %lld images\n", result.train_top1,
              result.test.top1, result.test.top5, static_cast<long long>(result.test.n));
  if (!args.json.empty())
    io::write_file_atomic(args.json, nlohmann::json{{"train_top1", result.train_top1},
                                                    {"top1", result.test.top1},
                                                    {"top5", result.test.top5},
                                                    {"n", result.test.n}}
                                             .dump(2) +
                                         "\n");
}

}  // namespace

void register_probe(CLI::App& app) {
  auto args = std::make_shared<ProbeArgs>();
  CLI::App* command = app.add_subcommand("probe", "Linear-probe accuracy of frozen image features");
  command->add_option("--model", args->model, "checkpoint (.pt, .safetensors or HF directory)")->required();
  add_checkpoint_options(command, args->checkpoint);
  command->add_option("--train", args->train, "labelled training CSV (image,label)")->required();
  command->add_option("--test", args->test, "labelled test CSV (image,label)")->required();
  command->add_option("--classes", args->classes, "classes JSON (for the class count and names)")->required();
  command->add_option("--epochs", args->options.epochs)->capture_default_str()->check(integer_in(1, kMaxEpochs));
  command->add_option("--lr", args->options.lr)->capture_default_str()->check(real_in(0, kInfinity, true));
  command->add_option("--wd", args->options.weight_decay)->capture_default_str()->check(real_in(0, kInfinity));
  command->add_option("--batch-size", args->options.batch_size)->capture_default_str()->check(integer_in(1, kMaxBatch));
  command->add_option("--seed", args->options.seed)->capture_default_str()->check(seed_value());
  command->add_option("--workers", args->workers)->capture_default_str()->check(worker_count());
  command->add_option("--json", args->json, "also write the result as JSON here")->check(output_path());
  add_image_limit_options(command);
  command->callback([args] { probe(*args); });
}

}  // namespace clipgrad::cli
