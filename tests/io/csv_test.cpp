#include "io/csv.h"

#include <gtest/gtest.h>

#include <fstream>

#include "expect_error.h"
#include "test_temp_dir.h"

namespace clipgrad::io {
namespace {

using testing::TempDir;

using testing::expect_error;

TEST(CsvTest, PlainRowsAndLineNumbers) {
  io::CsvTable table = io::parse_csv("image,caption\na.png,a cat\n\nb.png,a dog", "t.csv");
  EXPECT_EQ(table.header, (std::vector<std::string>{"image", "caption"}));
  ASSERT_EQ(table.size(), 2u);
  EXPECT_EQ(table.rows[1], (std::vector<std::string>{"b.png", "a dog"}));
  EXPECT_EQ(table.lines, (std::vector<int64_t>{2, 4}));  // the blank line still counts
  EXPECT_EQ(table.where(1), "t.csv:4");
  EXPECT_EQ(table.column_index("caption"), 1);
  EXPECT_EQ(table.column_index("label"), -1);
}

TEST(CsvTest, QuotedFieldsHoldDelimitersQuotesAndNewlines) {
  io::CsvTable table = io::parse_csv(
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
  io::CsvTable table = io::parse_csv("\xEF\xBB\xBFimage,label\r\na.png,3\r\n\"b\r\n.png\",4\r\n", "t.csv");
  EXPECT_EQ(table.header[0], "image");
  ASSERT_EQ(table.size(), 2u);
  EXPECT_EQ(table.rows[0], (std::vector<std::string>{"a.png", "3"}));
  EXPECT_EQ(table.rows[1][0], "b\r\n.png");  // line breaks inside quotes are kept as written
  EXPECT_EQ(table.rows[1][1], "4");
}

TEST(CsvTest, OtherDelimiters) {
  io::CsvTable tabs = io::parse_csv("image\tcaption\na.png\ta, b and c\n", "t.tsv", '\t');
  EXPECT_EQ(tabs.rows[0], (std::vector<std::string>{"a.png", "a, b and c"}));
  io::CsvTable semicolons = io::parse_csv("image;caption\n\"x;y.png\";z\n", "t.csv", ';');
  EXPECT_EQ(semicolons.rows[0], (std::vector<std::string>{"x;y.png", "z"}));
}

TEST(CsvTest, ErrorsNameFileAndLine) {
  expect_error([] { io::parse_csv("image,caption\na.png,ok\nb.png,\"never closed\n\n", "train.csv"); },
               "train.csv:3: unterminated quoted field 2");
  expect_error([] { io::parse_csv("image,caption\na.png,ok\nb.png\n", "train.csv"); },
               "train.csv:3: expected 2 fields (image,caption), found 1");
  expect_error([] { io::parse_csv("image,caption\na.png,x,y\n", "train.csv"); }, "train.csv:2: expected 2 fields");
  expect_error([] { io::parse_csv("image,caption\na.png,it is \"quoted\"\n", "train.csv"); },
               "train.csv:2: stray quote in unquoted field 2");
  expect_error([] { io::parse_csv("image,caption\n\"a\nb\"x,c\n", "train.csv"); },
               "train.csv:3: unexpected character 'x' after the closing quote of field 1");
  expect_error([] { io::parse_csv("image,image\n", "train.csv"); }, "train.csv:1: column 'image' appears twice");
  expect_error([] { io::parse_csv("", "train.csv"); }, "train.csv: empty CSV");
  expect_error([] { io::read_csv("/no/such/file.csv"); }, "/no/such/file.csv");
}

TEST(CsvTest, WriteThenReadRoundTrips) {
  TempDir dir("csv");
  std::vector<std::vector<std::string>> rows = {{"a.png", "plain"}, {"b,c.png", "with \"quotes\"\nand a newline"}};
  io::write_csv(dir.file("out.csv"), {"image", "caption"}, rows);
  io::CsvTable table = io::read_csv(dir.file("out.csv"));
  EXPECT_EQ(table.rows, rows);
  EXPECT_EQ(io::csv_quote("x\ty", '\t'), "\"x\ty\"");
  EXPECT_EQ(io::csv_quote("plain"), "plain");
}

}  // namespace
}  // namespace clipgrad::io
