// The linear classification head of the supervised defence, and the
// checkpoint that carries it beside the CLIP model.
//
// The head classifies L2-normalised image features:
//   logits [N, C] = l2_normalize(image_features [N, E]) @ weight[C, E]^T + bias [C]
// It starts as the zero-shot classifier: weight = exp(logit_scale) * the
// class embeddings of clip::zero_shot_weights, bias = 0, so its logits are
// exactly the scaled cosine logits CLIP's zero-shot evaluation takes the
// argmax of, and cross-entropy starts from the zero-shot model's loss. (The
// reference, CleanCLIP's get_finetune_metrics, puts a randomly initialised
// nn.Linear on the unnormalised features; starting from zero-shot keeps the
// text tower's knowledge of the class names and does not begin with a
// random classifier that the first steps must repair through the encoder.)
//
// Checkpoint: one OpenAI-layout .safetensors file, exactly what clip::save_clip
// writes (tensors and metadata), plus "head.weight" f32 [C, E] and
// "head.bias" f32 [C], and metadata "classifier_head" (JSON: the class names,
// and the rule above). clip::load_clip refuses such a file (its tensors are
// strict), so read it with load_supervised_checkpoint.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograd/variable.h"
#include "cleanclip/attack/asr.h"
#include "clip/data/dataset.h"
#include "clip/eval/zeroshot.h"
#include "clip/model/model.h"
#include "clip/text/tokenizer.h"

namespace clipgrad::cleanclip {

struct ClassifierHead {
  Tensor weight;                     // f32 [C, E]
  Tensor bias;                       // f32 [C]
  std::vector<std::string> classes;  // [C]: label i -> classes[i]
};

// The zero-shot classifier as a head (see above); the model's text tower runs
// in eval mode, without a graph.
ClassifierHead zero_shot_head(clip::ClipModel& model, const clip::Tokenizer& tokenizer,
                              const clip::ClassNames& class_names);

// Differentiable: image_features [N, E], weight [C, E], bias [C] -> logits [N, C].
Variable head_logits(const Variable& image_features, const Variable& weight, const Variable& bias);

// The head as an ASR / evaluation classifier: image features [n, E] -> logits [n, C].
Classifier head_classifier(const ClassifierHead& head);

// Accuracy of model + classifier on a labelled set (the model is put in eval
// mode); `transform` as in clip::image_features (index: the dataset row).
clip::Accuracy evaluate_classifier(clip::ClipModel& model, const Classifier& classifier, int64_t class_count,
                                   const clip::LabelledDataset& data, int workers = 2, bool strict = false,
                                   clip::ImageTransform transform = nullptr);

struct SupervisedModel {
  std::shared_ptr<clip::ClipModel> model;
  ClassifierHead head;
  nlohmann::json metadata;  // the "supervised" metadata entry (options, data), or null
};

// Writes PATH atomically (see the layout above); `extra` (may be null) is
// stored as metadata "supervised" (how the model was trained).
void save_supervised_checkpoint(const clip::ClipModel& model, const ClassifierHead& head, const std::string& path,
                                const nlohmann::json& extra = nullptr);

// Reads such a file. Strict: the model part as clip::load_clip checks it (by
// the model's state dict), and the head must be [C, E] / [C] with E the
// model's embed_dim and C the classes of its metadata. Errors are
// clip::CheckpointError "bad checkpoint 'PATH': what".
SupervisedModel load_supervised_checkpoint(const std::string& path);

// Whether PATH is a safetensors file holding "head.weight" (reads only the
// header; false for a directory, a PyTorch file or anything unreadable, which
// the ordinary loaders then report).
bool has_classifier_head(const std::string& path);

// The head's classes must be those of `class_names` (same names, same order);
// otherwise throws std::invalid_argument naming both lists.
void check_head_classes(const ClassifierHead& head, const clip::ClassNames& class_names, const std::string& path);

}  // namespace clipgrad::cleanclip
