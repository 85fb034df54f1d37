// The text tower of ClipModel: token and position embeddings, the causal
// transformer, and the feature of each text's EOT token, projected.
#include <algorithm>
#include <limits>
#include <stdexcept>

#include "clip/model/model.h"
#include "tensor/ops/shape.h"

namespace clipgrad::clip {

static void check_tokens(const Tensor& tokens, int64_t context_length) {
  if (tokens.dtype() != DType::I32 || tokens.dim() != 2 || tokens.size(1) < 1 || tokens.size(1) > context_length)
    throw std::invalid_argument(
        "encode_text: tokens must be i32 [N, L] with 1 <= L <= " + std::to_string(context_length) +
        " (the context length), got " + dtype_name(tokens.dtype()) + " " + shape_str(tokens.shape()));
}

Tensor ClipModel::eot_positions(const Tensor& tokens) const {
  check_tokens(tokens, config_.context_length);
  return ops::eot_positions(tokens, config_.eos_token_id);
}

Tensor ClipModel::trim_tokens(const Tensor& tokens) const {
  check_tokens(tokens, config_.context_length);
  if (tokens.device() != Device::CPU)
    throw std::invalid_argument(
        "trim_tokens: the tokens must be on the CPU (cut a table before uploading it; a "
        "device table's last EOT would have to be read back to the host), got a " +
        std::string(device_name(tokens.device())) + " tensor");
  const std::vector<int32_t> eot = eot_positions(tokens).to_vector<int32_t>();
  const int64_t length = eot.empty() ? tokens.size(1) : 1 + *std::max_element(eot.begin(), eot.end());
  return length < tokens.size(1) ? ops::narrow(tokens, 1, 0, length) : tokens;
}

// [length, length] additive mask: each token sees itself and the tokens before it.
const Tensor& ClipModel::causal_mask(int64_t length, DType dtype, Device device) {
  Tensor& mask = causal_masks_[{length, dtype, device}];
  if (mask.defined()) return mask;
  Tensor host = Tensor::zeros({length, length}, dtype);
  dispatch_floating(dtype, "causal_mask", [&]<class T>() {
    T* values = host.data<T>();
    for (int64_t row = 0; row < length; ++row)
      for (int64_t col = row + 1; col < length; ++col) values[row * length + col] = -std::numeric_limits<T>::infinity();
  });
  mask = host.to(device);
  return mask;
}

Variable ClipModel::encode_text(const Tensor& tokens) {
  check_tokens(tokens, config_.context_length);
  const Tensor used = tokens.device() == Device::CPU ? trim_tokens(tokens) : tokens;
  const int64_t length = used.size(1);
  const Tensor eot = eot_positions(used);
  Variable x = token_embedding->forward(used);  // [N, length, Dt]
  Variable positions =
      length == config_.context_length ? positional_embedding : fn::narrow(positional_embedding, 0, 0, length);
  x = fn::add(x, positions);
  x = ln_final->forward(transformer->forward(x, causal_mask(length, x.dtype(), x.value().device())));
  return fn::matmul(fn::gather_rows(x, eot), text_projection);
}

}  // namespace clipgrad::clip
