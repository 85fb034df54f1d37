#include "cleanclip/objective_dump.h"

#include "cleanclip/objective.h"
#include "tensor/ops/shape.h"

namespace clipgrad::cleanclip {

clip::TensorMap dump_objective(const std::string& inputs_path, DType dtype, Device device) {
  io::SafetensorsFile inputs = clip::read_inputs(inputs_path);
  const char* embeddings[] = {"image", "text", "aug_image", "aug_text"};
  std::vector<Variable> variables;
  for (const char* name : embeddings) {
    const Tensor& value = clip::read_input(inputs_path, inputs, std::string("input.") + name, DType::F32, 2);
    const Tensor& first = inputs.tensors.at("input.image").value;
    if (value.shape() != first.shape() || first.size(0) < 1)
      throw clip::bad_inputs(inputs_path,
                             std::string("tensor 'input.") + name + "' has shape " + shape_str(value.shape()) +
                                 ", expected the non-empty shape of input.image " + shape_str(first.shape()));
    variables.emplace_back(value.to(dtype).to(device), true);
  }
  const Tensor& scale = clip::read_input(inputs_path, inputs, "input.logit_scale", DType::F32, 1);
  const Tensor& lambda = clip::read_input(inputs_path, inputs, "input.lambda", DType::F32, 1);
  if (scale.numel() != 1)
    throw clip::bad_inputs(inputs_path,
                           "tensor 'input.logit_scale' has shape " + shape_str(scale.shape()) + ", expected [1]");
  if (lambda.numel() != 2)
    throw clip::bad_inputs(inputs_path, "tensor 'input.lambda' has shape " + shape_str(lambda.shape()) +
                                            ", expected [2] (clip weight, in-modal weight)");
  Variable logit_scale(scale.to(dtype).to(device), true);
  CleanClipLosses result =
      cleanclip_objective(variables[0], variables[1], variables[2], variables[3], fn::reshape(logit_scale, {}),
                          lambda.data<float>()[0], lambda.data<float>()[1]);
  result.total.backward();

  clip::TensorMap out;
  out["loss.clip"] = clip::as_vector(result.clip.value());
  out["loss.inmodal"] = clip::as_vector(result.inmodal.value());
  out["loss.total"] = clip::as_vector(result.total.value());
  for (size_t i = 0; i < variables.size(); ++i)
    out[std::string("grad.") + embeddings[i]] =
        variables[i].has_grad() ? variables[i].grad() : Tensor::zeros(variables[i].shape(), dtype);
  out["grad.logit_scale"] = logit_scale.has_grad() ? logit_scale.grad() : Tensor::zeros({1}, dtype);
  for (auto& [name, tensor] : out) tensor = tensor.to(Device::CPU);
  return out;
}

}  // namespace clipgrad::cleanclip
