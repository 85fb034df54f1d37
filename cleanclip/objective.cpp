#include "cleanclip/objective.h"

#include <stdexcept>

#include "cleanclip/augment/autoaugment.h"
#include "cleanclip/augment/eda.h"
#include "cleanclip/augment/wordnet.h"
#include "tensor/ops/shape.h"

namespace clipgrad::cleanclip {

CleanClipLosses cleanclip_objective(const Variable& image, const Variable& text, const Variable& aug_image,
                                    const Variable& aug_text, const Variable& logit_scale, double lambda_clip,
                                    double lambda_inmodal, const clip::GlobalBatch& global) {
  if (global.spans_processes() && !global.local_loss)  // the one-process objective on the gathered global batch
    return cleanclip_objective(global.gather(image, "image features"), global.gather(text, "text features"),
                               global.gather(aug_image, "augmented image features"),
                               global.gather(aug_text, "augmented text features"), logit_scale, lambda_clip,
                               lambda_inmodal);
  Variable clip = clip::contrastive_loss(image, text, logit_scale, global).loss;
  Variable image_inmodal = clip::info_nce(image, aug_image, logit_scale, global, "image in-modal");
  Variable text_inmodal = clip::info_nce(text, aug_text, logit_scale, global, "text in-modal");
  Variable inmodal = fn::scale(fn::add(image_inmodal, text_inmodal), 0.5);
  Variable total = fn::add(fn::scale(clip, lambda_clip), fn::scale(inmodal, lambda_inmodal));
  return {clip, inmodal, total};
}

CleanClipObjective::CleanClipObjective(CleanClipOptions options, clip::ImageTransform image_augment,
                                       clip::CaptionTransform caption_augment)
    : options_(options), image_augment_(std::move(image_augment)), caption_augment_(std::move(caption_augment)) {
  if (!image_augment_ || !caption_augment_)
    throw std::invalid_argument("CleanClipObjective needs an image and a caption augmentation");
}

nlohmann::json CleanClipObjective::config() const {
  return {{"lambda1", options_.lambda_clip},
          {"lambda2", options_.lambda_inmodal},
          {"fixed_text_aug", options_.fixed_text_aug}};
}

CleanClipOptions CleanClipObjective::options_from_json(const nlohmann::json& config) {
  CleanClipOptions options;
  options.lambda_clip = config.value("lambda1", options.lambda_clip);
  options.lambda_inmodal = config.value("lambda2", options.lambda_inmodal);
  options.fixed_text_aug = config.value("fixed_text_aug", options.fixed_text_aug);
  return options;
}

std::vector<clip::ImageView> CleanClipObjective::image_views() const {
  return {{"image", nullptr}, {"augmented_image", image_augment_}};
}

std::vector<clip::TokenTable> CleanClipObjective::token_tables() const {
  return {{"caption", nullptr}, {"augmented_caption", caption_augment_, !options_.fixed_text_aug}};
}

std::map<std::string, Variable> CleanClipObjective::features(clip::ClipModel& model,
                                                             const clip::TrainBatch& batch) const {
  const int64_t rows = batch.images.at(0).size(0);
  // Originals and views in one pass each: [2B, ...] in, split back into halves.
  Variable images = model.encode_image(Variable(ops::concat({batch.images.at(0), batch.images.at(1)}, 0)));
  Variable texts = model.encode_text(ops::concat({batch.tokens.at(0), batch.tokens.at(1)}, 0));
  return {{"image_features", fn::narrow(images, 0, 0, rows)},
          {"aug_image_features", fn::narrow(images, 0, rows, rows)},
          {"text_features", fn::narrow(texts, 0, 0, rows)},
          {"aug_text_features", fn::narrow(texts, 0, rows, rows)}};
}

clip::ObjectiveOutput CleanClipObjective::loss(const std::map<std::string, Variable>& features,
                                               const Variable& logit_scale, const clip::GlobalBatch& global) const {
  CleanClipLosses losses = cleanclip_objective(features.at("image_features"), features.at("text_features"),
                                               features.at("aug_image_features"), features.at("aug_text_features"),
                                               logit_scale, options_.lambda_clip, options_.lambda_inmodal, global);
  return {.losses = {{"total", losses.total}, {"clip", losses.clip}, {"inmodal", losses.inmodal}}, .tensors = {}};
}

std::unique_ptr<clip::Objective> make_cleanclip_objective(const nlohmann::json& config) {
  auto wordnet = std::make_shared<const WordNet>(WordNet::load());
  return std::make_unique<CleanClipObjective>(
      CleanClipObjective::options_from_json(config),
      [](io::Image& image, int64_t, Generator& generator) { autoaugment(image, generator); },
      [wordnet](const std::string& caption, int64_t, Generator& generator) {
        return eda_augment(caption, *wordnet, generator);
      });
}

}  // namespace clipgrad::cleanclip
