// `clipgrad dump`: everything one CLIP training step computes, written out so
// that it can be compared with a PyTorch float64 reference tensor by tensor
// (tests/cli/parity_test.cpp does, with the fixtures in tests/fixtures/).
#pragma once

#include <map>
#include <string>

#include "tensor/tensor.h"

namespace clipgrad::cli {

using TensorMap = std::map<std::string, Tensor>;

// MODEL_PATH: an OpenAI .safetensors or an HF CLIPModel directory.
// INPUTS_PATH holds input.pixels (f32 [N, 3, R, R]) and input.text (i32 [N, L]).
// Returns, all f32:
//   eval.image_features, eval.text_features [N, E]   eval mode, no gradients
//   train.image_features, train.text_features [N, E] one train-mode forward
//   train.logits [N, N], train.loss [1]              clip::contrastive_loss
//   grad.<name>     every parameter's gradient of train.loss, under the
//                   checkpoint's own names (HF names for an HF directory)
//   after.<name>    BatchNorm running_mean / running_var after that forward
TensorMap dump_model(const std::string& model_path, const std::string& inputs_path);

// INPUTS_PATH holds input.image, input.text, input.aug_image, input.aug_text
// (f32 [N, E]), input.logit_scale (f32 [1]) and input.lambda (f32 [2]: the clip
// and in-modal weights). Returns loss.clip, loss.inmodal, loss.total [1] and
// grad.image|text|aug_image|aug_text|logit_scale of loss.total
// (cleanclip::cleanclip_objective).
TensorMap dump_objective(const std::string& inputs_path);

// The command: dump_model when model_path is given, else dump_objective;
// writes OUT_PATH (safetensors) atomically.
void run_dump(const std::string& model_path, const std::string& inputs_path, const std::string& out_path);

}  // namespace clipgrad::cli
