// The text tower of ClipModel: token and position embeddings, the causal
// transformer, and the feature of each text's EOT token, projected.
#include <algorithm>
#include <limits>
#include <stdexcept>

#include "clip/model/model.h"
#include "tensor/ops/shape.h"

namespace clipgrad::clip {

// [length, length] additive mask: each token sees itself and the tokens before it.
static Tensor causal_mask(int64_t length, DType dtype) {
  Tensor mask = Tensor::zeros({length, length}, dtype);
  dispatch_floating(dtype, "causal_mask", [&]<class T>() {
    T* values = mask.data<T>();
    for (int64_t row = 0; row < length; ++row)
      for (int64_t col = row + 1; col < length; ++col) values[row * length + col] = -std::numeric_limits<T>::infinity();
  });
  return mask;
}

static void check_tokens(const Tensor& tokens, int64_t context_length) {
  if (tokens.dtype() != DType::I32 || tokens.dim() != 2 || tokens.size(1) < 1 || tokens.size(1) > context_length)
    throw std::invalid_argument(
        "encode_text: tokens must be i32 [N, L] with 1 <= L <= " + std::to_string(context_length) +
        " (the context length), got " + dtype_name(tokens.dtype()) + " " + shape_str(tokens.shape()));
}

Tensor ClipModel::eot_positions(const Tensor& tokens) const {
  check_tokens(tokens, config_.context_length);
  int64_t batch = tokens.size(0), length = tokens.size(1);
  Tensor host = tokens.to(Device::CPU);
  const int32_t* ids = host.data<int32_t>();
  std::vector<int32_t> positions(batch, 0);
  for (int64_t n = 0; n < batch; ++n) {
    const int32_t* row = ids + n * length;
    if (config_.eos_token_id < 0) {
      // OpenAI: text.argmax(dim=-1), the first largest id (EOT is the largest).
      for (int64_t i = 1; i < length; ++i)
        if (row[i] > row[positions[n]]) positions[n] = static_cast<int32_t>(i);
    } else {
      // Hugging Face: the first eos id; a row without one pools position 0.
      for (int64_t i = 0; i < length; ++i)
        if (row[i] == config_.eos_token_id) {
          positions[n] = static_cast<int32_t>(i);
          break;
        }
    }
  }
  return Tensor::from_vector<int32_t>({batch}, positions);
}

Variable ClipModel::encode_text(const Tensor& tokens) {
  check_tokens(tokens, config_.context_length);
  Tensor eot = eot_positions(tokens);
  // The text transformer is causal: positions after the batch's last EOT reach
  // no pooled feature, so they are not computed (exact, and it halves the text
  // tower's work for short captions in a long context).
  const int32_t* eot_ids = eot.data<int32_t>();
  int64_t length = 1 + *std::max_element(eot_ids, eot_ids + eot.numel());
  Tensor used = length < tokens.size(1) ? ops::narrow(tokens.to(Device::CPU), 1, 0, length) : tokens;
  Variable x = token_embedding->forward(used);  // [N, length, Dt]
  Variable positions =
      length == config_.context_length ? positional_embedding : fn::narrow(positional_embedding, 0, 0, length);
  x = fn::add(x, positions);
  x = ln_final->forward(transformer->forward(x, causal_mask(length, x.dtype()).to(x.value().device())));
  return fn::matmul(fn::gather_rows(x, eot), text_projection);
}

}  // namespace clipgrad::clip
