#include "cleanclip/attack/poison.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "cleanclip/attack/trigger.h"
#include "cleanclip/attack/triggers.h"
#include "clip/data/dataset.h"
#include "clip/data/shards.h"
#include "clip/data/templates.h"
#include "io/atomic_file.h"
#include "io/csv.h"
#include "io/decode.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "tensor/random.h"

namespace clipgrad::cleanclip {

namespace fs = std::filesystem;

namespace {

constexpr const char* kBackdoorColumn = "is_backdoor";

bool is_word_byte(unsigned char byte) { return std::isalnum(byte) || byte >= 0x80; }

std::string ascii_lower(std::string text) {
  for (char& byte : text) byte = static_cast<char>(std::tolower(static_cast<unsigned char>(byte)));
  return text;
}

// The image column's value for an unpoisoned row: its original image, relative to the output folder.
std::string path_from_out(const std::string& csv_value, const std::string& resolved, const fs::path& out) {
  if (fs::path(csv_value).is_absolute()) return csv_value;
  fs::path image = fs::absolute(resolved).lexically_normal();
  return image.lexically_relative(fs::absolute(out).lexically_normal()).generic_string();
}

std::string poisoned_image_name(int64_t row) {
  char name[32];
  std::snprintf(name, sizeof name, "images/%06lld.png", static_cast<long long>(row));
  return name;
}

// Poisoning must never overwrite its own input: the CSV, or an image some row points at.
void check_outputs_spare_inputs(const PoisonOptions& options, const clip::ImageCaptionDataset& dataset,
                                const std::vector<int64_t>& poisoned_rows) {
  auto same_file = [](const fs::path& a, const fs::path& b) {
    return fs::weakly_canonical(fs::absolute(a)) == fs::weakly_canonical(fs::absolute(b));
  };
  const fs::path out(options.out);
  if (same_file(out / "train.csv", options.data))
    throw std::invalid_argument("poison: --out " + options.out + " would overwrite the input " + options.data +
                                ": choose another folder");
  std::set<fs::path> inputs;
  for (const auto& row : dataset.rows()) inputs.insert(fs::weakly_canonical(fs::absolute(row.image_path)));
  for (int64_t row : poisoned_rows)
    if (inputs.count(fs::weakly_canonical(fs::absolute(out / poisoned_image_name(row)))))
      throw std::invalid_argument("poison: writing " + (out / poisoned_image_name(row)).string() +
                                  " would overwrite an input image: choose another --out folder");
}

struct Columns {
  int image = 0, caption = 0;
};

// Writes each poisoned row's triggered image (and, for wanet, the flow field) and points its CSV row at
// it, with the target's caption (label-consistent keeps the row's own) and is_backdoor 1.
void write_poisoned_rows(const PoisonOptions& options, const AttackConfig& config, const Trigger& trigger,
                         const clip::ImageCaptionDataset& dataset, Columns columns, const fs::path& out,
                         std::vector<std::vector<std::string>>& out_rows) {
  const int64_t count = static_cast<int64_t>(config.poisoned_rows.size());
  int64_t done = 0;
  for (int64_t row : config.poisoned_rows) {
    io::Image image;
    try {
      image = io::decode_image(dataset[row].image_path);
      trigger.apply(image, training_image_key(row));
    } catch (const std::exception& error) {
      throw std::runtime_error(dataset.where(row) + ": " + error.what());
    }
    // The field for the first poisoned image's size (the trigger recomputes it for any size from the grid).
    if (config.kind == AttackKind::kWaNet && done == 0)
      save_wanet_field(trigger, image.width, image.height, (out / kWaNetFieldFile).string());
    const std::string name = poisoned_image_name(row);
    io::write_png((out / name).string(), image.width, image.height, 3, image.rgb.data());
    std::vector<std::string>& fields = out_rows[row];
    fields[columns.image] = name;
    if (config.kind != AttackKind::kLabelConsistent) fields[columns.caption] = poisoned_caption(config, row);
    fields.back() = std::string("1");  // not = "1": GCC 12 warns (-Wrestrict) on that, wrongly
    ++done;
    if (options.progress) options.progress(done, count);
  }
}

}  // namespace

namespace {

// How many of `rows` rows --num or --rate asks for; throws when that makes no sense.
int64_t rows_to_poison(const PoisonOptions& options, int64_t rows) {
  if (options.num.has_value() == options.rate.has_value())
    throw std::invalid_argument("poison: give exactly one of --num N and --rate R");
  if (options.num) {
    if (*options.num < 1)
      throw std::invalid_argument("poison: --num " + std::to_string(*options.num) + " must be >= 1");
    return *options.num;
  }
  const double rate = *options.rate;
  if (!(rate > 0 && rate <= 1))
    throw std::invalid_argument("poison: --rate " + std::to_string(rate) + " must be in (0, 1]");
  const int64_t count = std::llround(rate * static_cast<double>(rows));
  if (count < 1)
    throw std::invalid_argument("poison: --rate " + std::to_string(rate) + " of " + std::to_string(rows) +
                                " rows poisons no row; raise it or use --num");
  return count;
}

std::vector<int64_t> poison_candidates(const PoisonOptions& options, const std::vector<bool>& names_target,
                                       int64_t count) {
  const AttackConfig& config = options.attack;
  const int64_t rows = static_cast<int64_t>(names_target.size());
  std::vector<int64_t> candidates;
  for (int64_t row = 0; row < rows; ++row)
    if (config.kind != AttackKind::kLabelConsistent || names_target[row]) candidates.push_back(row);
  if (candidates.empty())
    throw std::invalid_argument("poison: no caption in '" + options.data + "' names the target '" + config.target +
                                "' (label-consistent poisons only rows whose caption names it)");
  if (count > static_cast<int64_t>(candidates.size()))
    throw std::invalid_argument("poison: asked to poison " + std::to_string(count) + " rows, but " +
                                (config.kind == AttackKind::kLabelConsistent
                                     ? "only " + std::to_string(candidates.size()) + " captions in '" + options.data +
                                           "' name '" + config.target + "'"
                                     : "'" + options.data + "' has only " + std::to_string(rows) + " rows") +
                                ": lower --num/--rate");
  return candidates;
}

}  // namespace

AttackPlan plan_attack(const PoisonOptions& options, const std::vector<bool>& names_target) {
  const int64_t rows = static_cast<int64_t>(names_target.size());
  const int64_t count = rows_to_poison(options, rows);
  const std::vector<int64_t> candidates = poison_candidates(options, names_target, count);
  AttackConfig config = options.attack;
  config.source = options.data;
  config.rows = rows;
  config.num = options.num;
  config.rate = options.rate;
  config.poisoned_rows = choose_rows(candidates, count, config.seed);
  config.wanet_grid = Trigger(config).wanet_grid();  // saved, so evaluation does not depend on how it was drawn
  return {config, static_cast<int64_t>(candidates.size())};
}

std::string poisoned_caption(const AttackConfig& config, int64_t row) {
  const auto& templates = clip::imagenet_templates();
  Generator generator(stream_seed(config.seed, static_cast<uint64_t>(row), TriggerStream::kCaption));
  return clip::fill_template(templates[generator.below(templates.size())], config.target);
}

void save_wanet_field(const Trigger& trigger, int width, int height, const std::string& path) {
  const AttackConfig& config = trigger.config();
  Tensor field = Tensor::from_vector<float>({height, width, 2}, *trigger.wanet_field(width, height));
  Tensor grid = Tensor::from_vector<float>({2, config.wanet_k, config.wanet_k}, trigger.wanet_grid());
  io::write_safetensors(path, std::map<std::string, Tensor>{{"field", field}, {"grid", grid}},
                        {{"description",
                          "wanet flow field [H, W, (x, y)] in grid_sample's normalised coordinates "
                          "(identity + field, clamped to [-1, 1]); grid: the [2, k, k] control grid"},
                         {"k", std::to_string(config.wanet_k)},
                         {"s", nlohmann::json(config.wanet_s).dump()}});
}

bool caption_names_target(const std::string& caption, const std::string& target) {
  if (target.empty()) return false;
  const std::string text = ascii_lower(caption), word = ascii_lower(target);
  for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    bool starts = at == 0 || !is_word_byte(text[at - 1]);
    size_t end = at + word.size();
    bool ends = end == text.size() || !is_word_byte(text[end]);
    if (starts && ends) return true;
  }
  return false;
}

std::vector<int64_t> choose_rows(std::vector<int64_t> candidates, int64_t count, uint64_t attack_seed) {
  if (count < 0 || count > static_cast<int64_t>(candidates.size()))
    throw std::invalid_argument("choose_rows: " + std::to_string(count) + " of " + std::to_string(candidates.size()));
  Generator generator(stream_seed(attack_seed, 0, TriggerStream::kRowChoice));
  for (int64_t i = 0; i < count; ++i) {
    int64_t pick = i + static_cast<int64_t>(generator.below(candidates.size() - i));
    std::swap(candidates[i], candidates[pick]);
  }
  candidates.resize(count);
  std::sort(candidates.begin(), candidates.end());
  return candidates;
}

PoisonResult poison_dataset(const PoisonOptions& options) {
  if (clip::is_shard_spec(options.data)) return poison_shards(options);
  options.attack.validate();
  auto dataset = clip::ImageCaptionDataset::from_csv(options.data, options.image_key, options.caption_key);
  const io::CsvTable& table = dataset.table();
  if (table.column_index(kBackdoorColumn) >= 0)
    throw std::invalid_argument("poison: '" + options.data + "' already has an " + kBackdoorColumn +
                                " column (is it already poisoned?)");
  const int64_t rows = static_cast<int64_t>(dataset.size());
  if (rows == 0) throw std::invalid_argument("poison: '" + options.data + "' has no rows");
  std::vector<bool> names_target(rows);
  for (int64_t row = 0; row < rows; ++row)
    names_target[row] = caption_names_target(dataset[row].caption, options.attack.target);
  const AttackPlan plan = plan_attack(options, names_target);
  AttackConfig config = plan.config;
  const Trigger trigger(config);

  const fs::path out(options.out);
  check_outputs_spare_inputs(options, dataset, config.poisoned_rows);
  // Made whole beside --out, then put in its place: a failure leaves an earlier output as it was.
  io::StagedFolder staged(options.out, {"train.csv", "attack.json", "images", kWaNetFieldFile});
  const fs::path work(staged.path());
  fs::create_directories(work / "images");
  const int image_column = table.require_column(options.image_key);
  const int caption_column = table.require_column(options.caption_key);
  std::vector<std::string> header = table.header;
  header.push_back(kBackdoorColumn);
  std::vector<std::vector<std::string>> out_rows;
  out_rows.reserve(rows);
  for (int64_t row = 0; row < rows; ++row) {
    out_rows.push_back(table.rows[row]);
    out_rows.back()[image_column] = path_from_out(table.rows[row][image_column], dataset[row].image_path, out);
    out_rows.back().push_back("0");
  }
  write_poisoned_rows(options, config, trigger, dataset, {image_column, caption_column}, work, out_rows);
  io::write_csv((work / "train.csv").string(), header, out_rows);
  config.save((work / "attack.json").string());
  staged.commit();

  PoisonResult result;
  result.train_csv = (out / "train.csv").string();
  result.attack_json = (out / "attack.json").string();
  result.candidates = plan.candidates;
  result.config = config;
  return result;
}

}  // namespace clipgrad::cleanclip
