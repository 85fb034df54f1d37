// Reading metrics.jsonl into loss curves: parts, repeated steps of a resumed
// run, missing values, and the errors for lines that are not metrics.
#include "cleanclip/report/loss_curves.h"

#include <gtest/gtest.h>

#include "io/atomic_file.h"
#include "test_temp_dir.h"

namespace clipgrad::cleanclip {
namespace {

TEST(LossCurves, ReadsTheTotalAndEachPart) {
  testing::TempDir dir("loss_curves");
  io::write_file_atomic(dir.file("metrics.jsonl"),
                        R"({"epoch":1,"step":0,"loss":3.5,"lr":0.1,"loss_clip":2.0,"loss_inmodal":1.5})"
                        "\n"
                        R"({"epoch":1,"step":1,"loss":3.0,"lr":0.1,"loss_clip":1.75,"loss_inmodal":1.25})"
                        "\n\n"
                        R"({"epoch":2,"step":2,"loss":2.5,"lr":0.1,"loss_clip":1.5,"loss_inmodal":1.0})"
                        "\n");
  LossCurves losses = read_loss_curves(dir.file("metrics.jsonl"));
  EXPECT_EQ(losses.lines, 3);
  EXPECT_EQ(losses.steps, 3);
  EXPECT_EQ(losses.first_step, 0);
  EXPECT_EQ(losses.last_step, 2);
  ASSERT_EQ(losses.curves.size(), 3u);
  EXPECT_EQ(losses.curves[0].name, "total");
  EXPECT_TRUE(losses.curves[0].is_total);
  EXPECT_EQ(losses.curves[0].values, (std::vector<double>{3.5, 3.0, 2.5}));
  EXPECT_EQ(losses.curves[0].steps, (std::vector<double>{0, 1, 2}));
  EXPECT_EQ(losses.curves[1].name, "clip");
  EXPECT_FALSE(losses.curves[1].is_total);
  EXPECT_EQ(losses.curves[1].values, (std::vector<double>{2.0, 1.75, 1.5}));
  EXPECT_EQ(losses.curves[2].name, "inmodal");
  EXPECT_EQ(losses.curves[2].values, (std::vector<double>{1.5, 1.25, 1.0}));
}

TEST(LossCurves, ResumedStepsKeepTheirLastLineAndNullsAreLeftOut) {
  testing::TempDir dir("loss_curves");
  // A run that stopped after step 2 and resumed from its step-1 checkpoint; a part that was null once.
  io::write_file_atomic(dir.file("metrics.jsonl"),
                        "{\"step\":0,\"loss\":4,\"loss_total\":9}\n{\"step\":1,\"loss\":3}\n"
                        "{\"step\":2,\"loss\":2.9,\"loss_x\":null}\n{\"step\":2,\"loss\":2.5,\"loss_x\":1}\n"
                        "{\"step\":3,\"loss\":2}\n");
  LossCurves losses = read_loss_curves(dir.file("metrics.jsonl"));
  EXPECT_EQ(losses.lines, 5);
  EXPECT_EQ(losses.steps, 4);
  ASSERT_EQ(losses.curves.size(), 3u);
  EXPECT_EQ(losses.curves[0].values, (std::vector<double>{4, 3, 2.5, 2}));
  // A part that happens to be called "total" is a part, not the total.
  EXPECT_EQ(losses.curves[1].name, "total");
  EXPECT_FALSE(losses.curves[1].is_total);
  EXPECT_EQ(losses.curves[1].values, (std::vector<double>{9}));
  EXPECT_EQ(losses.curves[2].name, "x");
  EXPECT_EQ(losses.curves[2].steps, (std::vector<double>{2}));
}

TEST(LossCurves, EmptyFileHasNoCurves) {
  testing::TempDir dir("loss_curves");
  io::write_file_atomic(dir.file("metrics.jsonl"), "");
  LossCurves losses = read_loss_curves(dir.file("metrics.jsonl"));
  EXPECT_TRUE(losses.curves.empty());
  EXPECT_EQ(losses.lines, 0);
}

void expect_error(const std::string& path, const std::string& fragment) {
  try {
    read_loss_curves(path);
    FAIL() << "no error for " << path;
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
  }
}

TEST(LossCurves, ErrorsNameTheFileAndLine) {
  testing::TempDir dir("loss_curves");
  io::write_file_atomic(dir.file("cut.jsonl"), "{\"step\":0,\"loss\":4}\n{\"step\":1,\"lo");
  expect_error(dir.file("cut.jsonl"), "cut.jsonl:2: not a JSON object");
  io::write_file_atomic(dir.file("nostep.jsonl"), "{\"loss\":4}\n");
  expect_error(dir.file("nostep.jsonl"), "nostep.jsonl:1: no numeric \"step\"");
  io::write_file_atomic(dir.file("noloss.jsonl"), "{\"step\":0,\"loss\":\"4\"}\n");
  expect_error(dir.file("noloss.jsonl"), "noloss.jsonl:1: no numeric \"loss\"");
  expect_error(dir.file("absent.jsonl"), "cannot read metrics file");
}

}  // namespace
}  // namespace clipgrad::cleanclip
