// attack_success_rate with given classifiers on the tiny fixture model: which
// images are counted (not the target class), that the trigger reaches the
// images the classifier sees, and the unknown-target error.
#include "cleanclip/attack/asr.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "clip/checkpoint/checkpoint.h"
#include "clip/eval/zeroshot.h"
#include "io/csv.h"
#include "io/image.h"
#include "test_temp_dir.h"

namespace clipgrad::cleanclip {
namespace {

const std::string kModel = std::string(CLIPGRAD_FIXTURES) + "/tiny_vit_model.safetensors";  // 32x32 images, E = 32

class Asr : public ::testing::Test {
 protected:
  void SetUp() override {
    // 12 images, labels i % 3; images 0, 3, 6, 9 (class 0) are flat grey, the others patterned.
    std::vector<std::vector<std::string>> rows;
    for (int i = 0; i < 12; ++i) {
      io::Image image(32, 32);
      for (size_t p = 0; p < image.rgb.size(); ++p) image.rgb[p] = i % 3 == 0 ? 128 : static_cast<uint8_t>(p * 7 + i);
      std::string name = std::to_string(i) + ".png";
      io::write_png(dir_.file(name), 32, 32, 3, image.rgb.data());
      rows.push_back({name, std::to_string(i % 3)});
    }
    io::write_csv(dir_.file("test.csv"), {"image", "label"}, rows);
    test_set_ = clip::LabelledDataset::from_csv(dir_.file("test.csv"));
    names_.classes = {"sandal", "Bag", "coat"};
    model_ = clip::load_clip(kModel).model;
    attack_.target = "bag";  // matches "Bag" up to case
    attack_.seed = 1;
  }

  // Predicts the target exactly for the images whose features differ from their clean features.
  Classifier changed_is_target(const std::vector<int64_t>& rows) {
    std::vector<clip::LoaderItem> items;
    for (int64_t row : rows) items.push_back({test_set_[row].image_path, row, ""});
    Tensor clean = clip::image_features(*model_, items, 0).features;
    return [clean](const Tensor& features) {
      const int64_t n = features.size(0), e = features.size(1);
      EXPECT_EQ(n, clean.size(0));
      Tensor logits = Tensor::zeros({n, 3});
      for (int64_t i = 0; i < n; ++i) {
        bool changed = std::memcmp(features.data<float>() + i * e, clean.data<float>() + i * e, e * sizeof(float));
        logits.data<float>()[i * 3 + (changed ? 1 : 2)] = 1;
      }
      return logits;
    };
  }

  testing::TempDir dir_{"asr"};
  clip::LabelledDataset test_set_;
  clip::ClassNames names_;
  std::shared_ptr<clip::ClipModel> model_;
  AttackConfig attack_;
};

TEST_F(Asr, CountsOnlyImagesOutsideTheTargetClass) {
  AsrOptions options;
  options.workers = 0;
  options.classifier = [](const Tensor& features) {
    Tensor logits = Tensor::zeros({features.size(0), 3});
    for (int64_t i = 0; i < features.size(0); ++i) logits.data<float>()[i * 3 + 1] = 5;  // always "Bag"
    return logits;
  };
  AsrResult result = attack_success_rate(*model_, test_set_, names_, attack_, options);
  EXPECT_EQ(result.target_class, 1);
  EXPECT_EQ(result.excluded, 4);
  EXPECT_EQ(result.n, 8);
  EXPECT_EQ(result.hits, 8);
  EXPECT_DOUBLE_EQ(result.asr, 1.0);

  // Fixed logits for every image: class c scores scores[c].
  auto scoring = [](std::vector<float> scores) {
    return [scores](const Tensor& features) {
      Tensor logits = Tensor::zeros({features.size(0), 3});
      for (int64_t i = 0; i < features.size(0); ++i)
        for (int64_t c = 0; c < 3; ++c) logits.data<float>()[i * 3 + c] = scores[c];
      return logits;
    };
  };
  options.classifier = scoring({0, 1, 5});  // another class above the target: no hit
  result = attack_success_rate(*model_, test_set_, names_, attack_, options);
  EXPECT_EQ(result.hits, 0);
  EXPECT_DOUBLE_EQ(result.asr, 0.0);
  options.classifier = scoring({0, 5, 5});  // a tie with the target: a hit, the pessimistic reading for a defence
  EXPECT_EQ(attack_success_rate(*model_, test_set_, names_, attack_, options).hits, 8);
  options.classifier = scoring({0, 0, 0});  // every class the same: a broken model, never scored
  EXPECT_THROW(attack_success_rate(*model_, test_set_, names_, attack_, options), clip::BrokenModelError);
}

TEST_F(Asr, TheClassifierSeesTriggeredImages) {
  AsrOptions options;
  options.workers = 2;
  // Non-target rows: 0, 2, 3, 5, 6, 8, 9, 11 (label 1 is the target).
  std::vector<int64_t> counted = {0, 2, 3, 5, 6, 8, 9, 11};
  options.classifier = changed_is_target(counted);
  AsrResult badnet = attack_success_rate(*model_, test_set_, names_, attack_, options);
  EXPECT_EQ(badnet.n, 8);
  EXPECT_EQ(badnet.hits, 8);  // every patched image differs

  // WaNet leaves the flat images (0, 3, 6, 9) unchanged and warps the patterned ones.
  attack_.kind = AttackKind::kWaNet;
  attack_.wanet_s = 4;
  AsrResult wanet = attack_success_rate(*model_, test_set_, names_, attack_, options);
  EXPECT_EQ(wanet.n, 8);
  EXPECT_EQ(wanet.hits, 4);
  EXPECT_DOUBLE_EQ(wanet.asr, 0.5);
}

TEST_F(Asr, UnknownTargetIsAnErrorNamingIt) {
  attack_.target = "banana";
  try {
    attack_success_rate(*model_, test_set_, names_, attack_);
    FAIL() << "no error";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("'banana'"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("'sandal'"), std::string::npos) << error.what();
  }
}

TEST(ZeroShotClassifier, NormalisesFeaturesAndScoresAgainstClassWeights) {
  Tensor weights = Tensor::from_vector<float>({2, 2}, {1, 0, 0, 1});
  Tensor logits = zero_shot_classifier(weights)(Tensor::from_vector<float>({2, 2}, {3, 4, -2, 0}));
  std::vector<float> got(logits.data<float>(), logits.data<float>() + 4);
  EXPECT_NEAR(got[0], 0.6f, 1e-6);
  EXPECT_NEAR(got[1], 0.8f, 1e-6);
  EXPECT_NEAR(got[2], -1.0f, 1e-6);
  EXPECT_NEAR(got[3], 0.0f, 1e-6);
}

}  // namespace
}  // namespace clipgrad::cleanclip
