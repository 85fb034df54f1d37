// The CLIP model exactly as OpenAI's clip/model.py defines it: the same
// modules, parameter names, shapes, forward computation and initialisation.
// One difference in layout only: sequences are batch-first ([N, L, D]) where
// OpenAI permutes to [L, N, D] for nn.MultiheadAttention.
#pragma once

#include <map>
#include <memory>
#include <tuple>

#include "clip/model/config.h"
#include "clip/model/residual_block.h"
#include "clip/model/vision_encoder.h"
#include "nn/layers.h"

namespace clipgrad::clip {

class ClipModel : public nn::Module {
  // First, so that it is resolved before the layers are sized from it.
  ClipConfig config_;

 public:
  // Parameters start as nn layers leave them (zeroed, norms at 1); call
  // init_openai or load a state dict.
  explicit ClipModel(const ClipConfig& config);

  // pixels [N, 3, R, R] (R = image_resolution) -> [N, E], unnormalised
  Variable encode_image(const Variable& pixels);
  // tokens i32 [N, L], L <= context_length -> [N, E], unnormalised. The text
  // transformer is causal, so positions after the batch's last EOT reach no
  // pooled feature: a CPU table is cut there first (trim_tokens), and a device
  // table is used at the width it has, since finding its last EOT would read
  // it back to the host; cut device tables with trim_tokens before uploading
  // them. Either way no host read of the tokens.
  Variable encode_text(const Tensor& tokens);
  // tokens i32 [N, L] -> i32 [N], on the tokens' device (no host read): the
  // position whose feature represents each text (the EOT token; see
  // ClipConfig::eos_token_id).
  Tensor eot_positions(const Tensor& tokens) const;
  // tokens i32 [N, L] on the CPU -> [N, L'], the columns up to the batch's
  // last EOT (L' <= L; the same tensor when nothing is cut). The features of
  // the cut table are those of the whole one, to the bit.
  Tensor trim_tokens(const Tensor& tokens) const;

  // OpenAI's initialize_parameters, with PyTorch's default init for the rest.
  void init_openai(Generator& generator);

  const ClipConfig& config() const { return config_; }
  // Gradient checkpointing of every transformer block, text and vision (ViT);
  // ModifiedResNet's blocks are not checkpointed (their BatchNorm statistics
  // would be updated twice).
  void set_grad_checkpointing(bool enabled);

  Variable& positional_embedding;  // [context_length, Dt]
  Variable& text_projection;       // [Dt, E]
  Variable& logit_scale;           // []
  std::shared_ptr<VisionEncoder> visual;
  std::shared_ptr<Transformer> transformer;
  std::shared_ptr<nn::Embedding> token_embedding;  // [vocab, Dt]
  std::shared_ptr<nn::LayerNorm> ln_final;

 private:
  // The [length, length] causal mask, made and uploaded once per (length,
  // dtype, device): a step reuses it instead of uploading it again.
  const Tensor& causal_mask(int64_t length, DType dtype, Device device);
  std::map<std::tuple<int64_t, DType, Device>, Tensor> causal_masks_;
};

}  // namespace clipgrad::clip
