// Poisoning webdataset shards: poison_shards (cleanclip/attack/poison.h). A first
// read finds the rows (samples, numbered over the shards as the loader reads them)
// and their captions; the second copies every shard member by member, changing only
// the chosen samples.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "cleanclip/attack/poison.h"
#include "clip/data/shards.h"
#include "io/atomic_file.h"
#include "io/decode.h"
#include "io/jpeg.h"
#include "io/json.h"
#include "io/tar.h"

namespace clipgrad::cleanclip {

namespace fs = std::filesystem;

namespace {

// The JPEG quality a poisoned JPEG (or WebP) is re-encoded at: img2dataset's default.
constexpr int kJpegQuality = 95;

// What the first read of the shards finds.
struct ShardSurvey {
  std::vector<std::string> shards;  // the expanded spec
  std::vector<int64_t> samples;     // per shard
  std::vector<bool> names_target;   // per row: its caption names the target
};

ShardSurvey survey_shards(const PoisonOptions& options) {
  ShardSurvey survey;
  survey.shards = clip::expand_shard_spec(options.data);
  clip::ShardReadOptions read;
  read.caption_key = options.caption_key;
  read.strict = true;  // a skipped sample would renumber the rows after it
  for (size_t shard = 0; shard < survey.shards.size(); ++shard) {
    int64_t samples = 0;
    try {
      clip::read_shard(survey.shards[shard], static_cast<int64_t>(shard), read, [&](clip::ShardSample&& sample) {
        survey.names_target.push_back(caption_names_target(sample.caption, options.attack.target));
        ++samples;
      });
    } catch (const std::exception& error) {
      throw std::runtime_error(std::string("poison: ") + error.what() +
                               "; poison takes no bad sample (skipping one would renumber the rows after it)");
    }
    survey.samples.push_back(samples);
  }
  return survey;
}

// Poisoning must never replace its own input: no input shard may lie inside --out.
void check_outputs_spare_inputs(const std::vector<std::string>& shards, const std::string& out) {
  const fs::path folder = fs::weakly_canonical(fs::absolute(out));
  for (const std::string& shard : shards) {
    const fs::path relative = fs::weakly_canonical(fs::absolute(shard)).lexically_relative(folder);
    if (!relative.empty() && *relative.begin() != "..")
      throw std::invalid_argument("poison: --out " + out + " holds the input shard " + shard +
                                  ": choose another folder");
  }
}

struct Member {
  std::string name, data;
};

bool is_png(const std::string& data) { return data.rfind("\x89PNG\r\n\x1a\n", 0) == 0; }

// Writes input shards as output shards, poisoning the chosen rows.
class ShardPoisoner {
 public:
  ShardPoisoner(const PoisonOptions& options, AttackConfig& config, const Trigger& trigger, fs::path work)
      : options_(options), config_(config), trigger_(trigger), work_(std::move(work)) {}

  // Copies shard number `shard` (rows first_row, ...) to work/shard_name(shard); returns its sample count.
  int64_t copy_shard(const std::string& input, int64_t shard, int64_t first_row) {
    std::ifstream file(input, std::ios::binary);
    if (!file) throw std::runtime_error("poison: cannot open the shard '" + input + "'");
    const std::string name = clip::shard_name(shard), path = (work_ / name).string();
    std::ofstream out(path, std::ios::binary);
    if (!out) throw std::runtime_error("poison: cannot create '" + path + "'");
    io::TarReader tar(file, input);
    io::TarWriter writer(out);
    std::vector<Member> members;  // the current sample's, in order
    std::string key;
    int64_t ordinal = 0;
    auto flush = [&] {
      if (members.empty()) return;
      const int64_t row = first_row + ordinal++;
      if (std::binary_search(config_.poisoned_rows.begin(), config_.poisoned_rows.end(), row)) {
        poison_sample(members, key, row, input + ": key " + key);
        config_.poisoned_keys.emplace_back(name, key);
      }
      for (const Member& member : members) writer.add(member.name, member.data);
      members.clear();
    };
    for (io::TarEntry entry; tar.next(entry);) {
      if (entry.kind != io::TarEntry::File)
        throw std::runtime_error("poison: " + input + ": member '" + entry.name + "': " + entry.reason +
                                 " (the shard changed since it was first read)");
      const clip::MemberName member = clip::split_member_name(entry.name);
      if (members.empty() || member.key != key) flush(), key = member.key;
      members.push_back({entry.name, std::move(entry.data)});
    }
    flush();
    writer.finish();
    out.close();
    if (!out) throw std::runtime_error("poison: cannot write '" + path + "' (is the disk full?)");
    return ordinal;
  }

 private:
  // Replaces the image member of row `row` by its triggered image and, but for label-consistent,
  // its captions by the target's; marks its json member (adding one) "is_backdoor": true.
  void poison_sample(std::vector<Member>& members, const std::string& key, int64_t row, const std::string& where) {
    Member& image_member = the_image_member(members, where);
    io::Image image;
    try {
      image = io::decode_image_bytes(reinterpret_cast<const uint8_t*>(image_member.data.data()),
                                     image_member.data.size(), where);
      trigger_.apply(image, training_image_key(row));
    } catch (const std::exception& error) {
      throw std::runtime_error("poison: " + where + ": " + error.what());
    }
    if (config_.kind == AttackKind::kWaNet && done_ == 0)
      save_wanet_field(trigger_, image.width, image.height, (work_ / kWaNetFieldFile).string());
    image_member = encode_like(image, image_member, key, where);
    const bool relabel = config_.kind != AttackKind::kLabelConsistent;
    const std::string caption = relabel ? poisoned_caption(config_, row) : "";
    bool has_json = false;
    for (Member& member : members) {
      const std::string extension = clip::split_member_name(member.name).extension;
      if (extension == "txt" && relabel) member.data = caption;
      if (extension != "json") continue;
      has_json = true;
      nlohmann::json document = io::parse_json(member.data, where + " json member");
      if (!document.is_object()) throw std::runtime_error("poison: " + where + ": the json member is not an object");
      if (relabel && document.contains(options_.caption_key) && document[options_.caption_key].is_string())
        document[options_.caption_key] = caption;
      document["is_backdoor"] = true;
      member.data = document.dump();
    }
    if (!has_json) members.push_back({key + ".json", nlohmann::json{{"is_backdoor", true}}.dump()});
    ++done_;
    if (options_.progress) options_.progress(done_, static_cast<int64_t>(config_.poisoned_rows.size()));
  }

  // The sample's one image member (jpg, jpeg, png or webp); with two, which one a reader takes is not clear.
  static Member& the_image_member(std::vector<Member>& members, const std::string& where) {
    Member* image = nullptr;
    for (Member& member : members) {
      if (!clip::is_image_extension(clip::split_member_name(member.name).extension)) continue;
      if (image)
        throw std::runtime_error("poison: " + where + ": two image members ('" + image->name + "', '" + member.name +
                                 "'); poison changes a sample of one image");
      image = &member;
    }
    if (!image) throw std::runtime_error("poison: " + where + ": no image member");
    return *image;
  }

  // The triggered image in the source's format: PNG stays PNG (lossless), the rest becomes JPEG.
  static Member encode_like(const io::Image& image, const Member& source, const std::string& key,
                            const std::string& where) {
    if (is_png(source.data))
      return {key + ".png", io::encode_png(image.width, image.height, 3, image.rgb.data(), where)};
    const std::string extension = clip::split_member_name(source.name).extension;
    return {extension == "jpeg" ? source.name : key + ".jpg", io::encode_jpeg(image, kJpegQuality)};
  }

  const PoisonOptions& options_;
  AttackConfig& config_;
  const Trigger& trigger_;
  const fs::path work_;
  int64_t done_ = 0;
};

}  // namespace

PoisonResult poison_shards(const PoisonOptions& options) {
  options.attack.validate();
  const ShardSurvey survey = survey_shards(options);
  const int64_t rows = static_cast<int64_t>(survey.names_target.size());
  if (rows == 0) throw std::invalid_argument("poison: the shards of '" + options.data + "' hold no sample");
  const AttackPlan plan = plan_attack(options, survey.names_target);
  AttackConfig config = plan.config;
  const Trigger trigger(config);
  check_outputs_spare_inputs(survey.shards, options.out);

  std::vector<std::string> names =
      clip::shard_names_to_replace(options.out, static_cast<int64_t>(survey.shards.size()));
  names.insert(names.end(), {"sizes.json", "attack.json", kWaNetFieldFile});
  io::StagedFolder staged(options.out, names);  // written whole; replaces only an earlier poison's shards
  ShardPoisoner poisoner(options, config, trigger, staged.path());
  nlohmann::json sizes = nlohmann::json::object();
  PoisonResult result;
  for (int64_t shard = 0, first_row = 0; shard < static_cast<int64_t>(survey.shards.size()); ++shard) {
    const int64_t samples = poisoner.copy_shard(survey.shards[shard], shard, first_row);
    if (samples != survey.samples[shard])
      throw std::runtime_error("poison: '" + survey.shards[shard] + "' changed while it was read: " +
                               std::to_string(survey.samples[shard]) + " samples, then " + std::to_string(samples));
    sizes[clip::shard_name(shard)] = samples;
    result.shards.push_back((fs::path(options.out) / clip::shard_name(shard)).string());
    first_row += samples;
  }
  io::write_file_atomic((fs::path(staged.path()) / "sizes.json").string(), sizes.dump(1) + "\n");
  config.save((fs::path(staged.path()) / "attack.json").string());
  staged.commit();

  result.attack_json = (fs::path(options.out) / "attack.json").string();
  result.candidates = plan.candidates;
  result.config = config;
  return result;
}

}  // namespace clipgrad::cleanclip
