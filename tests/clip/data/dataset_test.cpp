#include "clip/data/dataset.h"

#include <gtest/gtest.h>

#include <fstream>

#include "clip/data/templates.h"
#include "expect_error.h"
#include "test_temp_dir.h"

namespace clipgrad::clip {
namespace {

using testing::TempDir;

using testing::expect_error;

TEST(DatasetTest, ImageCaptionRowsResolveAgainstTheCsvFolder) {
  TempDir dir("dataset");
  std::ofstream(dir.file("train.csv")) << "image,caption,is_backdoor\nimages/a.png,a cat,0\n/abs/b.png,\"a, dog\",1\n";
  auto dataset = ImageCaptionDataset::from_csv(dir.file("train.csv"));
  ASSERT_EQ(dataset.size(), 2u);
  EXPECT_EQ(dataset[0].image_path, (dir.path() / "images/a.png").string());
  EXPECT_EQ(dataset[1].image_path, "/abs/b.png");
  EXPECT_EQ(dataset[1].caption, "a, dog");
  EXPECT_EQ(dataset[1].line, 3);
  EXPECT_TRUE(dataset.has_column("is_backdoor"));
  EXPECT_EQ(dataset.value(1, "is_backdoor"), "1");
  EXPECT_EQ(dataset.column("is_backdoor"), (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(dataset.where(0), dir.file("train.csv") + ":2");
  expect_error([&] { ImageCaptionDataset::from_csv(dir.file("train.csv"), "image", "text"); },
               dir.file("train.csv") + ": no column 'text'");
  expect_error([&] { dataset.value(0, "missing"); }, "no column 'missing'");
}

TEST(DatasetTest, LabelledRowsNeedIntegerLabels) {
  TempDir dir("dataset");
  std::ofstream(dir.file("test.csv")) << "path;class\nx.png;3\ny.png;0\n";
  auto dataset = LabelledDataset::from_csv(dir.file("test.csv"), "path", "class", ';');
  ASSERT_EQ(dataset.size(), 2u);
  EXPECT_EQ(dataset[0].label, 3);
  EXPECT_EQ(dataset[1].image_path, (dir.path() / "y.png").string());
  std::ofstream(dir.file("bad.csv")) << "image,label\nx.png,1\ny.png,cat\n";
  expect_error([&] { LabelledDataset::from_csv(dir.file("bad.csv")); },
               dir.file("bad.csv") + ":3: label 'cat' in column 'label'");
}

TEST(DatasetTest, ClassNamesWithAndWithoutTemplates) {
  TempDir dir("dataset");
  std::ofstream(dir.file("with.json")) << R"({"classes": ["cat", "ankle boot"], "templates": ["a photo of a {}."]})";
  ClassNames with = ClassNames::from_json(dir.file("with.json"));
  EXPECT_EQ(with.classes, (std::vector<std::string>{"cat", "ankle boot"}));
  EXPECT_EQ(with.prompts(1), (std::vector<std::string>{"a photo of a ankle boot."}));

  std::ofstream(dir.file("without.json")) << R"({"classes": ["cat"]})";
  ClassNames without = ClassNames::from_json(dir.file("without.json"));
  ASSERT_EQ(without.templates.size(), 80u);
  EXPECT_EQ(without.templates, imagenet_templates());
  EXPECT_EQ(without.prompts(0).front(), "a bad photo of a cat.");
  EXPECT_EQ(without.prompts(0).back(), "a tattoo of the cat.");

  without.save_json(dir.file("saved.json"));
  EXPECT_EQ(ClassNames::from_json(dir.file("saved.json")).templates, without.templates);

  std::ofstream(dir.file("bad.json")) << R"({"classes": ["cat"], "templates": ["no slot"]})";
  expect_error([&] { ClassNames::from_json(dir.file("bad.json")); }, "template 'no slot' has no '{}'");
  std::ofstream(dir.file("empty.json")) << R"({"templates": ["{}"]})";
  expect_error([&] { ClassNames::from_json(dir.file("empty.json")); }, "needs an object with \"classes\"");
}

// Two classes of one name tie on every image; a template with two slots is refused, as Python's format does.
TEST(DatasetTest, ClassNamesAreDistinctAndTemplatesHaveOneSlot) {
  TempDir dir("dataset");
  std::ofstream(dir.file("twice.json")) << R"({"classes": ["cat", "dog", "cat"]})";
  expect_error([&] { ClassNames::from_json(dir.file("twice.json")); }, "class 2 'cat' appears twice");
  std::ofstream(dir.file("two_slots.json")) << R"({"classes": ["cat"], "templates": ["a {} and a {}."]})";
  expect_error([&] { ClassNames::from_json(dir.file("two_slots.json")); },
               "template 'a {} and a {}.' has more than one '{}'");
}

// A value nested 100,000 deep overflowed the stack in nlohmann's recursive dump(); the parse refuses it.
TEST(DatasetTest, DeeplyNestedClassNamesAreRefused) {
  TempDir dir("dataset");
  std::ofstream(dir.file("deep.json")) << R"({"classes": [)" << std::string(100000, '[') << std::string(100000, ']')
                                       << "]}";
  expect_error([&] { ClassNames::from_json(dir.file("deep.json")); }, "nests arrays and objects deeper than 64");
  std::ofstream(dir.file("long.json")) << R"({"classes": [[")" << std::string(100000, 'x') << R"("]]})";
  try {
    ClassNames::from_json(dir.file("long.json"));
    FAIL() << "a list among the classes was accepted";
  } catch (const std::runtime_error& error) {
    EXPECT_LT(std::string(error.what()).size(), 300u) << "the error quotes the whole value";
  }
}

TEST(DatasetTest, LabelsOutsideTheClassesNameTheRow) {
  TempDir dir("dataset");
  std::ofstream(dir.file("test.csv")) << "image,label\nx.png,1\ny.png,12\n";
  auto dataset = LabelledDataset::from_csv(dir.file("test.csv"));
  dataset.check_labels(13, "classes.json");
  expect_error([&] { dataset.check_labels(10, "classes.json"); },
               dir.file("test.csv") + ":3: label 12 is not one of the 10 classes of 'classes.json'");
}

}  // namespace
}  // namespace clipgrad::clip
