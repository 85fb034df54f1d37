// The supervised defence in process: the zero-shot start, learning, what is
// frozen, reproducibility, and the head checkpoint.
#include "cleanclip/defense/supervised.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cleanclip/defense/classifier_head.h"
#include "cleanclip/defense/tiny_clip.h"
#include "colour_squares.h"
#include "clip/checkpoint/checkpoint.h"
#include "clip/eval/zeroshot.h"
#include "io/safetensors.h"
#include "test_temp_dir.h"

namespace clipgrad::cleanclip {
namespace {

namespace fs = std::filesystem;

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

nn::StateDict snapshot(const clip::ClipModel& model) {
  nn::StateDict copy;
  for (const auto& [name, value] : model.state_dict()) copy[name] = value.clone();
  return copy;
}

// Small enough for seconds on two cores: 40 images, batch 8, 3 epochs = 15 steps.
SupervisedOptions fast_options() {
  SupervisedOptions options;
  options.epochs = 3;
  options.batch_size = 8;
  options.lr = 1e-3;
  options.warmup_steps = 2;
  options.seed = 5;
  options.workers = 2;
  return options;
}

class Supervised : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_colour_squares(dir_.path());
    data_ = clip::LabelledDataset::from_csv(dir_.file("test.csv"));
    names_ = clip::ClassNames::from_json(dir_.file("classes.json"));
  }

  struct Run {
    std::shared_ptr<clip::ClipModel> model;
    ClassifierHead head;
    std::vector<double> losses;
    std::string metrics;
  };
  Run train(const SupervisedOptions& options) {
    Run run{testing::tiny_clip(), {}, {}, {}};
    run.head = zero_shot_head(*run.model, clip::Tokenizer(), names_);
    std::ostringstream metrics;
    train_supervised(*run.model, run.head, data_, options, &metrics,
                     [&](const SupervisedStep& step) { run.losses.push_back(step.loss); });
    run.metrics = metrics.str();
    return run;
  }

  clipgrad::testing::TempDir dir_{"supervised"};
  clip::LabelledDataset data_;
  clip::ClassNames names_;
};

TEST_F(Supervised, TheStartingHeadIsTheZeroShotClassifier) {
  auto model = testing::tiny_clip();
  ClassifierHead head = zero_shot_head(*model, clip::Tokenizer(), names_);
  ASSERT_EQ(head.weight.shape(), (Shape{4, model->config().embed_dim}));
  ASSERT_EQ(head.classes, names_.classes);
  clip::ImageFeatures images = clip::image_features(*model, clip::loader_items(data_));
  Tensor zero_shot = zero_shot_classifier(clip::zero_shot_weights(*model, clip::Tokenizer(), names_))(images.features);
  Tensor through_head = head_classifier(head)(images.features);
  const double scale = std::exp(model->logit_scale.value().item());
  ASSERT_GT(scale, 1.5);  // OpenAI's init, 1/0.07: a scale that a missing factor would show
  for (int64_t i = 0; i < zero_shot.numel(); ++i)
    EXPECT_NEAR(through_head.data<float>()[i], scale * zero_shot.data<float>()[i], 1e-4) << i;
  // So the accuracy through the head is the zero-shot accuracy.
  clip::Accuracy zero_shot_accuracy = clip::evaluate_zero_shot(*model, clip::Tokenizer(), names_, data_);
  clip::Accuracy head_accuracy = evaluate_classifier(*model, head_classifier(head), 4, data_);
  EXPECT_EQ(head_accuracy.top1, zero_shot_accuracy.top1);
  EXPECT_EQ(head_accuracy.n, 40);
}

TEST_F(Supervised, LossFallsTheHeadClassifiesAboveChanceAndEachStepIsLogged) {
  Run run = train(fast_options());
  ASSERT_EQ(run.losses.size(), 15u);
  double first = 0, last = 0;
  for (int i = 0; i < 5; ++i) first += run.losses[i], last += run.losses[10 + i];
  EXPECT_LT(last, 0.5 * first) << "mean loss of the first epoch " << first / 5 << ", of the last " << last / 5;
  clip::Accuracy accuracy = evaluate_classifier(*run.model, head_classifier(run.head), 4, data_);
  EXPECT_GE(accuracy.top1, 0.75);  // chance is 0.25
  // metrics.jsonl: one JSON object per step.
  std::istringstream lines(run.metrics);
  int64_t step = 0;
  for (std::string line; std::getline(lines, line); ++step) {
    nlohmann::json entry = nlohmann::json::parse(line);
    EXPECT_EQ(entry.at("step"), step);
    EXPECT_EQ(entry.at("epoch"), step / 5 + 1);
    EXPECT_EQ(entry.at("loss").get<double>(), run.losses[step]);
    if (step < 14) EXPECT_GT(entry.at("lr").get<double>(), 0);  // the cosine ends at 0 on the last step
    EXPECT_GE(entry.at("batch_top1").get<double>(), 0);
  }
  EXPECT_EQ(step, 15);
}

TEST_F(Supervised, OnlyTheVisualTowerAndTheHeadChange) {
  auto before_model = testing::tiny_clip();
  nn::StateDict before = snapshot(*before_model);
  ClassifierHead before_head = zero_shot_head(*before_model, clip::Tokenizer(), names_);
  Run run = train(fast_options());
  int visual_changed = 0, visual = 0;
  for (const auto& [name, value] : run.model->state_dict()) {
    if (name.rfind("visual.", 0) == 0) {
      ++visual;
      visual_changed += !same_bits(value, before.at(name));
    } else {
      EXPECT_TRUE(same_bits(value, before.at(name))) << name << " changed";
    }
  }
  EXPECT_EQ(visual_changed, visual) << "every visual tensor gets a gradient and an update";
  EXPECT_FALSE(same_bits(run.head.weight, before_head.weight));
  EXPECT_FALSE(same_bits(run.head.bias, before_head.bias));
  // The freeze is lifted again: the caller's model is as trainable as it was.
  for (const auto& [name, parameter] : run.model->named_parameters()) EXPECT_TRUE(parameter.requires_grad()) << name;
}

TEST_F(Supervised, SameSeedSameBitsWhateverTheWorkers) {
  SupervisedOptions options = fast_options();
  Run first = train(options);
  options.workers = 0;
  Run second = train(options);
  EXPECT_EQ(first.metrics, second.metrics);
  EXPECT_TRUE(same_bits(first.head.weight, second.head.weight));
  EXPECT_TRUE(same_bits(first.head.bias, second.head.bias));
  for (const auto& [name, value] : first.model->state_dict())
    EXPECT_TRUE(same_bits(value, second.model->state_dict().at(name))) << name;
  options.seed = 6;  // another shuffle
  EXPECT_NE(train(options).losses, first.losses);
}

TEST_F(Supervised, CheckpointRoundTripsTheModelAndTheHeadExactly) {
  Run run = train(fast_options());
  const std::string path = dir_.file("sup.safetensors");
  save_supervised_checkpoint(*run.model, run.head, path, {{"note", "test"}});
  EXPECT_FALSE(fs::exists(path + ".model.tmp"));
  ASSERT_TRUE(has_classifier_head(path));
  SupervisedModel loaded = load_supervised_checkpoint(path);
  EXPECT_TRUE(same_bits(loaded.head.weight, run.head.weight));
  EXPECT_TRUE(same_bits(loaded.head.bias, run.head.bias));
  EXPECT_EQ(loaded.head.classes, names_.classes);
  EXPECT_EQ(loaded.metadata.at("note"), "test");
  EXPECT_EQ(loaded.model->config(), run.model->config());
  for (const auto& [name, value] : run.model->state_dict())
    EXPECT_TRUE(same_bits(value, loaded.model->state_dict().at(name))) << name;
  // The model part is the OpenAI layout as save_clip writes it, with the head beside it.
  io::SafetensorsFile file = io::read_safetensors(path);
  EXPECT_EQ(file.metadata.at("format"), "openai");
  EXPECT_EQ(file.tensors.size(), run.model->state_dict().size() + 2);
  // The strict CLIP loader refuses the extra tensors; eval goes through has_classifier_head.
  EXPECT_THROW(clip::load_clip(path), clip::CheckpointError);
}

TEST_F(Supervised, HasClassifierHeadOnlyForHeadCheckpoints) {
  auto model = testing::tiny_clip();
  clip::save_clip(*model, dir_.file("plain.safetensors"), clip::CheckpointLayout::OpenAI);
  EXPECT_FALSE(has_classifier_head(dir_.file("plain.safetensors")));
  EXPECT_FALSE(has_classifier_head(dir_.file("absent.safetensors")));
  EXPECT_FALSE(has_classifier_head(dir_.path().string()));
  std::ofstream(dir_.file("garbage.bin")) << "not a safetensors file at all";
  EXPECT_FALSE(has_classifier_head(dir_.file("garbage.bin")));
}

TEST_F(Supervised, BadHeadCheckpointsAreRefusedByName) {
  auto model = testing::tiny_clip();
  ClassifierHead head = zero_shot_head(*model, clip::Tokenizer(), names_);
  const std::string path = dir_.file("sup.safetensors");
  save_supervised_checkpoint(*model, head, path);
  io::SafetensorsFile file = io::read_safetensors(path);
  auto expect_refused = [&](const io::SafetensorsFile& changed, const std::string& needle) {
    io::write_safetensors(dir_.file("bad.safetensors"), changed.tensors, changed.metadata);
    try {
      load_supervised_checkpoint(dir_.file("bad.safetensors"));
      ADD_FAILURE() << "loaded a checkpoint with " << needle;
    } catch (const clip::CheckpointError& error) {
      EXPECT_NE(std::string(error.what()).find(needle), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find("bad.safetensors"), std::string::npos) << error.what();
    }
  };
  io::SafetensorsFile wrong_shape = file;
  wrong_shape.tensors["head.weight"].value = Tensor::zeros({3, model->config().embed_dim});
  expect_refused(wrong_shape, "head.weight");
  io::SafetensorsFile no_bias = file;
  no_bias.tensors.erase("head.bias");
  expect_refused(no_bias, "head.bias");
  io::SafetensorsFile missing_model_tensor = file;
  missing_model_tensor.tensors.erase("ln_final.weight");
  expect_refused(missing_model_tensor, "ln_final.weight");
  io::SafetensorsFile no_classes = file;
  no_classes.metadata.erase("classifier_head");
  expect_refused(no_classes, "classifier_head");
}

TEST_F(Supervised, LabelsOutsideTheClassesNameTheirLine) {
  std::ofstream(dir_.file("bad_labels.csv")) << "image,label\nimages/0.png,0\nimages/1.png,4\n";
  auto data = clip::LabelledDataset::from_csv(dir_.file("bad_labels.csv"));
  auto model = testing::tiny_clip();
  ClassifierHead head = zero_shot_head(*model, clip::Tokenizer(), names_);
  try {
    train_supervised(*model, head, data, fast_options());
    FAIL() << "trained on label 4 of 4 classes";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("bad_labels.csv:3"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("label 4"), std::string::npos) << error.what();
  }
}

TEST_F(Supervised, FromFilesWritesTheCheckpointAndTheMetrics) {
  clip::save_clip(*testing::tiny_clip(), dir_.file("init.safetensors"), clip::CheckpointLayout::OpenAI);
  SupervisedOptions options = fast_options();
  options.epochs = 1;
  std::string checkpoint = finetune_supervised(dir_.file("init.safetensors"), dir_.file("test.csv"),
                                               dir_.file("classes.json"), dir_.file("out"), options);
  EXPECT_EQ(checkpoint, dir_.file("out/model.safetensors"));
  SupervisedModel loaded = load_supervised_checkpoint(checkpoint);
  EXPECT_EQ(loaded.metadata.at("steps"), 5);
  EXPECT_EQ(loaded.metadata.at("options").at("batch_size"), 8);
  std::ifstream metrics(dir_.file("out/metrics.jsonl"));
  int lines = 0;
  for (std::string line; std::getline(metrics, line);) ++lines;
  EXPECT_EQ(lines, 5);
}

}  // namespace
}  // namespace clipgrad::cleanclip
