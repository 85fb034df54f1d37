// clipgrad eval: zero-shot top-1/top-5 and per-class accuracy, and with
// --attack-config the attack success rate (cleanclip/attack/asr.h). A checkpoint
// of finetune-supervised classifies through its head instead
// (cleanclip/defense/classifier_head.h).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "tensor/precision.h"
#include "cleanclip/attack/asr.h"
#include "cleanclip/defense/classifier_head.h"
#include "cli/commands/commands.h"
#include "cli/support/checked_options.h"
#include "cli/support/checkpoint_args.h"
#include "cli/support/device_option.h"
#include "clip/checkpoint/checkpoint.h"
#include "clip/data/stream_loader.h"
#include "clip/eval/zeroshot.h"
#include "io/atomic_file.h"

namespace clipgrad::cli {

namespace {

struct EvalArgs {
  std::string model, labels, classes, json, attack_config, image_key = "image", label_key = "label";
  std::string device = "cpu";
  std::string precision = "fp32";
  int workers = 2;
  bool strict = false, exact_resize = false;
  CheckpointArgs checkpoint;
};

nlohmann::json accuracy_json(const clip::Accuracy& accuracy, const clip::ClassNames& names) {
  nlohmann::json per_class = nlohmann::json::object();
  for (size_t c = 0; c < names.classes.size(); ++c)
    per_class[names.classes[c]] =
        std::isnan(accuracy.per_class[c]) ? nlohmann::json(nullptr) : nlohmann::json(accuracy.per_class[c]);
  return {{"top1", accuracy.top1},
          {"top5", accuracy.top5},
          {"per_class", per_class},
          {"n", accuracy.n},
          {"skipped", accuracy.skipped}};
}

void evaluate_model(const EvalArgs& args);

// Prints per-class, top-1 and top-5 accuracy; the result as --json writes it.
nlohmann::json report_accuracy(const clip::Accuracy& accuracy, const clip::ClassNames& names,
                               const cleanclip::Classifier& head) {
  for (size_t c = 0; c < names.classes.size(); ++c)
    std::printf("  %-20s %6.2f%%  (%lld images)\n", names.classes[c].c_str(), 100 * accuracy.per_class[c],
                static_cast<long long>(accuracy.per_class_count[c]));
  std::printf("%s top-1 %.4f  top-5 %.4f  on %lld images", head ? "head" : "zero-shot", accuracy.top1, accuracy.top5,
              static_cast<long long>(accuracy.n));
  if (accuracy.skipped) std::printf(" (%lld skipped)", static_cast<long long>(accuracy.skipped));
  std::printf("\n");
  nlohmann::json result = accuracy_json(accuracy, names);
  result["classifier"] = head ? "head" : "zero-shot";
  return result;
}

// torchvision's ImageFolder layout: a folder holding class folders.
bool is_image_folder(const std::string& path) {
  if (!std::filesystem::is_directory(path)) return false;
  for (const auto& entry : std::filesystem::directory_iterator(path))
    if (entry.is_directory()) return true;
  return false;
}

// Webdataset shards whose samples carry a cls member (the class index).
void evaluate_shards(const EvalArgs& args, clip::ClipModel& model, const cleanclip::Classifier& head,
                     const clip::ClassNames& names) {
  if (!args.attack_config.empty())
    throw std::runtime_error("--attack-config needs a CSV or an image folder as --labels, not shards");
  clip::StreamLoader source(clip::expand_shard_spec(args.labels),
                            {.batch_size = 256,
                             .image_size = static_cast<int>(model.config().image_resolution),
                             .workers = args.workers,
                             .shuffle_shards = false,
                             .drop_last = false,
                             .exact_resize = args.exact_resize,
                             .read = {.need_caption = false, .need_label = true, .strict = args.strict}});
  clip::Accuracy accuracy;
  if (head) {
    clip::ImageFeatures images = clip::image_features(model, source);
    accuracy = clip::score(head(images.features), images.labels, static_cast<int64_t>(names.classes.size()));
    accuracy.skipped = images.skipped;
  } else {
    accuracy = clip::evaluate_zero_shot(model, clip::Tokenizer(), names, source);
  }
  nlohmann::json result = report_accuracy(accuracy, names, head);
  if (!args.json.empty()) io::write_file_atomic(args.json, result.dump(2) + "\n");
}

void evaluate(const EvalArgs& args) {
  try {
    evaluate_model(args);
  } catch (const clip::BrokenModelError& error) {
    throw std::runtime_error("eval: model '" + args.model + "' cannot be evaluated: " + error.what());
  }
}

void evaluate_model(const EvalArgs& args) {
  const Device device = parse_device(args.device);
  set_precision(parse_precision(args.precision));
  auto names = clip::ClassNames::from_file(args.classes);
  std::shared_ptr<clip::ClipModel> model;
  cleanclip::Classifier head;  // empty: zero-shot
  if (cleanclip::has_classifier_head(args.model)) {
    cleanclip::SupervisedModel supervised = cleanclip::load_supervised_checkpoint(args.model);
    cleanclip::check_head_classes(supervised.head, names, args.model);
    model = supervised.model;
    head = cleanclip::head_classifier(supervised.head);
  } else {
    model = load_checkpoint(args.model, args.checkpoint).model;
  }
  model->to(device);  // the towers run there; scoring runs on the host
  const bool image_folder = is_image_folder(args.labels);
  if (!image_folder && clip::is_shard_spec(args.labels)) return evaluate_shards(args, *model, head, names);
  auto data = image_folder ? clip::LabelledDataset::from_image_folder(args.labels, names.classes)
                           : clip::LabelledDataset::from_csv(args.labels, args.image_key, args.label_key);
  data.check_labels(static_cast<int64_t>(names.classes.size()), args.classes);
  std::optional<cleanclip::AttackConfig> attack;
  if (!args.attack_config.empty()) {
    attack = cleanclip::AttackConfig::load(args.attack_config);
    cleanclip::target_class_index(names, attack->target);  // an unknown target fails before any work
  }
  const int64_t class_count = static_cast<int64_t>(names.classes.size());
  clip::Accuracy accuracy =
      head ? cleanclip::evaluate_classifier(*model, head, class_count, data, args.workers, args.strict)
           : clip::evaluate_zero_shot(*model, clip::Tokenizer(), names, data, args.workers, args.strict, nullptr,
                                      args.exact_resize);
  nlohmann::json result = report_accuracy(accuracy, names, head);
  if (attack) {
    cleanclip::AsrOptions options;
    options.workers = args.workers;
    options.strict = args.strict;
    options.classifier = head;
    cleanclip::AsrResult asr = cleanclip::attack_success_rate(*model, data, names, *attack, options);
    std::printf("attack success rate %.4f  (%s -> '%s': %lld of %lld non-target images)\n", asr.asr,
                cleanclip::attack_name(attack->kind).c_str(), attack->target.c_str(), static_cast<long long>(asr.hits),
                static_cast<long long>(asr.n));
    result["asr"] = asr.asr;
    result["asr_n"] = asr.n;
  }
  if (!args.json.empty()) io::write_file_atomic(args.json, result.dump(2) + "\n");
}

}  // namespace

void register_eval(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* command = app.add_subcommand(
      "eval", "Zero-shot classification accuracy of a CLIP checkpoint (through its head for finetune-supervised's)");
  command->add_option("--model", args->model, "checkpoint (.pt, .safetensors in the OpenAI layout, or HF directory)")
      ->required();
  add_checkpoint_options(command, args->checkpoint);
  command
      ->add_option("--labels", args->labels,
                   "labelled CSV (image,label), an ImageFolder tree (DIR/<class>/*.jpg), or webdataset shards with "
                   "cls members")
      ->required();
  command
      ->add_option("--classes", args->classes,
                   "classes JSON (class names and prompt templates), or a text file of one class name per line")
      ->required();
  command->add_flag("--exact-resize", args->exact_resize,
                    "decode every JPEG at full size (no DCT-domain scaling; zero-shot and shards)");
  command->add_option("--json", args->json, "also write the result as JSON here")->check(output_path());
  command->add_option("--attack-config", args->attack_config,
                      "attack.json of clipgrad poison: also report the attack success rate");
  command->add_option("--workers", args->workers, "image decoding threads")
      ->capture_default_str()
      ->check(worker_count());
  command->add_option("--device", args->device, "cpu or cuda: where the image and text towers run")
      ->capture_default_str();
  add_precision_option(command, args->precision);
  command->add_option("--image-key", args->image_key)->capture_default_str();
  command->add_option("--label-key", args->label_key)->capture_default_str();
  command->add_flag("--strict", args->strict, "fail on a missing or corrupt image instead of skipping it");
  add_image_limit_options(command);
  command->callback([args] { evaluate(*args); });
}

}  // namespace clipgrad::cli
