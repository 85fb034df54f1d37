// clipgrad poison: a backdoored copy of an image-caption dataset (train.csv with
// is_backdoor and triggered PNGs, or poisoned webdataset shards; attack.json);
// see cleanclip/attack/poison.h.
#include <chrono>
#include <cstdio>
#include <memory>

#include "cleanclip/attack/poison.h"
#include "cli/commands/commands.h"
#include "cli/support/checked_options.h"

namespace clipgrad::cli {

namespace {

struct PoisonArgs {
  std::string data, out, attack, target, patch_location = "random", image_key = "image", caption_key = "caption";
  int64_t num = 0;
  double rate = 0;
  uint64_t seed = 0;
  int patch_size = 0;
  bool fresh_noise = false;
  int wanet_k = 4;
  double wanet_s = 0.5;
};

void poison(const PoisonArgs& args, bool has_num, bool has_rate) {
  auto start = std::chrono::steady_clock::now();
  cleanclip::PoisonOptions options;
  options.data = args.data;
  options.out = args.out;
  options.image_key = args.image_key;
  options.caption_key = args.caption_key;
  if (has_num) options.num = args.num;
  if (has_rate) options.rate = args.rate;
  cleanclip::AttackConfig& attack = options.attack;
  attack.kind = cleanclip::parse_attack_kind(args.attack);
  attack.target = args.target;
  attack.seed = args.seed;
  attack.patch_size = args.patch_size;
  attack.patch_location = cleanclip::parse_patch_location(args.patch_location);
  attack.fresh_noise = args.fresh_noise;
  attack.wanet_k = args.wanet_k;
  attack.wanet_s = args.wanet_s;
  cleanclip::PoisonResult result = cleanclip::poison_dataset(options);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string data = result.shards.empty()
                               ? result.train_csv
                               : std::to_string(result.shards.size()) + " shards (" + result.shards.front() + ", ...)";
  std::printf("poison: %s -> '%s': %zu of %lld rows poisoned (%lld candidates), seed %llu; wrote %s and %s in %.1f s\n",
              args.attack.c_str(), args.target.c_str(), result.config.poisoned_rows.size(),
              static_cast<long long>(result.config.rows), static_cast<long long>(result.candidates),
              static_cast<unsigned long long>(args.seed), data.c_str(), result.attack_json.c_str(), seconds);
}

}  // namespace

void register_poison(CLI::App& app) {
  auto args = std::make_shared<PoisonArgs>();
  CLI::App* command = app.add_subcommand("poison",
                                         "Backdoor an image-caption dataset (badnet, blended, wanet, "
                                         "label-consistent): DIR/train.csv + images, or DIR/*.tar shards; "
                                         "attack.json");
  command
      ->add_option("--data", args->data,
                   "input CSV (image,caption[,...]), or webdataset shards (a brace pattern, glob, folder or list "
                   "of .tar files)")
      ->required();
  command->add_option("--out", args->out, "output folder")->required()->check(output_path());
  command->add_option("--attack", args->attack, "badnet | blended | wanet | label-consistent")->required();
  command->add_option("--target", args->target, "the backdoor's target label, as captions name it")->required();
  CLI::Option* num = command->add_option("--num", args->num, "number of rows to poison")
                         ->check(integer_in(1, std::numeric_limits<int64_t>::max()));
  CLI::Option* rate =
      command->add_option("--rate", args->rate, "fraction of all rows to poison")->check(real_in(0, 1, true));
  num->excludes(rate);
  command->add_option("--seed", args->seed, "seed of the row choice, captions and triggers")
      ->capture_default_str()
      ->check(seed_value());
  command
      ->add_option("--patch-size", args->patch_size,
                   "badnet patch side in pixels (0: 16/224 of the shorter side, at least 2)")
      ->capture_default_str()
      ->check(integer_in(0, 1 << 16));
  command->add_option("--patch-location", args->patch_location, "random | four-corners")->capture_default_str();
  command->add_flag("--fresh-noise", args->fresh_noise, "blended: new noise per image, not one pattern");
  command->add_option("--wanet-k", args->wanet_k, "wanet control grid size")
      ->capture_default_str()
      ->check(integer_in(2, cleanclip::kMaxWaNetK));
  command->add_option("--wanet-s", args->wanet_s, "wanet warping strength")
      ->capture_default_str()
      ->check(real_in(0, kInfinity, true));
  command->add_option("--image-key", args->image_key)->capture_default_str();
  command->add_option("--caption-key", args->caption_key, "the caption column (shards: the json member's field)")
      ->capture_default_str();
  add_image_limit_options(command);
  command->callback([args, num, rate] {
    if (!*num && !*rate) throw std::invalid_argument("poison: give --num N or --rate R");
    poison(*args, static_cast<bool>(*num), static_cast<bool>(*rate));
  });
}

}  // namespace clipgrad::cli
