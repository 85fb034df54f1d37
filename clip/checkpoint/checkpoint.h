// CLIP checkpoints in the two layouts people share them in:
//   OpenAI: one .safetensors file holding the state dict of OpenAI's CLIP
//     module (the names open_clip and the CleanCLIP code use too), with our
//     config in its metadata (`clip_config`; inferred from the shapes when
//     absent, as OpenAI's build_model does).
//   Hugging Face: a CLIPModel directory, config.json + model.safetensors.
// The model always holds OpenAI names; HF names are mapped on load and back
// on save by to_openai_layout / to_hf_layout, which work on any name->tensor
// dict, so gradients map to HF names the same way as weights.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <vector>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "clip/model/model.h"

namespace clipgrad::clip {

enum class CheckpointLayout { OpenAI, HuggingFace };

const char* layout_name(CheckpointLayout layout);        // "openai" or "hf"
CheckpointLayout parse_layout(const std::string& name);  // throws listing the valid names

// Every problem with a checkpoint's contents: "bad checkpoint 'PATH': what".
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where the config of a loaded checkpoint came from.
enum class ConfigSource { Given, Metadata, ConfigJson, Inferred };
const char* config_source_name(ConfigSource source);  // "given (--config)", "inferred from the tensor shapes", ...

struct LoadOptions {
  // The model config (`--config`): used instead of the file's own
  // (clip_config metadata, config.json) or the one its shapes imply.
  std::optional<ClipConfig> config;
};

struct LoadedClip {
  std::shared_ptr<ClipModel> model;
  CheckpointLayout layout;
  ClipConfig config;
  // What `clipgrad info` and --verbose report.
  std::string format;  // "safetensors", "torch.save (zip)", "TorchScript archive", ...
  ConfigSource config_source = ConfigSource::Metadata;
  std::map<std::string, int64_t> stored_dtypes;  // the file's dtype names -> tensor count
  // What was found but not loaded: "ignored 'optimizer': a dict of 2 entries, 3 tensors (not read)", ...
  std::vector<std::string> notes;
};

// PATH: an OpenAI-layout .safetensors file, a PyTorch file (torch.save zip or
// legacy, TorchScript; see io/torch/torch_file.h) of OpenAI-layout names, or
// a Hugging Face CLIPModel directory (config.json + model.safetensors or
// pytorch_model.bin). The format is told by the file's first bytes.
// The config (given, from the file, or inferred from the shapes as OpenAI's
// build_model does) is checked against every tensor shape before the model is
// allocated. Strict: any missing, unexpected or wrong-shaped tensor (named in
// the checkpoint's own layout), absurd size or bad config throws
// CheckpointError (a file that cannot be read throws SafetensorsError or
// io::TorchFileError), all as "bad checkpoint 'PATH': what".
// PyTorch's leniencies are kept: a BatchNorm without num_batches_tracked
// (older PyTorch) loads with the counter at 0, the scalars OpenAI's JIT
// archives add (input_resolution, context_length, vocab_size) and HF's
// position_ids buffers are dropped.
LoadedClip load_clip(const std::string& path, const LoadOptions& options = {});

// Writes atomically. OpenAI: PATH is the .safetensors file, with metadata
// format=openai, clip_config and activation; BatchNorm counters stored as I64
// as PyTorch does. HuggingFace: PATH is a directory (created if needed) that
// gets config.json and model.safetensors; a ModifiedResNet has no HF form and
// throws std::invalid_argument. `float_dtype` (F32, F16 or BF16) is the file
// dtype of the floating-point tensors (narrowing rounds to nearest even).
void save_clip(const ClipModel& model, const std::string& path, CheckpointLayout layout,
               const std::string& float_dtype = "F32");

// ---- sizes (clip/checkpoint/expected_shapes.cpp) ----

// Bounds on any config a checkpoint may ask for: far beyond every published
// CLIP, and small enough that no shape arithmetic overflows.
constexpr int64_t kMaxConfigWidth = int64_t(1) << 20;
constexpr int64_t kMaxConfigLayers = int64_t(1) << 12;
// Throws std::invalid_argument naming a size beyond those bounds.
void check_config_sizes(const ClipConfig& config);
// Every tensor of a ClipModel's state dict (OpenAI names) -> its shape,
// computed without building the model. Throws as check_config_sizes.
std::map<std::string, Shape> expected_shapes(const ClipConfig& config);

// ---- the Hugging Face mapping (clip/checkpoint/hf_layout.cpp) ----

// HF CLIPModel names -> OpenAI names: q/k/v_proj concatenated into
// in_proj_weight [3D, D] / in_proj_bias [3D], visual_projection.weight [E, W]
// and text_projection.weight [E, W] transposed to visual.proj and
// text_projection [W, E]; position_ids buffers dropped. Throws
// std::invalid_argument naming a tensor with no OpenAI counterpart, or a
// q/k/v set with a member missing.
std::map<std::string, Tensor> to_openai_layout(const std::map<std::string, Tensor>& hf);
// The inverse; throws std::invalid_argument naming a tensor HF's CLIPModel
// does not have (every ModifiedResNet tensor).
std::map<std::string, Tensor> to_hf_layout(const std::map<std::string, Tensor>& openai);
// The same mapping on shapes alone (to check a file before a model exists).
std::map<std::string, Shape> to_hf_shapes(const std::map<std::string, Shape>& openai);

// CLIPModel's config.json <-> ClipConfig. Keys HF leaves out take
// transformers' defaults; an MLP other than 4 x hidden_size, other than 3
// channels or different activations/eps for text and vision throw
// std::invalid_argument naming the key. HF's eos_token_id 2 (its legacy value)
// means OpenAI's argmax pooling, as in transformers.
ClipConfig config_from_hf_json(const nlohmann::json& json);
nlohmann::json config_to_hf_json(const ClipConfig& config);

}  // namespace clipgrad::clip
