#include "clip/checkpoint/checkpoint.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "io/safetensors.h"

namespace clipgrad::clip {

namespace fs = std::filesystem;

const char* layout_name(CheckpointLayout layout) { return layout == CheckpointLayout::HuggingFace ? "hf" : "openai"; }

CheckpointLayout parse_layout(const std::string& name) {
  if (name == "openai") return CheckpointLayout::OpenAI;
  if (name == "hf") return CheckpointLayout::HuggingFace;
  throw std::invalid_argument("unknown checkpoint layout '" + name + "': expected openai or hf");
}

static CheckpointError bad(const std::string& path, const std::string& what) {
  return CheckpointError("bad checkpoint '" + path + "': " + what);
}

static bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

static bool is_floating(DType dtype) { return dtype == DType::F32 || dtype == DType::F64; }

// Compares what a checkpoint holds with what the model expects (both in the
// checkpoint's own names) and throws one error listing the problems.
static void check_tensors(const std::string& path, const std::map<std::string, Tensor>& expected,
                          const std::map<std::string, Tensor>& given) {
  std::vector<std::string> problems;
  for (const auto& [name, target] : expected) {
    auto found = given.find(name);
    if (found == given.end()) {
      problems.push_back("missing tensor '" + name + "'");
    } else if (found->second.shape() != target.shape()) {
      problems.push_back("tensor '" + name + "' has shape " + shape_str(found->second.shape()) +
                         ", the model expects " + shape_str(target.shape()));
    } else if (is_floating(target.dtype()) != is_floating(found->second.dtype())) {
      problems.push_back("tensor '" + name + "' has dtype " + dtype_name(found->second.dtype()) +
                         ", the model expects " + dtype_name(target.dtype()));
    }
  }
  for (const auto& [name, value] : given)
    if (!expected.count(name)) problems.push_back("unexpected tensor '" + name + "'");
  if (problems.empty()) return;
  // A wholly different file would list hundreds; the first few say enough.
  constexpr size_t kShown = 6;
  std::string message = problems[0];
  for (size_t i = 1; i < std::min(problems.size(), kShown); ++i) message += "; " + problems[i];
  if (problems.size() > kShown) message += "; and " + std::to_string(problems.size() - kShown) + " more problems";
  throw bad(path, message);
}

static std::map<std::string, Tensor> values_of(const io::SafetensorsFile& file) {
  std::map<std::string, Tensor> values;
  for (const auto& [name, stored] : file.tensors) values[name] = stored.value;
  return values;
}

static std::shared_ptr<ClipModel> build(const std::string& path, const ClipConfig& config) {
  try {
    return std::make_shared<ClipModel>(config);
  } catch (const std::invalid_argument& error) {
    throw bad(path, error.what());
  }
}

static ClipConfig openai_config(const std::string& path, const io::SafetensorsFile& file) {
  auto activation = file.metadata.find("activation");
  try {
    auto metadata = file.metadata.find("clip_config");
    if (metadata != file.metadata.end()) {
      nlohmann::json json;
      try {
        json = nlohmann::json::parse(metadata->second);
      } catch (const nlohmann::json::exception& error) {
        throw bad(path, std::string("metadata clip_config is not valid JSON: ") + error.what());
      }
      if (json.is_object() && !json.contains("activation") && activation != file.metadata.end())
        json["activation"] = activation->second;
      return ClipConfig::from_json(json);
    }
    std::map<std::string, Shape> shapes;
    for (const auto& [name, stored] : file.tensors) shapes[name] = stored.value.shape();
    ClipConfig config = ClipConfig::infer(shapes);
    if (activation != file.metadata.end()) config.activation = parse_activation(activation->second);
    return config;
  } catch (const std::invalid_argument& error) {
    throw bad(path, error.what());
  }
}

static LoadedClip load_openai(const std::string& path) {
  io::SafetensorsFile file = io::read_safetensors(path);
  if (file.contains("text_model.embeddings.token_embedding.weight") ||
      file.contains("vision_model.embeddings.patch_embedding.weight"))
    throw bad(path, "it holds Hugging Face CLIPModel tensors; pass the directory that holds it and its config.json");
  ClipConfig config = openai_config(path, file);
  std::shared_ptr<ClipModel> model = build(path, config);

  std::map<std::string, Tensor> tensors = values_of(file);
  // Scalars that OpenAI's JIT archives carry and build_model deletes.
  for (const char* extra : {"input_resolution", "context_length", "vocab_size"}) tensors.erase(extra);
  nn::StateDict expected = model->state_dict();
  // As PyTorch's BatchNorm: checkpoints from before the counter existed load with it at 0.
  for (const auto& [name, value] : expected)
    if (ends_with(name, ".num_batches_tracked") && !tensors.count(name)) tensors[name] = value.clone();
  check_tensors(path, expected, tensors);
  model->load_state_dict(tensors);
  return {model, CheckpointLayout::OpenAI, model->config()};
}

static LoadedClip load_hf(const std::string& path) {
  fs::path config_path = fs::path(path) / "config.json";
  fs::path weights_path = fs::path(path) / "model.safetensors";
  if (!fs::exists(config_path))
    throw bad(path,
              "no config.json in this directory; a Hugging Face CLIPModel directory holds config.json and "
              "model.safetensors");
  if (!fs::exists(weights_path))
    throw bad(path,
              "no model.safetensors in this directory (sharded and PyTorch .bin weights are not read; convert "
              "them to one model.safetensors)");
  nlohmann::json json;
  {
    std::ifstream in(config_path);
    if (!in) throw bad(path, "cannot read config.json: " + std::string(std::strerror(errno)));
    try {
      json = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& error) {
      throw bad(path, std::string("config.json is not valid JSON: ") + error.what());
    }
  }
  ClipConfig config;
  try {
    config = config_from_hf_json(json);
  } catch (const std::invalid_argument& error) {
    throw bad(path, error.what());
  }
  std::shared_ptr<ClipModel> model = build(path, config);

  io::SafetensorsFile file = io::read_safetensors(weights_path.string());
  std::map<std::string, Tensor> tensors = values_of(file);
  for (const char* buffer : {"text_model.embeddings.position_ids", "vision_model.embeddings.position_ids"})
    tensors.erase(buffer);
  check_tensors(path, to_hf_layout(model->state_dict()), tensors);
  model->load_state_dict(to_openai_layout(tensors));
  return {model, CheckpointLayout::HuggingFace, model->config()};
}

LoadedClip load_clip(const std::string& path) {
  if (!fs::exists(path)) throw bad(path, "no such file or directory");
  return fs::is_directory(path) ? load_hf(path) : load_openai(path);
}

static void write_text_atomically(const fs::path& path, const std::string& text) {
  fs::path temporary = path;
  temporary += ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw std::runtime_error("cannot write '" + temporary.string() + "': " + std::strerror(errno));
  }
  std::error_code error;
  fs::rename(temporary, path, error);
  if (error) {
    fs::remove(temporary);
    throw std::runtime_error("cannot rename '" + temporary.string() + "' to '" + path.string() +
                             "': " + error.message());
  }
}

void save_clip(const ClipModel& model, const std::string& path, CheckpointLayout layout) {
  const ClipConfig& config = model.config();
  if (layout == CheckpointLayout::OpenAI) {
    std::map<std::string, io::StoredTensor> tensors;
    // BatchNorm counters are the only integer tensors; PyTorch keeps them as I64.
    for (const auto& [name, value] : model.state_dict())
      tensors[name] = {value, value.dtype() == DType::I32 ? "I64" : ""};
    io::write_safetensors(path, tensors,
                      {{"format", "openai"},
                       {"clip_config", config.to_json().dump()},
                       {"activation", activation_name(config.activation)}});
    return;
  }
  nlohmann::json json = config_to_hf_json(config);  // throws for a ModifiedResNet, before anything is written
  std::map<std::string, Tensor> tensors = to_hf_layout(model.state_dict());
  fs::create_directories(path);
  io::write_safetensors((fs::path(path) / "model.safetensors").string(), tensors, {{"format", "pt"}});
  write_text_atomically(fs::path(path) / "config.json", json.dump(2) + "\n");
}

}  // namespace clipgrad::clip
