#include "clip/csv.h"

#include <gtest/gtest.h>

#include <fstream>

#include "clip/dataset.h"
#include "clip/templates.h"
#include "clip/test_temp_dir.h"

namespace clipgrad::clip {
namespace {

using testing::TempDir;

// Runs `body`, which must throw std::runtime_error whose message contains `expected`.
template <class Body>
void expect_error(Body&& body, const std::string& expected) {
  try {
    body();
    FAIL() << "expected an error containing: " << expected;
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find(expected), std::string::npos)
        << "message: " << error.what() << "\nexpected to contain: " << expected;
  }
}

TEST(CsvTest, PlainRowsAndLineNumbers) {
  CsvTable table = parse_csv("image,caption\na.png,a cat\n\nb.png,a dog", "t.csv");
  EXPECT_EQ(table.header, (std::vector<std::string>{"image", "caption"}));
  ASSERT_EQ(table.size(), 2u);
  EXPECT_EQ(table.rows[1], (std::vector<std::string>{"b.png", "a dog"}));
  EXPECT_EQ(table.lines, (std::vector<int64_t>{2, 4}));  // the blank line still counts
  EXPECT_EQ(table.where(1), "t.csv:4");
  EXPECT_EQ(table.column_index("caption"), 1);
  EXPECT_EQ(table.column_index("label"), -1);
}

TEST(CsvTest, QuotedFieldsHoldDelimitersQuotesAndNewlines) {
  CsvTable table = parse_csv(
      "image,caption\n"
      "\"a,b.png\",\"she said \"\"hi\"\"\"\n"
      "c.png,\"two\nlines, with a comma\"\n"
      "d.png,\"\"\n"
      "e.png,\n",
      "t.csv");
  ASSERT_EQ(table.size(), 4u);
  EXPECT_EQ(table.rows[0], (std::vector<std::string>{"a,b.png", "she said \"hi\""}));
  EXPECT_EQ(table.rows[1][1], "two\nlines, with a comma");
  EXPECT_EQ(table.rows[2][1], "");
  EXPECT_EQ(table.rows[3][1], "");
  EXPECT_EQ(table.lines, (std::vector<int64_t>{2, 3, 5, 6}));
}

TEST(CsvTest, CrlfLineEndsAndByteOrderMark) {
  CsvTable table = parse_csv("\xEF\xBB\xBFimage,label\r\na.png,3\r\n\"b\r\n.png\",4\r\n", "t.csv");
  EXPECT_EQ(table.header[0], "image");
  ASSERT_EQ(table.size(), 2u);
  EXPECT_EQ(table.rows[0], (std::vector<std::string>{"a.png", "3"}));
  EXPECT_EQ(table.rows[1][0], "b\r\n.png");  // line breaks inside quotes are kept as written
  EXPECT_EQ(table.rows[1][1], "4");
}

TEST(CsvTest, OtherDelimiters) {
  CsvTable tabs = parse_csv("image\tcaption\na.png\ta, b and c\n", "t.tsv", '\t');
  EXPECT_EQ(tabs.rows[0], (std::vector<std::string>{"a.png", "a, b and c"}));
  CsvTable semicolons = parse_csv("image;caption\n\"x;y.png\";z\n", "t.csv", ';');
  EXPECT_EQ(semicolons.rows[0], (std::vector<std::string>{"x;y.png", "z"}));
}

TEST(CsvTest, ErrorsNameFileAndLine) {
  expect_error([] { parse_csv("image,caption\na.png,ok\nb.png,\"never closed\n\n", "train.csv"); },
               "train.csv:3: unterminated quoted field 2");
  expect_error([] { parse_csv("image,caption\na.png,ok\nb.png\n", "train.csv"); },
               "train.csv:3: expected 2 fields (image,caption), found 1");
  expect_error([] { parse_csv("image,caption\na.png,x,y\n", "train.csv"); }, "train.csv:2: expected 2 fields");
  expect_error([] { parse_csv("image,caption\na.png,it is \"quoted\"\n", "train.csv"); },
               "train.csv:2: stray quote in unquoted field 2");
  expect_error([] { parse_csv("image,caption\n\"a\nb\"x,c\n", "train.csv"); },
               "train.csv:3: unexpected character 'x' after the closing quote of field 1");
  expect_error([] { parse_csv("image,image\n", "train.csv"); }, "train.csv:1: column 'image' appears twice");
  expect_error([] { parse_csv("", "train.csv"); }, "train.csv: empty CSV");
  expect_error([] { read_csv("/no/such/file.csv"); }, "/no/such/file.csv");
}

TEST(CsvTest, WriteThenReadRoundTrips) {
  TempDir dir("csv");
  std::vector<std::vector<std::string>> rows = {{"a.png", "plain"}, {"b,c.png", "with \"quotes\"\nand a newline"}};
  write_csv(dir.file("out.csv"), {"image", "caption"}, rows);
  CsvTable table = read_csv(dir.file("out.csv"));
  EXPECT_EQ(table.rows, rows);
  EXPECT_EQ(csv_quote("x\ty", '\t'), "\"x\ty\"");
  EXPECT_EQ(csv_quote("plain"), "plain");
}

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

}  // namespace
}  // namespace clipgrad::clip
