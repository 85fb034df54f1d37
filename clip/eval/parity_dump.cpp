#include "clip/eval/parity_dump.h"

#include <stdexcept>

#include "clip/checkpoint/checkpoint.h"
#include "clip/train/objective.h"
#include "io/safetensors.h"

namespace clipgrad::clip {

std::invalid_argument bad_inputs(const std::string& path, const std::string& what) {
  return std::invalid_argument("bad inputs '" + path + "': " + what);
}

// The tensor `name` of `file`, checked to have `dtype` and `rank` dims.
const Tensor& read_input(const std::string& path, const io::SafetensorsFile& file, const std::string& name, DType dtype,
                         int64_t rank) {
  if (!file.contains(name)) throw bad_inputs(path, "missing tensor '" + name + "'");
  const Tensor& value = file.tensors.at(name).value;
  if (value.dtype() != dtype)
    throw bad_inputs(
        path, "tensor '" + name + "' is " + file.tensors.at(name).stored_dtype + ", expected " + dtype_name(dtype));
  if (value.dim() != rank)
    throw bad_inputs(path, "tensor '" + name + "' has shape " + shape_str(value.shape()) + ", expected " +
                               std::to_string(rank) + " dims");
  return value;
}

// The reader words its errors for checkpoints; these files are inputs.
io::SafetensorsFile read_inputs(const std::string& path) {
  try {
    return io::read_safetensors(path);
  } catch (const io::SafetensorsError& error) {
    std::string message = error.what(), prefix = "bad checkpoint '" + path + "': ";
    if (message.rfind(prefix, 0) == 0) throw bad_inputs(path, message.substr(prefix.size()));
    throw;
  }
}

Tensor as_vector(const Tensor& scalar) { return scalar.reshape({1}); }

namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

TensorMap dump_model(const std::string& model_path, const std::string& inputs_path, DType dtype, Device device) {
  return dump_model(load_clip(model_path), inputs_path, dtype, device);
}

TensorMap dump_model(const LoadedClip& loaded, const std::string& inputs_path, DType dtype, Device device) {
  ClipModel& model = *loaded.model;
  const ClipConfig& config = loaded.config;

  io::SafetensorsFile inputs = read_inputs(inputs_path);
  const Tensor& pixels = read_input(inputs_path, inputs, "input.pixels", DType::F32, 4);
  const Tensor& text = read_input(inputs_path, inputs, "input.text", DType::I32, 2);
  int64_t resolution = config.image_resolution;
  const Shape& pixel_shape = pixels.shape();
  if (pixel_shape[0] < 1 || pixel_shape[1] != 3 || pixel_shape[2] != resolution || pixel_shape[3] != resolution)
    throw bad_inputs(inputs_path, "tensor 'input.pixels' has shape " + shape_str(pixel_shape) +
                                      ", the model expects [N,3," + std::to_string(resolution) + "," +
                                      std::to_string(resolution) + "]");
  if (text.size(0) != pixel_shape[0] || text.size(1) < 1 || text.size(1) > config.context_length)
    throw bad_inputs(inputs_path, "tensor 'input.text' has shape " + shape_str(text.shape()) + ", expected [" +
                                      std::to_string(pixel_shape[0]) + ",L] (one row per image) with 1 <= L <= " +
                                      std::to_string(config.context_length));
  const int32_t* ids = text.data<int32_t>();
  for (int64_t i = 0; i < text.numel(); ++i)
    if (ids[i] < 0 || ids[i] >= config.vocab_size)
      throw bad_inputs(inputs_path, "tensor 'input.text' holds token id " + std::to_string(ids[i]) +
                                        ", outside the model's vocabulary [0, " + std::to_string(config.vocab_size) +
                                        ")");

  if (dtype != DType::F32 && dtype != DType::F64)
    throw std::invalid_argument(std::string("dump: --dtype must be f32 or f64, got ") + dtype_name(dtype));
  model.to(dtype);
  model.to(device);
  const Tensor model_pixels = pixels.to(dtype).to(device);
  const Tensor model_text = text.to(device);

  TensorMap out;
  {
    NoGradGuard no_grad;
    model.eval();
    out["eval.image_features"] = model.encode_image(Variable(model_pixels)).value();
    out["eval.text_features"] = model.encode_text(model_text).value();
  }

  // The trainer's own step code, with CLIP's objective.
  model.train();
  TrainBatch batch{.images = {model_pixels}, .tokens = {model_text}, .rows = {}, .global = {}};
  ObjectiveOutput result = forward_backward(model, ClipObjective(), batch);
  out["train.image_features"] = result.tensors.at("image_features").value();
  out["train.text_features"] = result.tensors.at("text_features").value();
  out["train.logits"] = result.tensors.at("logits").value();
  out["train.loss"] = as_vector(result.total().value());

  TensorMap grads;
  for (const auto& [name, parameter] : model.named_parameters())
    grads[name] =
        parameter.has_grad() ? parameter.grad().to(Device::CPU) : Tensor::zeros(parameter.shape(), parameter.dtype());
  if (loaded.layout == CheckpointLayout::HuggingFace) grads = to_hf_layout(grads);
  for (const auto& [name, grad] : grads) out["grad." + name] = grad;
  for (const auto& [name, buffer] : model.named_buffers())
    if (ends_with(name, ".running_mean") || ends_with(name, ".running_var")) out["after." + name] = buffer->clone();
  for (auto& [name, tensor] : out) tensor = tensor.to(Device::CPU);
  return out;
}

void write_dump(const std::string& out_path, const TensorMap& dump) {
  io::write_safetensors(out_path, dump, {{"producer", "clipgrad dump"}});
}

}  // namespace clipgrad::clip
