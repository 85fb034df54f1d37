// poison_dataset on a tiny dataset: which rows are chosen (label-consistent:
// only captions naming the target), what changes in train.csv and what does
// not, the triggered PNGs, and the errors.
#include "cleanclip/attack/poison.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "cleanclip/attack/trigger.h"
#include "clip/data/dataset.h"
#include "clip/data/templates.h"
#include "io/csv.h"
#include "io/decode.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "poison_test_support.h"
#include "test_temp_dir.h"

namespace clipgrad::cleanclip {
namespace {

namespace fs = std::filesystem;

// 30 8x6 images; every third caption names a bag. An extra column rides along.
void make_dataset(const testing::TempDir& dir) {
  fs::create_directories(dir.path() / "data" / "images");
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < 30; ++i) {
    io::Image image(8, 6);
    for (size_t p = 0; p < image.rgb.size(); ++p) image.rgb[p] = static_cast<uint8_t>(p * 5 + i * 9);
    std::string name = "images/" + std::to_string(i) + ".png";
    io::write_png((dir.path() / "data" / name).string(), 8, 6, 3, image.rgb.data());
    std::string caption = i % 3 == 0 ? "a Bag, photo " + std::to_string(i) : "a handbag, not it, " + std::to_string(i);
    rows.push_back({name, caption, "extra," + std::to_string(i)});
  }
  io::write_csv(dir.file("data/train.csv"), {"image", "caption", "note"}, rows);
}

PoisonOptions options_for(const testing::TempDir& dir, AttackKind kind, int64_t num) {
  return bag_attack(dir.file("data/train.csv"), dir.file("out"), kind, num);
}

std::string message_of(const PoisonOptions& options) { return poison_error(options); }

TEST(CaptionNamesTarget, WholeWordsIgnoringCase) {
  EXPECT_TRUE(caption_names_target("A Bag.", "bag"));
  EXPECT_TRUE(caption_names_target("bag", "bag"));
  EXPECT_TRUE(caption_names_target("an ankle boot, worn", "Ankle Boot"));
  EXPECT_FALSE(caption_names_target("a handbag", "bag"));
  EXPECT_FALSE(caption_names_target("baggage", "bag"));
  EXPECT_FALSE(caption_names_target("a boot", "ankle boot"));
  EXPECT_TRUE(caption_names_target("handbag and bag", "bag"));  // a later occurrence counts
}

TEST(ChooseRows, DistinctAscendingSeededAndUniform) {
  std::vector<int64_t> candidates = {2, 4, 6, 8, 10, 12, 14, 16};
  std::vector<int64_t> chosen = choose_rows(candidates, 3, 1);
  EXPECT_EQ(chosen, choose_rows(candidates, 3, 1));
  ASSERT_EQ(chosen.size(), 3u);
  EXPECT_TRUE(std::is_sorted(chosen.begin(), chosen.end()));
  EXPECT_EQ(std::set<int64_t>(chosen.begin(), chosen.end()).size(), 3u);
  std::map<int64_t, int> counts;
  for (uint64_t seed = 0; seed < 800; ++seed)
    for (int64_t row : choose_rows(candidates, 3, seed)) ++counts[row];
  ASSERT_EQ(counts.size(), 8u);                                                 // only candidates, each of them
  for (auto [row, count] : counts) EXPECT_NEAR(count, 800 * 3 / 8, 60) << row;  // 300 +- 4.5 sigma
  EXPECT_THROW(choose_rows(candidates, 9, 1), std::invalid_argument);
}

TEST(Poison, LabelConsistentTriggersOnlyRowsNamingTheTargetAndKeepsCaptions) {
  testing::TempDir dir("poison_lc");
  make_dataset(dir);
  PoisonResult result = poison_dataset(options_for(dir, AttackKind::kLabelConsistent, 4));
  EXPECT_EQ(result.candidates, 10);
  ASSERT_EQ(result.config.poisoned_rows.size(), 4u);
  auto input = clip::ImageCaptionDataset::from_csv(dir.file("data/train.csv"));
  auto output = clip::ImageCaptionDataset::from_csv(result.train_csv);
  std::set<int64_t> poisoned(result.config.poisoned_rows.begin(), result.config.poisoned_rows.end());
  ASSERT_EQ(output.size(), 30u);
  for (int64_t row = 0; row < 30; ++row) {
    const bool is_poisoned = poisoned.count(row) > 0;
    if (is_poisoned) EXPECT_EQ(row % 3, 0) << row;
    EXPECT_EQ(output.value(row, "is_backdoor"), is_poisoned ? "1" : "0");
    EXPECT_EQ(output[row].caption, input[row].caption);  // kept, even when poisoned
    EXPECT_EQ(output.value(row, "note"), input.value(row, "note"));
  }
}

TEST(Poison, BadNetWritesTriggeredPngsAndTargetCaptions) {
  testing::TempDir dir("poison_badnet");
  make_dataset(dir);
  PoisonResult result = poison_dataset(options_for(dir, AttackKind::kBadNet, 6));
  EXPECT_EQ(result.candidates, 30);
  auto input = clip::ImageCaptionDataset::from_csv(dir.file("data/train.csv"));
  auto output = clip::ImageCaptionDataset::from_csv(result.train_csv);
  EXPECT_EQ(output.columns(), (std::vector<std::string>{"image", "caption", "note", "is_backdoor"}));
  const Trigger trigger(result.config);
  std::set<std::string> captions;
  for (int64_t row : result.config.poisoned_rows) {
    EXPECT_EQ(output.value(row, "is_backdoor"), "1");
    EXPECT_TRUE(output.value(row, "image").rfind("images/", 0) == 0) << output.value(row, "image");
    // The PNG is the original with the trigger keyed by its row.
    io::Image expected = io::decode_image(input[row].image_path);
    trigger.apply(expected, training_image_key(row));
    EXPECT_EQ(io::decode_image(output[row].image_path).rgb, expected.rgb) << row;
    bool from_template = false;
    for (const auto& prompt_template : clip::imagenet_templates())
      from_template |= output[row].caption == clip::fill_template(prompt_template, "bag");
    EXPECT_TRUE(from_template) << output[row].caption;
    captions.insert(output[row].caption);
  }
  EXPECT_GT(captions.size(), 1u);  // a random template per row
  for (int64_t row = 0; row < 30; ++row) {
    if (output.value(row, "is_backdoor") == "1") continue;
    EXPECT_EQ(output[row].caption, input[row].caption);
    EXPECT_EQ(output.value(row, "image"), "../data/" + input.value(row, "image"));
    EXPECT_EQ(fs::canonical(output[row].image_path), fs::canonical(input[row].image_path));
  }
  AttackConfig saved = AttackConfig::load(result.attack_json);
  EXPECT_EQ(saved.poisoned_rows, result.config.poisoned_rows);
  EXPECT_EQ(saved.rows, 30);
  EXPECT_EQ(saved.num, 6);
}

TEST(Poison, RateIsAFractionOfAllRowsAndWaNetSavesItsField) {
  testing::TempDir dir("poison_wanet");
  make_dataset(dir);
  PoisonOptions options = options_for(dir, AttackKind::kWaNet, 0);
  options.num.reset();
  options.rate = 0.2;
  PoisonResult result = poison_dataset(options);
  EXPECT_EQ(result.config.poisoned_rows.size(), 6u);
  EXPECT_EQ(result.config.wanet_grid.size(), 32u);
  io::SafetensorsFile field = io::read_safetensors(dir.file("out/wanet_field.safetensors"));
  EXPECT_EQ(field.at("field").shape(), (Shape{6, 8, 2}));
  EXPECT_EQ(field.at("grid").shape(), (Shape{2, 4, 4}));
  const float* saved = field.at("field").data<float>();
  auto expected = Trigger(result.config).wanet_field(8, 6);
  EXPECT_TRUE(std::equal(expected->begin(), expected->end(), saved));
}

TEST(Poison, ErrorsSayWhatIsWrong) {
  testing::TempDir dir("poison_errors");
  make_dataset(dir);
  EXPECT_NE(message_of(options_for(dir, AttackKind::kLabelConsistent, 11)).find("only 10 captions"), std::string::npos);
  EXPECT_NE(message_of(options_for(dir, AttackKind::kBadNet, 31)).find("has only 30 rows"), std::string::npos);
  PoisonOptions nobody = options_for(dir, AttackKind::kLabelConsistent, 1);
  nobody.attack.target = "sandal";
  EXPECT_NE(message_of(nobody).find("no caption"), std::string::npos) << message_of(nobody);
  PoisonOptions both = options_for(dir, AttackKind::kBadNet, 1);
  both.rate = 0.5;
  EXPECT_NE(message_of(both).find("exactly one"), std::string::npos);
  PoisonOptions tiny_rate = options_for(dir, AttackKind::kBadNet, 1);
  tiny_rate.num.reset();
  tiny_rate.rate = 0.001;
  EXPECT_NE(message_of(tiny_rate).find("poisons no row"), std::string::npos);
  PoisonOptions in_place = options_for(dir, AttackKind::kBadNet, 2);
  in_place.out = dir.file("data");  // would overwrite data/train.csv
  EXPECT_NE(message_of(in_place).find("would overwrite the input"), std::string::npos) << message_of(in_place);
  PoisonOptions big_patch = options_for(dir, AttackKind::kBadNet, 2);
  big_patch.attack.patch_size = 7;  // the images are 8x6
  std::string message = message_of(big_patch);
  EXPECT_NE(message.find("train.csv:"), std::string::npos) << message;
  EXPECT_NE(message.find("does not fit"), std::string::npos) << message;
}

}  // namespace
}  // namespace clipgrad::cleanclip
