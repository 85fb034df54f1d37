// The CleanCLIP objective (Bansal et al., ICCV 2023), as its reference code
// computes it:
//   total     = lambda_clip * L_clip + lambda_inmodal * L_inmodal
//   L_clip    = CLIP's symmetric contrastive loss of (image, text)
//   L_inmodal = (CE(s * image @ aug_image^T) + CE(s * text @ aug_text^T)) / 2
// with embeddings L2-normalised, s = exp(logit_scale) shared, and the in-modal
// terms one-directional (each original against the augmented batch).
#pragma once

#include "clip/train/loss.h"
#include "clip/train/objective.h"

namespace clipgrad::cleanclip {

struct CleanClipLosses {
  Variable clip;     // []
  Variable inmodal;  // []
  Variable total;    // []
};

// image, text, aug_image, aug_text [N, E] unnormalised embeddings; logit_scale [].
// Data parallel (`global`): this rank's rows; the losses are those of the
// global batch, as clip::contrastive_loss does for the CLIP part (each image's
// negatives in the in-modal term are every other view of the global batch).
CleanClipLosses cleanclip_objective(const Variable& image, const Variable& text, const Variable& aug_image,
                                    const Variable& aug_text, const Variable& logit_scale, double lambda_clip,
                                    double lambda_inmodal, const clip::GlobalBatch& global = {});

struct CleanClipOptions {
  double lambda_clip = 1.0;     // the reference's clip_weight (--lambda1)
  double lambda_inmodal = 1.0;  // the reference's inmodal_weight (--lambda2)
  bool fixed_text_aug = false;  // one EDA draw for the whole run, as the reference (else one per epoch)
};

// The objective for the trainer: two image views (the image and its
// augmentation) and two token tables (the captions and their augmentation),
// each pair forwarded in one concatenated pass of 2B rows, as the reference
// does (with BatchNorm towers the batch statistics are those of all 2B).
// Losses {total, clip, inmodal}.
class CleanClipObjective : public clip::Objective {
 public:
  CleanClipObjective(CleanClipOptions options, clip::ImageTransform image_augment,
                     clip::CaptionTransform caption_augment);
  std::string name() const override { return "cleanclip"; }
  nlohmann::json config() const override;
  static CleanClipOptions options_from_json(const nlohmann::json& config);
  std::vector<clip::ImageView> image_views() const override;
  std::vector<clip::TokenTable> token_tables() const override;
  // {image_features, text_features, aug_image_features, aug_text_features}
  std::map<std::string, Variable> features(clip::ClipModel& model, const clip::TrainBatch& batch) const override;
  clip::ObjectiveOutput loss(const std::map<std::string, Variable>& features, const Variable& logit_scale,
                             const clip::GlobalBatch& global) const override;

 private:
  CleanClipOptions options_;
  clip::ImageTransform image_augment_;
  clip::CaptionTransform caption_augment_;
};

// The objective `--objective cleanclip` trains with: AutoAugment's ImageNet
// policy on the images and EDA over WordNet (loaded from
// /usr/share/wordnet) on the captions, both drawn from the generator the
// trainer seeds per (seed, epoch, row, view). `config` as config() writes it.
std::unique_ptr<clip::Objective> make_cleanclip_objective(const nlohmann::json& config);

}  // namespace clipgrad::cleanclip
