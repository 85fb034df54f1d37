#include "cleanclip/defense/classifier_head.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>

#include "autograd/functional.h"
#include "clip/checkpoint/checkpoint.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "tensor/ops/elementwise.h"
#include "tensor/ops/linalg.h"
#include "tensor/ops/reduce.h"

namespace clipgrad::cleanclip {

namespace fs = std::filesystem;

namespace {

constexpr const char* kHeadWeight = "head.weight";
constexpr const char* kHeadBias = "head.bias";
constexpr const char* kHeadMetadata = "classifier_head";
constexpr const char* kSupervisedMetadata = "supervised";
constexpr const char* kHeadRule = "logits = l2_normalize(image_features) @ head.weight^T + head.bias";
// l2_normalize's guard, the same in training (fn::) and evaluation (ops::).
constexpr double kNormEps = 1e-12;

clip::CheckpointError bad(const std::string& path, const std::string& what) {
  return clip::CheckpointError("bad checkpoint '" + path + "': " + what);
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

}  // namespace

ClassifierHead zero_shot_head(clip::ClipModel& model, const clip::Tokenizer& tokenizer,
                              const clip::ClassNames& class_names) {
  Tensor class_embeddings = clip::zero_shot_weights(model, tokenizer, class_names);  // [C, E], unit rows
  const double scale = std::exp(model.logit_scale.value().item());
  ClassifierHead head;
  head.weight = ops::scale(class_embeddings, scale);
  head.bias = Tensor::zeros({class_embeddings.size(0)});
  head.classes = class_names.classes;
  return head;
}

Variable head_logits(const Variable& image_features, const Variable& weight, const Variable& bias) {
  return fn::linear(fn::l2_normalize(image_features, -1, kNormEps), weight, bias);  // [N, C]
}

Classifier head_classifier(const ClassifierHead& head) {
  if (head.weight.dim() != 2 || head.bias.dim() != 1 || head.bias.size(0) != head.weight.size(0))
    throw std::invalid_argument("head_classifier: head must be weight [C, E] and bias [C], got " +
                                shape_str(head.weight.shape()) + " and " + shape_str(head.bias.shape()));
  return [weight = head.weight, bias = head.bias](const Tensor& image_features) {
    if (image_features.dim() != 2 || image_features.size(1) != weight.size(1))
      throw std::invalid_argument("head classifier: image features " + shape_str(image_features.shape()) +
                                  " for a head of weight " + shape_str(weight.shape()));
    if (image_features.size(0) == 0) return Tensor::empty({0, weight.size(0)});
    return ops::linear(ops::l2_normalize(image_features, -1, kNormEps), weight, bias);  // [n, C]
  };
}

clip::Accuracy evaluate_classifier(clip::ClipModel& model, const Classifier& classifier, int64_t class_count,
                                   const clip::LabelledDataset& data, int workers, bool strict,
                                   clip::ImageTransform transform) {
  clip::ImageFeatures images =
      clip::image_features(model, clip::loader_items(data), workers, 256, strict, std::move(transform));
  std::vector<int64_t> labels;
  std::vector<std::string> row_names;
  for (int64_t row : images.rows) {
    labels.push_back(data[row].label);
    row_names.push_back(data.where(static_cast<size_t>(row)));
  }
  clip::Accuracy accuracy = clip::score(classifier(images.features), labels, class_count, row_names);
  accuracy.skipped = images.skipped;
  return accuracy;
}

// ---- the checkpoint ----

void save_supervised_checkpoint(const clip::ClipModel& model, const ClassifierHead& head, const std::string& path,
                                const nlohmann::json& extra) {
  const int64_t classes = static_cast<int64_t>(head.classes.size());
  if (head.weight.shape() != Shape{classes, model.config().embed_dim} || head.bias.shape() != Shape{classes})
    throw std::invalid_argument("save_supervised_checkpoint: head weight " + shape_str(head.weight.shape()) +
                                " and bias " + shape_str(head.bias.shape()) + " do not fit " + std::to_string(classes) +
                                " classes and embed_dim " + std::to_string(model.config().embed_dim));
  // The model part is written by clip::save_clip itself (tensors, dtypes and
  // metadata), then read back and joined by the head, so the two never drift.
  fs::path model_part = fs::path(path).concat(".model.tmp");
  try {
    clip::save_clip(model, model_part.string(), clip::CheckpointLayout::OpenAI);
    io::SafetensorsFile file = io::read_safetensors(model_part.string());
    fs::remove(model_part);
    file.tensors[kHeadWeight] = {head.weight, "F32"};
    file.tensors[kHeadBias] = {head.bias, "F32"};
    file.metadata[kHeadMetadata] = nlohmann::json{{"classes", head.classes}, {"rule", kHeadRule}}.dump();
    if (!extra.is_null()) file.metadata[kSupervisedMetadata] = extra.dump();
    io::write_safetensors(path, file.tensors, file.metadata);
  } catch (...) {
    std::error_code ignored;
    fs::remove(model_part, ignored);
    throw;
  }
}

SupervisedModel load_supervised_checkpoint(const std::string& path) {
  if (!fs::is_regular_file(path)) throw bad(path, "no such file (a supervised checkpoint is one .safetensors file)");
  io::SafetensorsFile file = io::read_safetensors(path);
  auto meta = [&](const char* key) -> const std::string& {
    auto found = file.metadata.find(key);
    if (found == file.metadata.end())
      throw bad(path, std::string("metadata has no '") + key +
                          "': not a checkpoint of clipgrad finetune-supervised (use it where a CLIP model goes)");
    return found->second;
  };
  SupervisedModel result;
  clip::ClipConfig config;
  std::vector<std::string> classes;
  try {
    nlohmann::json head_json = io::parse_json(meta(kHeadMetadata), std::string("metadata ") + kHeadMetadata);
    classes = head_json.at("classes").get<std::vector<std::string>>();
    nlohmann::json config_json = io::parse_json(meta("clip_config"), "metadata clip_config");
    auto activation = file.metadata.find("activation");
    if (config_json.is_object() && !config_json.contains("activation") && activation != file.metadata.end())
      config_json["activation"] = activation->second;
    config = clip::ClipConfig::from_json(config_json);
    auto supervised = file.metadata.find(kSupervisedMetadata);
    if (supervised != file.metadata.end())
      result.metadata = io::parse_json(supervised->second, std::string("metadata ") + kSupervisedMetadata);
  } catch (const clip::CheckpointError&) {
    throw;
  } catch (const std::exception& error) {
    throw bad(path, std::string("malformed metadata: ") + error.what());
  }

  // Split off the head; the rest is the model's state dict.
  nn::StateDict state;
  for (const auto& [name, stored] : file.tensors)
    if (!starts_with(name, "head.")) state[name] = stored.value;
  for (const auto& [name, stored] : file.tensors)
    if (starts_with(name, "head.") && name != kHeadWeight && name != kHeadBias)
      throw bad(path, "unexpected tensor '" + name + "' (a head holds head.weight and head.bias)");
  const int64_t class_count = static_cast<int64_t>(classes.size());
  const Shape weight_shape{class_count, config.embed_dim}, bias_shape{class_count};
  if (!file.contains(kHeadWeight) || !file.contains(kHeadBias))
    throw bad(path, "missing tensor 'head.weight' or 'head.bias'");
  const Tensor& weight = file.at(kHeadWeight);
  const Tensor& bias = file.at(kHeadBias);
  if (weight.dtype() != DType::F32 || weight.shape() != weight_shape)
    throw bad(path, "tensor 'head.weight' is " + std::string(dtype_name(weight.dtype())) + " " +
                        shape_str(weight.shape()) + ", expected f32 " + shape_str(weight_shape) + " (" +
                        std::to_string(class_count) + " classes, embed_dim " + std::to_string(config.embed_dim) + ")");
  if (bias.dtype() != DType::F32 || bias.shape() != bias_shape)
    throw bad(path, "tensor 'head.bias' is " + std::string(dtype_name(bias.dtype())) + " " + shape_str(bias.shape()) +
                        ", expected f32 " + shape_str(bias_shape));

  try {
    result.model = std::make_shared<clip::ClipModel>(config);
    result.model->load_state_dict(state);  // strict: names every missing, unexpected or misshapen tensor
  } catch (const std::exception& error) {
    throw bad(path, error.what());
  }
  result.head = {weight, bias, classes};
  return result;
}

bool has_classifier_head(const std::string& path) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) return false;
  const uintmax_t size = fs::file_size(path, error);
  if (error || size < 8) return false;
  std::ifstream in(path, std::ios::binary);
  unsigned char length_bytes[8];
  if (!in.read(reinterpret_cast<char*>(length_bytes), 8)) return false;
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = header_length << 8 | length_bytes[i];  // little-endian
  // A safetensors header is JSON: at most the rest of the file, and far below 100 MB.
  if (header_length > size - 8 || header_length > (uint64_t(100) << 20)) return false;
  std::string header(header_length, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(header_length))) return false;
  const std::optional<nlohmann::json> json = io::try_parse_json(header);
  return json && json->is_object() && json->contains(kHeadWeight);
}

void check_head_classes(const ClassifierHead& head, const clip::ClassNames& class_names, const std::string& path) {
  if (head.classes == class_names.classes) return;
  auto list = [](const std::vector<std::string>& names) {
    std::string text;
    for (const auto& name : names) text += (text.empty() ? "'" : ", '") + name + "'";
    return "[" + text + "]";
  };
  throw std::invalid_argument("the head of '" + path + "' was trained for the classes " + list(head.classes) +
                              ", the classes file lists " + list(class_names.classes) +
                              ": evaluate with the classes file it was trained on");
}

}  // namespace clipgrad::cleanclip
