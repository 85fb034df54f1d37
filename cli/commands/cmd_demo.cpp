// clipgrad demo: the whole CleanCLIP study on the embedded Fashion-MNIST
// (cleanclip/study.h), with progress per stage and the report at the end; with
// --preset or --recipe, a recipe's grid of experiments (docs/study.md).
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>

#include "cleanclip/attack/attack_config.h"
#include "cleanclip/study.h"
#include "cli/commands/commands.h"
#include "cli/support/checked_options.h"
#include "cli/support/device_option.h"
#include "cli/support/in_world.h"
#include "cli/support/progress.h"
#include "distributed/world/world.h"

namespace clipgrad::cli {

namespace {

struct DemoArgs {
  cleanclip::StudyOptions study;
  // badnet by default: the attack whose whole study reproduces at every seed
  // measured (bench/RESULTS.md: ASR 0.94-0.98 poisoned, 0.04-0.07 after
  // CleanCLIP, 0.32-0.41 after the CLIP loss alone).
  std::string attack = "badnet";
  std::string device = "cpu";
  std::string preset, recipe_file;
  bool print_recipe = false;
};

// --preset / --recipe: the recipe's experiments in one process, into --out.
void run_recipe_command(const DemoArgs& args) {
  cleanclip::Recipe recipe =
      args.recipe_file.empty() ? cleanclip::preset_recipe(args.preset) : cleanclip::load_recipe(args.recipe_file);
  if (args.print_recipe) {
    std::cout << cleanclip::recipe_to_json(recipe).dump(2) << "\n";
    return;
  }
  recipe.options.out = args.study.out;
  recipe.options.workers = args.study.workers;
  recipe.options.fashion_mnist = args.study.fashion_mnist;
  if (parse_device(args.device) != Device::CPU)
    throw std::invalid_argument("demo --recipe runs on the CPU (the quick demo takes --device cuda)");
  Progress progress;
  std::string current;
  cleanclip::run_recipe(recipe, [&](const std::string& stage, const clip::StepReport& report) {
    if (stage != current) std::cerr << "== " << (current = stage) << "\n";
    progress(report);
  });
  std::cout << "report: " << recipe.options.out << "/report.html\n";
}

void demo(const DemoArgs& args, const std::shared_ptr<distributed::Communicator>& world) {
  cleanclip::StudyOptions options = args.study;
  options.device = parse_device(args.device);
  options.world = world;
  options.attacks = args.attack == "all" ? std::vector<std::string>{"badnet", "blended", "wanet", "label-consistent"}
                                         : std::vector<std::string>{args.attack};
  Progress progress;
  std::string current;
  auto on_step = [&](const std::string& stage, const clip::StepReport& report) {
    if (stage != current) {
      std::cerr << "== " << stage << "\n";
      current = stage;
    }
    progress(report);
  };
  std::vector<cleanclip::StudyResult> studies = cleanclip::run_study(options, on_step);
  if (world->rank() != 0) return;  // rank 0 reports
  for (const auto& study : studies) {
    std::cout << study.attack << " (target '" << study.target << "', seed " << study.seed << ")\n";
    for (const auto& stage : study.stages)
      std::printf("  %-20s clean top-1 %.4f  ASR %.4f  (%.1f min)\n", stage.name.c_str(), stage.clean_top1, stage.asr,
                  stage.minutes);
  }
  std::cout << "report: " << options.out << "/report.html\n";
}

// The study's recipe as flags: the attack, the poisoning, each training stage and the defences.
void add_recipe_options(CLI::App* command, cleanclip::StudyOptions& s) {
  command->add_option("--target", s.target, "the class the backdoor points at")->capture_default_str();
  command->add_option("--poison-count", s.poison_count, "poisoned training pairs")
      ->capture_default_str()
      ->check(integer_in(1, 60000));
  command->add_option("--patch-size", s.patch_size, "badnet / label-consistent patch side (px)")
      ->capture_default_str()
      ->check(integer_in(0, 1 << 16));
  command->add_option("--patch-location", s.patch_location, "badnet / label-consistent: random or four-corners")
      ->check(CLI::IsMember({"random", "four-corners"}))
      ->capture_default_str();
  command->add_option("--wanet-k", s.wanet_k, "wanet control grid size")
      ->capture_default_str()
      ->check(integer_in(2, cleanclip::kMaxWaNetK));
  command->add_option("--wanet-s", s.wanet_s, "wanet warping strength")
      ->capture_default_str()
      ->check(real_in(0, kInfinity, true));
  command->add_option("--pretrain-epochs", s.pretrain_epochs)->capture_default_str()->check(integer_in(1, kMaxEpochs));
  command->add_option("--finetune-rows", s.finetune_rows, "clean pairs for the defences")
      ->capture_default_str()
      ->check(integer_in(2, 60000));
  command->add_option("--finetune-epochs", s.finetune_epochs)->capture_default_str()->check(integer_in(1, kMaxEpochs));
  command->add_option("--finetune-lr", s.finetune_lr)->capture_default_str()->check(real_in(0, kInfinity, true));
  command->add_option("--lambda1", s.lambda_clip, "CleanCLIP: weight of the CLIP loss")
      ->capture_default_str()
      ->check(real_in(0, kInfinity));
  command->add_option("--lambda2", s.lambda_inmodal, "CleanCLIP: weight of the in-modal loss")
      ->capture_default_str()
      ->check(real_in(0, kInfinity));
  command->add_option("--supervised-epochs", s.supervised_epochs)
      ->capture_default_str()
      ->check(integer_in(1, kMaxEpochs));
  command->add_option("--supervised-lr", s.supervised_lr)->capture_default_str()->check(real_in(0, kInfinity, true));
}

}  // namespace

void register_demo(CLI::App& app) {
  auto args = std::make_shared<DemoArgs>();
  cleanclip::StudyOptions& s = args->study;
  CLI::App* command = app.add_subcommand(
      "demo",
      "The CleanCLIP study on Fashion-MNIST: clean and poisoned pretraining, CLIP / CleanCLIP / supervised "
      "fine-tuning, clean accuracy and ASR of every stage, results.json/md and report.html");
  command->add_option("--out", s.out, "study folder (a rerun reuses finished stages)")->capture_default_str();
  command->add_option("--attack", args->attack, "badnet, blended, wanet, label-consistent or all")
      ->check(CLI::IsMember({"badnet", "blended", "wanet", "label-consistent", "all"}))
      ->capture_default_str();
  command->add_option("--seeds", s.seeds, "how many seeds: first-seed .. first-seed + N - 1")
      ->check(integer_in(1, 1 << 20))
      ->capture_default_str();
  command
      ->add_option("--first-seed", s.first_seed,
                   "the first seed (several processes can share one --out, each "
                   "with its own seeds, once the data is imported)")
      ->check(integer_in(0, int64_t(1) << 62))
      ->capture_default_str();
  command
      ->add_option("--device", args->device,
                   "cpu or cuda: where the CLIP and CleanCLIP training stages run (evaluation and the "
                   "supervised defence run on the CPU)")
      ->capture_default_str();
  command->add_option("--workers", s.workers, "image decoding threads")->capture_default_str()->check(worker_count());
  command->add_option("--train-images", s.train_images, "Fashion-MNIST training images to use (-1: all 60,000)")
      ->capture_default_str()
      ->check(integer_in(-1, 60000));
  command->add_option("--test-images", s.test_images, "Fashion-MNIST test images to evaluate on (-1: all 10,000)")
      ->capture_default_str()
      ->check(integer_in(-1, 10000));
  command
      ->add_option("--batch-size", s.batch_size,
                   "the global batch of the CLIP and CleanCLIP stages (under mpirun -np N, N processes of "
                   "batch-size / N each: the same study)")
      ->capture_default_str()
      ->check(integer_in(2, kMaxBatch));
  add_recipe_options(command, s);
  command
      ->add_option("--preset", args->preset,
                   "run a built-in recipe instead: quick, reference-fashion-mnist or reference-scenes "
                   "(docs/study.md); the flags above but --out and --workers are then unused")
      ->check(CLI::IsMember({"quick", "reference-fashion-mnist", "reference-scenes"}));
  command
      ->add_option("--recipe", args->recipe_file,
                   "run the recipe in this JSON file (a preset, its options and experiments: docs/study.md)")
      ->check(CLI::ExistingFile)
      ->excludes("--preset");
  command->add_flag("--print-recipe", args->print_recipe, "print the --preset's or --recipe's recipe and exit");
  // Under mpirun the training stages run data parallel; rank 0 does the rest.
  command->callback([args] {
    if (args->print_recipe && args->preset.empty() && args->recipe_file.empty())
      throw std::invalid_argument("demo --print-recipe prints a --preset's or --recipe's recipe: name one");
    if (!args->preset.empty() || !args->recipe_file.empty()) {
      run_recipe_command(*args);
      return;
    }
    std::shared_ptr<distributed::Communicator> world = distributed::join_world(parse_device(args->device));
    run_in_world(*world, [&] { demo(*args, world); });
  });
}

}  // namespace clipgrad::cli
