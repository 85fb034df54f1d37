// clipgrad train: contrastive training from a named config or a checkpoint.
#include <filesystem>
#include <iostream>

#include "cli/commands/commands.h"
#include "tensor/precision.h"
#include "cli/support/checked_options.h"
#include "cli/support/checkpoint_args.h"
#include "cli/support/device_option.h"
#include "cli/support/in_world.h"
#include "cli/support/objectives.h"
#include "cli/support/progress.h"
#include "clip/checkpoint/checkpoint.h"
#include "clip/train/trainer.h"
#include "distributed/world/world.h"
#include "tensor/ops/linalg.h"

namespace clipgrad::cli {

namespace {

struct TrainArgs {
  std::string data, model = "vit-tiny-28", init, out = "runs/train", resume, device = "cpu";
  std::string delimiter = ",";
  std::string objective = "clip";
  std::string precision = "fp32";
  bool overwrite = false;
  nlohmann::json objective_config = nlohmann::json::object();
  clip::TrainOptions options;
  CheckpointArgs checkpoint;  // --config / --verbose for a checkpoint given to --model or --init
};

std::shared_ptr<clip::ClipModel> make_model(const std::string& model, uint64_t seed, const CheckpointArgs& checkpoint) {
  const auto names = clip::ClipConfig::names();
  if (std::find(names.begin(), names.end(), model) != names.end()) {
    if (!checkpoint.config.empty())
      throw std::runtime_error("train: --config sets the config of a checkpoint, and --model " + model +
                               " is a named config; give a checkpoint, or name the config with --model alone");
    auto created = std::make_shared<clip::ClipModel>(clip::ClipConfig::named(model));
    Generator generator(seed);
    created->init_openai(generator);
    return created;
  }
  if (!std::filesystem::exists(model))
    throw std::runtime_error("--model '" + model + "' is neither a named config nor a checkpoint path");
  return load_checkpoint(model, checkpoint).model;
}

// A new run never replaces another without --overwrite: the default --out makes it easy to.
void check_out_is_free(const TrainArgs& args) {
  if (args.overwrite) return;
  const std::vector<std::string> files = clip::Trainer::run_files_in(args.out);
  if (files.empty()) return;
  std::string listed;
  for (const std::string& file : files) listed += (listed.empty() ? "" : ", ") + file;
  throw std::runtime_error("train: --out '" + args.out + "' holds a run (" + listed + "); continue it with --resume " +
                           args.out + ", replace it with --overwrite, or choose another --out");
}

void train(const TrainArgs& args, const std::shared_ptr<distributed::Communicator>& world) {
  const Device device = parse_device(args.device);
  // Metrics, progress and messages come from rank 0 alone.
  const bool reports = world->rank() == 0;
  std::function<void(const clip::StepReport&)> progress;
  if (reports) progress = Progress();
  const clip::ObjectiveRegistry objectives = objective_registry();
  if (!args.resume.empty()) {
    clip::Trainer trainer = clip::Trainer::resume(args.resume, objectives, world);
    if (reports) std::cerr << "resuming " << args.resume << " after epoch " << trainer.completed_epochs() << "\n";
    trainer.run(progress);
    if (reports) std::cout << "model: " << (std::filesystem::path(args.resume) / "model.safetensors").string() << "\n";
    return;
  }
  if (args.data.empty()) throw std::runtime_error("train: --data CSV is required (or --resume RUN_DIR)");
  check_out_is_free(args);
  if (args.delimiter.size() != 1) throw std::runtime_error("--delimiter must be one character");
  clip::TrainOptions options = args.options;
  options.delimiter = args.delimiter[0];
  options.device = device;
  options.precision = parse_precision(args.precision);
  // --init fine-tunes a checkpoint: its weights, with a fresh optimizer and schedule.
  auto model = make_model(args.init.empty() ? args.model : args.init, options.seed, args.checkpoint);
  clip::Trainer trainer(model, args.data, options, args.out, objectives.make(args.objective, args.objective_config),
                        world);
  trainer.run(progress);
  if (reports) std::cout << "model: " << (std::filesystem::path(args.out) / "model.safetensors").string() << "\n";
}

// Under mpirun each process trains its slice, in the world of the run's
// device (a resumed run keeps its own, whatever --device says).
void train_in_world(const TrainArgs& args) {
  const Device device = args.resume.empty() ? parse_device(args.device) : clip::Trainer::device_of_run(args.resume);
  std::shared_ptr<distributed::Communicator> world = distributed::join_world(device);
  run_in_world(*world, [&] { train(args, world); });
}

// The objective's flags: which loss, and CleanCLIP's weights.
void add_objective_options(CLI::App* command, const std::shared_ptr<TrainArgs>& args) {
  command->add_option("--objective", args->objective, "clip, or cleanclip (CLIP loss + in-modal self-supervision)")
      ->capture_default_str();
  command
      ->add_option_function<double>(
          "--lambda1", [args](double w) { args->objective_config["lambda1"] = w; },
          "cleanclip: weight of the multimodal CLIP loss (default 1)")
      ->check(real_in(0, kInfinity));
  command
      ->add_option_function<double>(
          "--lambda2", [args](double w) { args->objective_config["lambda2"] = w; },
          "cleanclip: weight of the in-modal loss (default 1)")
      ->check(real_in(0, kInfinity));
  command->add_flag_callback(
      "--fixed-text-aug", [args] { args->objective_config["fixed_text_aug"] = true; },
      "cleanclip: draw each caption's EDA augmentation once for the run (the reference), not every epoch");
}

// The optimisation and its devices: epochs, batch, schedule, seed, parallelism.
void add_optimisation_options(CLI::App* command, const std::shared_ptr<TrainArgs>& args) {
  command->add_option("--epochs", args->options.epochs)->capture_default_str()->check(integer_in(1, kMaxEpochs));
  command
      ->add_option("--batch-size", args->options.batch_size,
                   "samples per process (under mpirun -np N the global batch is N times this)")
      ->capture_default_str()
      ->check(integer_in(1, kMaxBatch));
  command->add_option("--lr", args->options.lr, "peak learning rate")
      ->capture_default_str()
      ->check(real_in(0, kInfinity, true));
  command->add_option("--wd", args->options.weight_decay, "AdamW weight decay")
      ->capture_default_str()
      ->check(real_in(0, kInfinity));
  command->add_option("--warmup", args->options.warmup_steps, "linear warmup steps")
      ->capture_default_str()
      ->check(integer_in(0, kMaxSteps));
  command->add_option("--grad-clip", args->options.grad_clip_norm, "max gradient norm (0: off)")
      ->capture_default_str()
      ->check(real_in(0, kInfinity));
  command->add_option("--seed", args->options.seed)->capture_default_str()->check(seed_value());
  command->add_option("--workers", args->options.workers, "image decoding threads")
      ->capture_default_str()
      ->check(worker_count());
  command->add_option("--device", args->device, "cpu or cuda (a resumed run keeps the device it started on)")
      ->capture_default_str();
  add_precision_option(command, args->precision);
  command->add_flag_callback(
      "--tf32", [args] { args->precision = "tf32"; }, "the same as --precision tf32");
  command->add_flag("--local-loss", args->options.local_loss,
                    "data parallel: each rank's logits are its rows against all columns (memory linear in "
                    "--batch-size) instead of the whole global batch; the same loss");
  command
      ->add_option("--zero", args->options.zero_stage,
                   "data parallel: 1 shards AdamW's state over the processes (ZeRO-1); the same steps")
      ->capture_default_str()
      ->check(integer_in(0, 1));
}

// What the data is and how it is read: CSV or shards, decoding, accumulation.
void add_data_options(CLI::App* command, const std::shared_ptr<TrainArgs>& args) {
  command->add_flag("--strict", args->options.strict, "fail on a missing or corrupt image instead of skipping it");
  command->add_option("--delimiter", args->delimiter, "CSV delimiter")->capture_default_str();
  command->add_option("--image-key", args->options.image_key, "image column")->capture_default_str();
  command
      ->add_option("--caption-key", args->options.caption_key,
                   "caption column; shards: the json member's field read before the txt member")
      ->capture_default_str();
  add_image_limit_options(command);
  command
      ->add_option("--shuffle-buffer", args->options.shuffle_buffer,
                   "shards: samples held by the seeded shuffle buffer (0: the shards' own order, shuffled shards)")
      ->capture_default_str()
      ->check(integer_in(0, int64_t{1} << 30));
  command->add_flag("--exact-resize", args->options.exact_resize,
                    "decode every JPEG at full size (no DCT-domain 1/2, 1/4, 1/8 scaling of large ones)");
  command
      ->add_option("--accum-freq", args->options.accum_freq,
                   "micro-batches of --batch-size per step, with the gradient of the whole K x B batch (open_clip's)")
      ->capture_default_str()
      ->check(integer_in(1, 1 << 20));
  command->add_flag("--grad-checkpointing", args->options.grad_checkpointing,
                    "recompute each transformer block in backward instead of keeping its activations");
  command
      ->add_option("--save-every", args->options.save_every,
                   "also checkpoint every N steps, mid-epoch, for --resume (0: at epoch ends only)")
      ->capture_default_str()
      ->check(integer_in(0, int64_t{1} << 40));
}

}  // namespace

void register_train(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* command = app.add_subcommand("train", "Train CLIP contrastively on an image,caption CSV");
  command->add_option("--data", args->data,
                      "training CSV (image,caption; paths relative to the CSV), or webdataset shards: a brace "
                      "pattern (shards/{00000..00331}.tar), a glob, a folder of .tar files or a list file");
  command
      ->add_option("--model", args->model,
                   "named config (vit-tiny-28, rn-tiny, vit-b-32, rn50, ...) or checkpoint to start from")
      ->capture_default_str();
  command->add_option("--out", args->out, "run directory (checkpoints, metrics.jsonl)")
      ->capture_default_str()
      ->check(output_path());
  command->add_option("--init", args->init, "checkpoint to fine-tune (weights only; fresh optimizer and schedule)");
  add_checkpoint_options(command, args->checkpoint);
  CLI::Option* resume = command->add_option("--resume", args->resume, "continue the run in this directory");
  command
      ->add_flag("--overwrite", args->overwrite,
                 "replace a run that --out holds (its files go when the new run takes its first step)")
      ->excludes(resume);
  add_objective_options(command, args);
  add_optimisation_options(command, args);
  add_data_options(command, args);
  command->callback([args] { train_in_world(*args); });
}

}  // namespace clipgrad::cli
