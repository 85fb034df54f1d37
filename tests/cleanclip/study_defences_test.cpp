// How a defence's stage is named: a sweep's point at the recipe's own values is the default
// fine-tune, one stage shared by every experiment that asks for it.
#include <gtest/gtest.h>

#include "cleanclip/study_stages.h"

namespace clipgrad::cleanclip {
namespace {

std::string name(const Defence& defence, double lambda2 = 1) {
  return resolved_defence(defence, lambda2, preset_recipe("reference-scenes").options).stage_name();
}

TEST(StudyDefences, FieldsAtTheRecipesValuesNameTheDefaultStage) {
  const StudyOptions options = preset_recipe("reference-scenes").options;
  ASSERT_EQ(options.lambda_inmodal, 1.0);
  ASSERT_EQ(options.finetune_lr, 1e-5);
  ASSERT_EQ(options.finetune_rows, 2000);
  EXPECT_EQ(name(Defence{.kind = "cleanclip"}), "cleanclip-finetune");
  EXPECT_EQ(name(Defence{.lambda2 = 1.0}), "cleanclip-finetune");
  EXPECT_EQ(name(Defence{.lambda2 = 4.0}), "cleanclip-finetune-l2-4");
  EXPECT_EQ(name(Defence{.kind = "clip", .lr = 1e-5}), "clip-finetune");
  EXPECT_EQ(name(Defence{.kind = "clip", .lr = 5e-5}), "clip-finetune-lr-5e-05");
  EXPECT_EQ(name(Defence{.kind = "clip", .rows = 2000}), "clip-finetune");
  EXPECT_EQ(name(Defence{.kind = "cleanclip", .rows = 500}), "cleanclip-finetune-rows-500");
  // The supervised defence's own learning rate is its default; the CLIP fine-tune's is not.
  EXPECT_EQ(name(Defence{.kind = "supervised", .lr = 1e-4}), "supervised-finetune");
  EXPECT_EQ(name(Defence{.kind = "supervised", .lr = 1e-5}), "supervised-finetune-lr-1e-05");
  // The favoured lambda2 is named by its value once decided, and is the default stage at 1.
  EXPECT_EQ(name(Defence{.favoured_lambda2 = true}, 2), "cleanclip-finetune-l2-2");
  EXPECT_EQ(name(Defence{.favoured_lambda2 = true}, 1), "cleanclip-finetune");
  // lambda2 means nothing to the CLIP loss alone.
  EXPECT_EQ(name(Defence{.kind = "clip", .lambda2 = 4.0}), "clip-finetune");
}

}  // namespace
}  // namespace clipgrad::cleanclip
