// `clipgrad data fashion-mnist` end to end: the built binary on the installed
// IDX files, then the CSVs, PNGs and classes.json it wrote.
#include <gtest/gtest.h>
#include <stb_image.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "cli/run_clipgrad.h"
#include "clip/data/dataset.h"
#include "io/decode.h"
#include "io/image.h"
#include "clip/data/templates.h"

namespace clipgrad::clip {
namespace {

namespace fs = std::filesystem;

const char* kSource = "/usr/share/datasets/fashion-mnist";

using clipgrad::testing::CommandResult;
using clipgrad::testing::run_clipgrad;

// The first `bytes` bytes after the IDX header of a gzipped IDX file.
std::vector<uint8_t> idx_payload(const std::string& path, size_t header_bytes, size_t bytes) {
  gzFile file = gzopen(path.c_str(), "rb");
  EXPECT_NE(file, nullptr) << path;
  std::vector<uint8_t> data(header_bytes + bytes);
  EXPECT_EQ(gzread(file, data.data(), static_cast<unsigned>(data.size())), static_cast<int>(data.size()));
  gzclose(file);
  return {data.begin() + static_cast<long>(header_bytes), data.end()};
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

class DataCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::is_directory(kSource)) GTEST_SKIP() << kSource << " is absent (apt-get install dataset-fashion-mnist)";
    out_ = fs::path(::testing::TempDir()) / ("clipgrad_data_cli_" + std::to_string(::getpid()));
    fs::remove_all(out_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(out_, ignored);
  }
  fs::path out_;
};

TEST_F(DataCli, FashionMnistWritesPngsCsvsAndClassNames) {
  CommandResult result =
      run_clipgrad("data fashion-mnist --out '" + out_.string() + "' --train-limit 50 --test-limit 20");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("50 train + 20 test images"), std::string::npos) << result.output;

  auto train = ImageCaptionDataset::from_csv((out_ / "train.csv").string());
  auto test = LabelledDataset::from_csv((out_ / "test.csv").string());
  ASSERT_EQ(train.size(), 50u);
  ASSERT_EQ(test.size(), 20u);
  EXPECT_EQ(train.value(0, "image"), "images/train/00000.png");  // relative to the CSV
  EXPECT_EQ(test.value(19, "image"), "images/test/00019.png");

  // The PNG is the 28x28 grayscale IDX image itself.
  int width = 0, height = 0, channels = 0;
  ASSERT_TRUE(stbi_info(train[0].image_path.c_str(), &width, &height, &channels));
  EXPECT_EQ(width, 28);
  EXPECT_EQ(height, 28);
  EXPECT_EQ(channels, 1);
  std::vector<uint8_t> pixels = idx_payload(std::string(kSource) + "/train-images-idx3-ubyte.gz", 16, 28 * 28);
  io::Image decoded = io::decode_image(train[0].image_path);
  for (int i = 0; i < 28 * 28; ++i) ASSERT_EQ(decoded.rgb[i * 3], pixels[i]) << i;

  // Labels match the IDX labels; captions are a template filled with a name of the class.
  std::vector<uint8_t> test_labels = idx_payload(std::string(kSource) + "/t10k-labels-idx1-ubyte.gz", 8, 20);
  for (size_t i = 0; i < test.size(); ++i) EXPECT_EQ(test[i].label, test_labels[i]) << i;
  std::vector<uint8_t> train_labels = idx_payload(std::string(kSource) + "/train-labels-idx1-ubyte.gz", 8, 50);
  auto train_labelled = LabelledDataset::from_csv((out_ / "train.csv").string());  // its extra label column
  for (size_t i = 0; i < train_labelled.size(); ++i) EXPECT_EQ(train_labelled[i].label, train_labels[i]) << i;
  const std::vector<std::vector<std::string>> names = {{"t-shirt", "top", "tee"},
                                                       {"trousers", "pants"},
                                                       {"pullover", "sweater", "jumper"},
                                                       {"dress"},
                                                       {"coat", "jacket"},
                                                       {"sandal"},
                                                       {"shirt", "button-up shirt"},
                                                       {"sneaker", "running shoe", "trainer"},
                                                       {"bag", "handbag"},
                                                       {"ankle boot", "boot"}};
  std::set<std::string> distinct;
  for (size_t i = 0; i < train.size(); ++i) {
    bool found = false;
    for (const auto& prompt_template : imagenet_templates())
      for (const auto& name : names[train_labels[i]]) found |= fill_template(prompt_template, name) == train[i].caption;
    EXPECT_TRUE(found) << "row " << i << ": '" << train[i].caption << "' for label " << int(train_labels[i]);
    distinct.insert(train[i].caption);
  }
  EXPECT_GT(distinct.size(), 25u);  // varied, not one caption per class

  ClassNames classes = ClassNames::from_json((out_ / "classes.json").string());
  EXPECT_EQ(classes.classes, (std::vector<std::string>{"t-shirt", "trousers", "pullover", "dress", "coat", "sandal",
                                                       "shirt", "sneaker", "bag", "ankle boot"}));
  EXPECT_EQ(classes.templates, imagenet_templates());
  // The zero-shot name of each class is a word its captions use, so training sees it.
  for (size_t c = 0; c < classes.classes.size(); ++c)
    EXPECT_NE(std::find(names[c].begin(), names[c].end(), classes.classes[c]), names[c].end()) << classes.classes[c];

  // Same seed, same captions.
  std::string first = slurp(out_ / "train.csv");
  result = run_clipgrad("data fashion-mnist --out '" + out_.string() + "' --train-limit 50 --test-limit 20");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(slurp(out_ / "train.csv"), first);
}

TEST_F(DataCli, MissingSourceSaysHowToInstall) {
  CommandResult result =
      run_clipgrad("data fashion-mnist --out '" + out_.string() + "' --source /nonexistent/fashion-mnist");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("Fashion-MNIST not found in /nonexistent/fashion-mnist: install it with "
                               "`apt-get install dataset-fashion-mnist`"),
            std::string::npos)
      << result.output;
}

}  // namespace
}  // namespace clipgrad::clip
