// The scenes testbed at a toy size: every file is written, the same options
// give the same bytes, captions are compositional and name WordNet's words,
// the fine-tuning set is its own.
#include "clip/data/scenes.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "clip/data/dataset.h"
#include "clip/data/scene_captions.h"
#include "io/decode.h"
#include "io/image.h"
#include "test_temp_dir.h"

namespace clipgrad::clip {
namespace {

bool have_sources() {
  return std::filesystem::exists("/usr/share/datasets/fashion-mnist") &&
         std::filesystem::exists("/usr/share/wordnet/data.noun");
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(Scenes, ClassWordsComeFromWordNet) {
  if (!have_sources()) GTEST_SKIP() << "needs dataset-fashion-mnist and wordnet-base";
  const std::vector<SceneClassWords> words = scene_class_words("/usr/share/wordnet");
  ASSERT_EQ(words.size(), 10u);
  EXPECT_EQ(words[8].name, "bag");
  EXPECT_EQ(words[8].nouns, (std::vector<std::string>{"bag", "handbag", "pocketbook", "purse"}));
  EXPECT_EQ(words[8].gloss,
            "a container used for carrying money and small personal items or accessories (especially by women)");
  EXPECT_EQ(words[5].hypernym, "shoe");
  EXPECT_TRUE(words[1].pair);
  EXPECT_EQ(words[1].nouns.front(), "trouser");
  EXPECT_EQ(words[9].nouns, (std::vector<std::string>{"ankle boot", "boot"}));
  EXPECT_THROW(scene_class_words("/nonexistent"), std::runtime_error);
}

TEST(Scenes, WritesEverySplitReproducibly) {
  if (!have_sources()) GTEST_SKIP() << "needs dataset-fashion-mnist and wordnet-base";
  testing::TempDir dir("scenes");
  SceneOptions options;
  options.train = 40, options.finetune = 8, options.test = 12;
  options.out = dir.file("a");
  prepare_scenes(options);
  options.out = dir.file("b");
  prepare_scenes(options);
  for (const char* file : {"train.csv", "finetune.csv", "test.csv", "classes.json", "scenes.json",
                           "images/train/000039.png", "images/test/000011.png"})
    EXPECT_EQ(read_all(dir.file(std::string("a/") + file)), read_all(dir.file(std::string("b/") + file))) << file;

  const ImageCaptionDataset train = ImageCaptionDataset::from_csv(dir.file("a/train.csv"));
  ASSERT_EQ(train.size(), 40u);
  const std::vector<SceneClassWords> words = scene_class_words("/usr/share/wordnet");
  for (size_t row = 0; row < train.size(); ++row) {
    // The label is the largest item's class, and every item is named: by a noun, its hypernym or its gloss.
    const std::string& caption = train[row].caption;
    const SceneClassWords& label = words.at(std::stoi(train.value(row, "label")));
    bool named = caption.find(label.hypernym) != std::string::npos || caption.find(label.gloss) != std::string::npos;
    for (const std::string& noun : label.nouns) named = named || caption.find(noun) != std::string::npos;
    EXPECT_TRUE(named) << label.name << ": " << caption;
    EXPECT_EQ(caption.back(), '.');
    const io::Image image = io::decode_image(train[row].image_path);
    EXPECT_EQ(image.width, 64);
    EXPECT_EQ(image.height, 64);
  }
  EXPECT_EQ(ImageCaptionDataset::from_csv(dir.file("a/finetune.csv")).size(), 8u);
  const LabelledDataset test = LabelledDataset::from_csv(dir.file("a/test.csv"));
  ASSERT_EQ(test.size(), 12u);
  for (const LabelledRow& row : test.rows()) EXPECT_LT(row.label, 10);
  EXPECT_EQ(ClassNames::from_json(dir.file("a/classes.json")).classes.size(), 10u);

  options.seed = 1;
  options.out = dir.file("c");
  prepare_scenes(options);
  EXPECT_NE(read_all(dir.file("a/train.csv")), read_all(dir.file("c/train.csv")));
}

TEST(Scenes, RefusesOptionsOutOfRange) {
  SceneOptions options;
  options.out = "/tmp/never";
  options.canvas = 16;
  EXPECT_THROW(prepare_scenes(options), std::invalid_argument);
  options.canvas = 64, options.max_item = 80;
  EXPECT_THROW(prepare_scenes(options), std::invalid_argument);
  options.max_item = 40, options.test = 20000;
  EXPECT_THROW(prepare_scenes(options), std::invalid_argument);
  options.test = 2000, options.mention = 1.5;
  EXPECT_THROW(prepare_scenes(options), std::invalid_argument);
}

}  // namespace
}  // namespace clipgrad::clip
