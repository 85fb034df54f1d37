// `clipgrad dump` without a model: the CleanCLIP objective on given embeddings,
// for the parity test against ../shared/fixtures/cleanclip_loss.safetensors.
#pragma once

#include <string>

#include "clip/eval/parity_dump.h"

namespace clipgrad::cleanclip {

// INPUTS_PATH holds input.image, input.text, input.aug_image, input.aug_text
// (f32 [N, E]), input.logit_scale (f32 [1]) and input.lambda (f32 [2]: the clip
// and in-modal weights). Returns loss.clip, loss.inmodal, loss.total [1] and
// grad.image|text|aug_image|aug_text|logit_scale of loss.total
// (cleanclip_objective), computed in `dtype` (f32, or f64 for the strict check)
// on `device`; the results come back on the CPU.
clip::TensorMap dump_objective(const std::string& inputs_path, DType dtype = DType::F32, Device device = Device::CPU);

}  // namespace clipgrad::cleanclip
