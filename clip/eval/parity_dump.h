// `clipgrad dump`: everything one CLIP training step computes, written out so
// that it can be compared with a PyTorch float64 reference tensor by tensor
// (tests/clip/eval/parity_test.cpp does, with the fixtures in tests/fixtures/).
#pragma once

#include <map>
#include <stdexcept>
#include <string>

#include "clip/checkpoint/checkpoint.h"
#include "io/safetensors.h"
#include "tensor/tensor.h"

namespace clipgrad::clip {

using TensorMap = std::map<std::string, Tensor>;

// MODEL_PATH: an OpenAI .safetensors or an HF CLIPModel directory.
// INPUTS_PATH holds input.pixels (f32 [N, 3, R, R]) and input.text (i32 [N, L]).
// The model, inputs, loss and backward run in `dtype` (f32, or f64 for the
// strict check of the math), on `device` (CUDA: the same step on the GPU,
// compared with the same references). Returns, all in that dtype, on the CPU:
//   eval.image_features, eval.text_features [N, E]   eval mode, no gradients
//   train.image_features, train.text_features [N, E] one train-mode forward
//   train.logits [N, N], train.loss [1]              the trainer's step
//                   (forward_backward with ClipObjective)
//   grad.<name>     every parameter's gradient of train.loss, under the
//                   checkpoint's own names (HF names for an HF directory)
//   after.<name>    BatchNorm running_mean / running_var after that forward
TensorMap dump_model(const std::string& model_path, const std::string& inputs_path, DType dtype = DType::F32,
                     Device device = Device::CPU);
// The same on a model already loaded (clipgrad dump --config).
TensorMap dump_model(const LoadedClip& loaded, const std::string& inputs_path, DType dtype = DType::F32,
                     Device device = Device::CPU);

// Writes a dump (safetensors) atomically.
void write_dump(const std::string& out_path, const TensorMap& dump);

// ---- reading the inputs of a dump ----

// "bad inputs 'PATH': what".
std::invalid_argument bad_inputs(const std::string& path, const std::string& what);
// The safetensors file PATH, its errors worded for inputs rather than checkpoints.
io::SafetensorsFile read_inputs(const std::string& path);
// The tensor `name` of `file`, checked to have `dtype` and `rank` dims.
const Tensor& read_input(const std::string& path, const io::SafetensorsFile& file, const std::string& name, DType dtype,
                         int64_t rank);
// A [] tensor as [1], the shape PyTorch's exports use for scalars.
Tensor as_vector(const Tensor& scalar);

}  // namespace clipgrad::clip
