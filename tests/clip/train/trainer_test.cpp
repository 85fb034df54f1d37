// The trainer through the objective seam: the views and token tables a batch
// carries, per-epoch and fixed caption draws, loss parts in metrics.jsonl,
// and resume rebuilding the objective by name and config.
#include "clip/train/trainer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "clip/data/loader.h"
#include "clip/data/shards.h"
#include "io/image.h"
#include "test_temp_dir.h"

namespace clipgrad::clip {
namespace {

using testing::TempDir;

// 16 flat grey images, captioned by their shade.
std::string make_dataset(const TempDir& dir) {
  std::ofstream csv(dir.file("train.csv"));
  csv << "image,caption\n";
  for (int i = 0; i < 16; ++i) {
    std::vector<uint8_t> pixels(28 * 28 * 3, static_cast<uint8_t>(20 + 13 * i));
    io::write_png(dir.file("img" + std::to_string(i) + ".png"), 28, 28, 3, pixels.data());
    csv << "img" << i << ".png,a photo of shade " << i << "\n";
  }
  return dir.file("train.csv");
}

struct Seen {
  std::vector<std::vector<Tensor>> images, tokens;  // per step
  std::vector<std::vector<int64_t>> rows;
};

// CLIP's loss on the plain views, plus a view that inverts the image and a
// caption table that appends a word drawn from the generator.
class RecordingObjective : public ClipObjective {
 public:
  RecordingObjective(std::shared_ptr<Seen> seen, bool per_epoch, std::string tag)
      : seen_(std::move(seen)), per_epoch_(per_epoch), tag_(std::move(tag)) {}
  std::string name() const override { return "recording"; }
  nlohmann::json config() const override { return {{"per_epoch", per_epoch_}, {"tag", tag_}}; }
  std::vector<ImageView> image_views() const override {
    return {{"image", nullptr}, {"inverted", [](io::Image& image, int64_t, Generator&) {
                                   for (uint8_t& value : image.rgb) value = static_cast<uint8_t>(255 - value);
                                 }}};
  }
  std::vector<TokenTable> token_tables() const override {
    return {{"caption", nullptr},
            {"drawn",
             [](const std::string& caption, int64_t, Generator& generator) {
               static const char* words[] = {"red", "green", "blue", "white", "black", "grey", "pink", "gold"};
               return caption + " " + words[generator.below(8)];
             },
             per_epoch_}};
  }
  ObjectiveOutput forward(ClipModel& model, const TrainBatch& batch) const override {
    if (seen_) {
      seen_->images.push_back(batch.images);
      seen_->tokens.push_back(batch.tokens);
      seen_->rows.push_back(batch.rows);
    }
    ObjectiveOutput output = ClipObjective().forward(model, batch);
    output.losses["doubled"] = fn::scale(output.total(), 2.0);
    return output;
  }
  const std::string& tag() const { return tag_; }

 private:
  std::shared_ptr<Seen> seen_;
  bool per_epoch_;
  std::string tag_;
};

std::shared_ptr<ClipModel> tiny_model() {
  auto model = std::make_shared<ClipModel>(ClipConfig::named("vit-tiny-28"));
  Generator generator(1);
  model->init_openai(generator);
  return model;
}

TrainOptions tiny_options(int64_t epochs) {
  TrainOptions options;
  options.epochs = epochs;
  options.batch_size = 8;
  options.lr = 1e-3;
  options.warmup_steps = 1;
  options.seed = 4;
  options.workers = 1;
  return options;
}

TEST(Trainer, BatchesCarryEveryViewAndTable) {
  TempDir dir("trainer_views");
  auto seen = std::make_shared<Seen>();
  Trainer trainer(tiny_model(), make_dataset(dir), tiny_options(2), dir.file("run"),
                  std::make_unique<RecordingObjective>(seen, true, "a"));
  trainer.run();
  ASSERT_EQ(seen->images.size(), 4u);  // 2 epochs of 2 batches
  const auto& n = io::ChannelNormalization(kClipNormalization);
  for (size_t step = 0; step < seen->images.size(); ++step) {
    ASSERT_EQ(seen->images[step].size(), 2u);
    ASSERT_EQ(seen->tokens[step].size(), 2u);
    const Tensor& plain = seen->images[step][0];
    const Tensor& inverted = seen->images[step][1];
    ASSERT_EQ(plain.shape(), (Shape{8, 3, 28, 28}));
    ASSERT_EQ(inverted.shape(), plain.shape());
    // One decode, two views: the second is the first inverted (in 8-bit levels).
    const float* p = plain.data<float>();
    const float* q = inverted.data<float>();
    for (int64_t i = 0; i < plain.numel(); i += 97) {
      const int c = static_cast<int>((i / (28 * 28)) % 3);
      const float level = p[i] * n.std[c] + n.mean[c], other = q[i] * n.std[c] + n.mean[c];
      EXPECT_NEAR(level + other, 1.0f, 1e-5) << "step " << step << " element " << i;
    }
    EXPECT_EQ(seen->tokens[step][0].shape(), seen->tokens[step][1].shape());
  }
}

// The drawn caption of one row in each epoch, by row.
std::map<int64_t, std::vector<std::vector<int32_t>>> drawn_by_row(const Seen& seen) {
  std::map<int64_t, std::vector<std::vector<int32_t>>> by_row;
  for (size_t step = 0; step < seen.rows.size(); ++step) {
    const Tensor& table = seen.tokens[step][1];
    const std::vector<int32_t> ids = table.to_vector<int32_t>();
    const int64_t length = table.size(1);
    for (size_t b = 0; b < seen.rows[step].size(); ++b)
      by_row[seen.rows[step][b]].push_back(
          std::vector<int32_t>(ids.begin() + b * length, ids.begin() + (b + 1) * length));
  }
  return by_row;
}

TEST(Trainer, CaptionDrawsAreNewEachEpochUnlessFixed) {
  for (bool per_epoch : {true, false}) {
    TempDir dir("trainer_tables");
    auto seen = std::make_shared<Seen>();
    Trainer trainer(tiny_model(), make_dataset(dir), tiny_options(3), dir.file("run"),
                    std::make_unique<RecordingObjective>(seen, per_epoch, "b"));
    trainer.run();
    int changed = 0;
    for (const auto& [row, draws] : drawn_by_row(*seen)) {
      ASSERT_EQ(draws.size(), 3u) << row;
      if (draws[0] != draws[1] || draws[1] != draws[2]) ++changed;
    }
    if (per_epoch) {
      EXPECT_GE(changed, 12) << "of 16 rows, with 8 words to draw from";
    } else {
      EXPECT_EQ(changed, 0);
    }
  }
}

TEST(Trainer, LogsLossPartsAndResumesTheObjectiveByName) {
  TempDir dir("trainer_resume");
  const std::string data = make_dataset(dir);
  Trainer(tiny_model(), data, tiny_options(1), dir.file("run"),
          std::make_unique<RecordingObjective>(nullptr, true, "c"))
      .run();
  std::ifstream metrics(dir.file("run/metrics.jsonl"));
  std::string line;
  int lines = 0;
  while (std::getline(metrics, line)) {
    nlohmann::json entry = nlohmann::json::parse(line);
    EXPECT_DOUBLE_EQ(entry.at("loss_doubled").get<double>(), 2 * entry.at("loss").get<double>());
    ++lines;
  }
  EXPECT_EQ(lines, 2);

  // The run's options ask for 1 epoch and it has done it: resume must rebuild
  // "recording" with its config, or fail naming the objective.
  EXPECT_THROW(Trainer::resume(dir.file("run")), std::invalid_argument);  // the default registry lacks it
  std::string tag_seen;
  ObjectiveRegistry registry;
  registry.add("recording", [&](const nlohmann::json& config) {
    tag_seen = config.at("tag");
    return std::make_unique<RecordingObjective>(nullptr, config.at("per_epoch"), config.at("tag"));
  });
  Trainer resumed = Trainer::resume(dir.file("run"), registry);
  EXPECT_EQ(tag_seen, "c");
  EXPECT_EQ(resumed.completed_epochs(), 1);
  EXPECT_EQ(resumed.step(), 2);
}

// A run whose images all fail to load must not "succeed" with an unchanged model.
TEST(Trainer, AnEpochWithNoReadableImageFails) {
  TempDir dir("trainer_missing");
  const std::string data = make_dataset(dir);
  for (int i = 0; i < 16; ++i) std::filesystem::remove(dir.file("img" + std::to_string(i) + ".png"));
  Trainer trainer(tiny_model(), data, tiny_options(1), dir.file("run"), std::make_unique<ClipObjective>());
  try {
    trainer.run();
    FAIL() << "expected an error";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("trained on no image: 16 skipped"), std::string::npos) << error.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("run/model.safetensors")));
}

// A new run in a folder holding another replaces it at its first step, never at start-up.
TEST(Trainer, ARunThatFailsAtStartUpLeavesAnEarlierRunAsItWas) {
  TempDir dir("trainer_earlier");
  const std::string data = make_dataset(dir);
  const std::string run = dir.file("run");
  EXPECT_TRUE(Trainer::run_files_in(run).empty());
  Trainer(tiny_model(), data, tiny_options(1), run, std::make_unique<ClipObjective>()).run();
  EXPECT_EQ(Trainer::run_files_in(run),
            (std::vector<std::string>{"checkpoint.safetensors", "model.safetensors", "metrics.jsonl"}));
  const auto metrics_size = std::filesystem::file_size(dir.file("run/metrics.jsonl"));
  TrainOptions too_large = tiny_options(1);
  too_large.batch_size = 32;  // more than the 16 rows: fails in run(), before any step
  Trainer failing(tiny_model(), data, too_large, run, std::make_unique<ClipObjective>());
  EXPECT_THROW(failing.run(), std::invalid_argument);
  EXPECT_EQ(std::filesystem::file_size(dir.file("run/metrics.jsonl")), metrics_size);
  EXPECT_TRUE(std::filesystem::exists(dir.file("run/checkpoint.safetensors")));
}

TEST(Trainer, RefusesNothingToDoAndNamesTheRowOfABadCaption) {
  TempDir dir("trainer_refusals");
  const std::string data = make_dataset(dir);
  EXPECT_THROW(Trainer(tiny_model(), data, tiny_options(0), dir.file("run"), std::make_unique<ClipObjective>()),
               std::invalid_argument);
  TrainOptions infinite = tiny_options(1);
  infinite.lr = std::numeric_limits<double>::infinity();
  EXPECT_THROW(Trainer(tiny_model(), data, infinite, dir.file("run"), std::make_unique<ClipObjective>()),
               std::invalid_argument);
  std::ofstream(dir.file("bad.csv")) << "image,caption\nimg0.png,fine\nimg1.png,not \xff UTF-8\n";
  try {
    Trainer(tiny_model(), dir.file("bad.csv"), tiny_options(1), dir.file("run"), std::make_unique<ClipObjective>());
    FAIL() << "expected an error";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find(dir.file("bad.csv") + ":3: caption: tokenizer: text is not valid UTF-8"),
              std::string::npos)
        << error.what();
  }
}

// Each step's loss from metrics.jsonl.
std::vector<double> logged_losses(const std::string& run_dir) {
  std::ifstream in(run_dir + "/metrics.jsonl");
  std::vector<double> losses;
  for (std::string line; std::getline(in, line);) losses.push_back(nlohmann::json::parse(line).at("loss"));
  return losses;
}

// A run killed after its 7th step resumes from the checkpoint --save-every 3
// wrote after the 6th (mid-epoch 2) and ends with the same bits as a run that
// was never stopped; for a CSV and for shards (streamed, with a shuffle buffer).
TEST(Trainer, ResumesMidEpochToTheBit) {
  for (const bool shards : {false, true}) {
    TempDir dir("trainer_mid_epoch");
    std::string data = make_dataset(dir);
    if (shards) {
      write_shards(data, dir.file("shards"), 5);  // 16 samples in shards of 5, 5, 5, 1
      data = dir.file("shards/{00000..00003}.tar");
    }
    TrainOptions options = tiny_options(2);
    options.batch_size = 4;
    options.save_every = 3;
    options.shuffle_buffer = 6;
    Trainer whole(tiny_model(), data, options, dir.file("whole"));
    whole.run();
    Trainer killed(tiny_model(), data, options, dir.file("killed"));
    EXPECT_THROW(killed.run([](const StepReport& report) {
      if (report.step == 6) throw std::runtime_error("killed");
    }),
                 std::runtime_error);
    Trainer resumed = Trainer::resume(dir.file("killed"));
    EXPECT_EQ(resumed.step(), 6);
    resumed.run();
    EXPECT_EQ(resumed.step(), 8);
    EXPECT_EQ(logged_losses(dir.file("killed")), logged_losses(dir.file("whole"))) << (shards ? "shards" : "csv");
    for (const auto& [name, value] : whole.model().state_dict())
      EXPECT_EQ(resumed.model().state_dict().at(name).to_vector<float>(), value.to_vector<float>())
          << name << (shards ? " (shards)" : " (csv)");
  }
}

}  // namespace
}  // namespace clipgrad::clip
