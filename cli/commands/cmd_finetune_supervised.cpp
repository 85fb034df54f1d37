// clipgrad finetune-supervised: the supervised defence (cleanclip/defense/supervised.h):
// the vision encoder and a linear head trained with cross-entropy on labelled images.
#include <iostream>

#include "cleanclip/defense/supervised.h"
#include "cli/commands/commands.h"
#include "cli/support/checked_options.h"
#include "cli/support/progress.h"

namespace clipgrad::cli {

namespace {

struct FinetuneSupervisedArgs {
  std::string model, labels, classes, out, device = "cpu";
  cleanclip::SupervisedOptions options;
};

void finetune_supervised(const FinetuneSupervisedArgs& args) {
  if (args.device != "cpu")
    throw std::runtime_error("--device " + args.device + ": training runs on the CPU in this version");
  Progress progress;
  std::string checkpoint =
      cleanclip::finetune_supervised(args.model, args.labels, args.classes, args.out, args.options, progress);
  std::cout << "model: " << checkpoint << "\n";
}

}  // namespace

void register_finetune_supervised(CLI::App& app) {
  auto args = std::make_shared<FinetuneSupervisedArgs>();
  CLI::App* command = app.add_subcommand(
      "finetune-supervised",
      "Supervised defence: fine-tune the vision encoder and a linear head (started as the zero-shot classifier) "
      "with cross-entropy on labelled images; the text tower stays frozen");
  command
      ->add_option("--model", args->model, "CLIP checkpoint to fine-tune (OpenAI-layout .safetensors or HF directory)")
      ->required();
  command->add_option("--labels", args->labels, "labelled CSV (image,label; label = class index)")->required();
  command->add_option("--classes", args->classes, "classes JSON (class names and prompt templates)")->required();
  command->add_option("--out", args->out, "output directory: model.safetensors (model + head), metrics.jsonl")
      ->required();
  cleanclip::SupervisedOptions& options = args->options;
  command->add_option("--epochs", options.epochs)->capture_default_str()->check(integer_in(1, kMaxEpochs));
  command->add_option("--batch-size", options.batch_size)->capture_default_str()->check(integer_in(1, kMaxBatch));
  command->add_option("--lr", options.lr, "peak learning rate")
      ->capture_default_str()
      ->check(real_in(0, kInfinity, true));
  command->add_option("--wd", options.weight_decay, "AdamW weight decay (none on biases, gains, norms)")
      ->capture_default_str()
      ->check(real_in(0, kInfinity));
  command->add_option("--warmup", options.warmup_steps, "linear warmup steps, then cosine to zero")
      ->capture_default_str()
      ->check(integer_in(0, kMaxSteps));
  command->add_option("--seed", options.seed, "seed of the epochs' shuffles")
      ->capture_default_str()
      ->check(seed_value());
  command->add_option("--workers", options.workers, "image decoding threads")
      ->capture_default_str()
      ->check(worker_count());
  command->add_option("--device", args->device, "cpu")->capture_default_str();
  command->add_flag("--strict", options.strict, "fail on a missing or corrupt image instead of skipping it");
  command->add_option("--image-key", options.image_key, "image column")->capture_default_str();
  command->add_option("--label-key", options.label_key, "label column")->capture_default_str();
  add_image_limit_options(command);
  command->callback([args] { finetune_supervised(*args); });
}

}  // namespace clipgrad::cli
