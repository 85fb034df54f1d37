#include "clip/checkpoint/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <vector>

#include "io/atomic_file.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "io/torch/torch_file.h"

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

// What differs between the tensors a model expects (name -> shape) and those
// a checkpoint holds, both in the checkpoint's own names: missing, misshapen
// and unexpected tensors.
static std::vector<std::string> shape_problems(const std::map<std::string, Shape>& expected,
                                               const std::map<std::string, Tensor>& given) {
  std::vector<std::string> problems;
  for (const auto& [name, shape] : expected) {
    auto found = given.find(name);
    if (found == given.end())
      problems.push_back("missing tensor '" + name + "'");
    else if (found->second.shape() != shape)
      problems.push_back("tensor '" + name + "' has shape " + shape_str(found->second.shape()) +
                         ", the model expects " + shape_str(shape));
  }
  for (const auto& [name, value] : given)
    if (!expected.count(name)) problems.push_back("unexpected tensor '" + name + "'");
  return problems;
}

// Throws one error listing the problems found, if any. A wholly different
// file would list hundreds; the first few say enough.
static void throw_if_any(const std::string& path, const std::vector<std::string>& problems) {
  if (problems.empty()) return;
  constexpr size_t kShown = 6;
  std::string message = problems[0];
  for (size_t i = 1; i < std::min(problems.size(), kShown); ++i) message += "; " + problems[i];
  if (problems.size() > kShown) message += "; and " + std::to_string(problems.size() - kShown) + " more problems";
  throw bad(path, message);
}

// Compares what a checkpoint holds with what the model expects: names,
// shapes, and floating point where the model has it.
static void check_tensors(const std::string& path, const std::map<std::string, Tensor>& expected,
                          const std::map<std::string, Tensor>& given) {
  std::map<std::string, Shape> shapes;
  for (const auto& [name, target] : expected) shapes[name] = target.shape();
  std::vector<std::string> problems = shape_problems(shapes, given);
  for (const auto& [name, target] : expected) {
    auto found = given.find(name);
    if (found != given.end() && found->second.shape() == target.shape() &&
        is_floating(target.dtype()) != is_floating(found->second.dtype()))
      problems.push_back("tensor '" + name + "' has dtype " + dtype_name(found->second.dtype()) +
                         ", the model expects " + dtype_name(target.dtype()));
  }
  throw_if_any(path, problems);
}

const char* config_source_name(ConfigSource source) {
  switch (source) {
    case ConfigSource::Given: return "given (--config)";
    case ConfigSource::Metadata: return "the file's clip_config metadata";
    case ConfigSource::ConfigJson: return "config.json";
    case ConfigSource::Inferred: return "inferred from the tensor shapes (OpenAI's build_model rules)";
  }
  return "unknown";
}

namespace {

// A checkpoint file's tensors, whatever its format.
struct FileTensors {
  std::string format;
  std::map<std::string, io::StoredTensor> tensors;
  std::map<std::string, std::string> metadata;
  std::vector<std::string> notes;
};

FileTensors read_file_tensors(const std::string& path) {
  if (!io::looks_like_torch_file(path)) {
    io::SafetensorsFile file = io::read_safetensors(path);
    return {"safetensors", std::move(file.tensors), std::move(file.metadata), {}};
  }
  io::TorchCheckpoint file = io::read_torch_file(path);
  FileTensors out{io::torch_format_name(file.format), std::move(file.tensors), {}, {}};
  if (!file.state_dict_key.empty()) out.notes.push_back("the state dict is the '" + file.state_dict_key + "' entry");
  if (file.stripped_module_prefix) out.notes.push_back("the 'module.' prefix (DDP) was stripped from every name");
  for (const auto& [key, what] : file.extras) out.notes.push_back("ignored '" + key + "': " + what);
  return out;
}

std::map<std::string, Tensor> values_of(const std::map<std::string, io::StoredTensor>& tensors) {
  std::map<std::string, Tensor> values;
  for (const auto& [name, stored] : tensors) values[name] = stored.value;
  return values;
}

std::map<std::string, int64_t> dtype_counts(const std::map<std::string, io::StoredTensor>& tensors) {
  std::map<std::string, int64_t> counts;
  for (const auto& [name, stored] : tensors) ++counts[stored.stored_dtype];
  return counts;
}

std::shared_ptr<ClipModel> build(const std::string& path, const ClipConfig& config) {
  try {
    return std::make_shared<ClipModel>(config);
  } catch (const std::invalid_argument& error) {
    throw bad(path, error.what());
  }
}

// The config checked to be sane and to need exactly the shapes the file holds
// (in the file's own names), before anything of the model is allocated.
void check_config_fits(const std::string& path, const ClipConfig& config, const std::map<std::string, Tensor>& given,
                       CheckpointLayout layout) {
  std::map<std::string, Shape> expected;
  try {
    expected = expected_shapes(config);
    if (layout == CheckpointLayout::HuggingFace) expected = to_hf_shapes(expected);
  } catch (const std::invalid_argument& error) {
    throw bad(path, error.what());
  }
  throw_if_any(path, shape_problems(expected, given));
}

ClipConfig parse_config(const std::string& path, const std::function<ClipConfig()>& make) {
  try {
    return make();
  } catch (const std::invalid_argument& error) {
    throw bad(path, error.what());
  }
}

ClipConfig openai_config(const std::string& path, const FileTensors& file, ConfigSource& source) {
  auto activation = file.metadata.find("activation");
  auto metadata = file.metadata.find("clip_config");
  if (metadata != file.metadata.end()) {
    source = ConfigSource::Metadata;
    nlohmann::json json;
    try {
      json = io::parse_json(metadata->second, "metadata clip_config");
    } catch (const std::runtime_error& error) {
      throw bad(path, error.what());
    }
    if (json.is_object() && !json.contains("activation") && activation != file.metadata.end())
      json["activation"] = activation->second;
    return parse_config(path, [&] { return ClipConfig::from_json(json); });
  }
  source = ConfigSource::Inferred;
  std::map<std::string, Shape> shapes;
  for (const auto& [name, stored] : file.tensors) shapes[name] = stored.value.shape();
  return parse_config(path, [&] {
    ClipConfig config = ClipConfig::infer(shapes);
    if (activation != file.metadata.end()) config.activation = parse_activation(activation->second);
    return config;
  });
}

LoadedClip load_openai(const std::string& path, const LoadOptions& options) {
  FileTensors file = read_file_tensors(path);
  if (file.tensors.count("text_model.embeddings.token_embedding.weight") ||
      file.tensors.count("vision_model.embeddings.patch_embedding.weight"))
    throw bad(path, "it holds Hugging Face CLIPModel tensors; pass the directory that holds it and its config.json");
  std::map<std::string, Tensor> tensors = values_of(file.tensors);
  // Scalars that OpenAI's JIT archives carry and build_model deletes.
  for (const char* extra : {"input_resolution", "context_length", "vocab_size"}) tensors.erase(extra);

  ConfigSource source = ConfigSource::Given;
  ClipConfig config = options.config ? parse_config(path, [&] { return options.config->resolved(); })
                                     : openai_config(path, file, source);
  std::map<std::string, Tensor> fitted = tensors;
  // As PyTorch's BatchNorm: checkpoints from before the counter existed load with it at 0.
  std::map<std::string, Shape> expected;
  try {
    expected = expected_shapes(config);
  } catch (const std::invalid_argument& error) {
    throw bad(path, error.what());
  }
  for (const auto& [name, shape] : expected)
    if (ends_with(name, ".num_batches_tracked") && !fitted.count(name)) fitted[name] = Tensor::zeros({}, DType::I32);
  check_config_fits(path, config, fitted, CheckpointLayout::OpenAI);

  std::shared_ptr<ClipModel> model = build(path, config);
  check_tensors(path, model->state_dict(), fitted);
  model->load_state_dict(fitted);
  return {model,  CheckpointLayout::OpenAI,   model->config(),      file.format,
          source, dtype_counts(file.tensors), std::move(file.notes)};
}

LoadedClip load_hf(const std::string& path, const LoadOptions& options) {
  fs::path config_path = fs::path(path) / "config.json";
  fs::path weights_path = fs::path(path) / "model.safetensors";
  if (!fs::exists(weights_path) && fs::exists(fs::path(path) / "pytorch_model.bin"))
    weights_path = fs::path(path) / "pytorch_model.bin";
  if (!options.config && !fs::exists(config_path))
    throw bad(path,
              "no config.json in this directory; a Hugging Face CLIPModel directory holds config.json and "
              "model.safetensors");
  if (!fs::exists(weights_path))
    throw bad(path,
              "no model.safetensors or pytorch_model.bin in this directory (sharded weights are not read; "
              "convert them to one model.safetensors)");
  ConfigSource source = ConfigSource::Given;
  ClipConfig config;
  if (options.config) {
    config = parse_config(path, [&] { return options.config->resolved(); });
  } else {
    source = ConfigSource::ConfigJson;
    nlohmann::json json;
    try {
      json = io::read_json_file(config_path.string(), "config.json");
    } catch (const std::runtime_error& error) {
      throw bad(path, error.what());
    }
    config = parse_config(path, [&] { return config_from_hf_json(json); });
  }
  FileTensors file = read_file_tensors(weights_path.string());
  std::map<std::string, Tensor> tensors = values_of(file.tensors);
  for (const char* buffer : {"text_model.embeddings.position_ids", "vision_model.embeddings.position_ids"})
    tensors.erase(buffer);
  check_config_fits(path, config, tensors, CheckpointLayout::HuggingFace);

  std::shared_ptr<ClipModel> model = build(path, config);
  check_tensors(path, to_hf_layout(model->state_dict()), tensors);
  model->load_state_dict(to_openai_layout(tensors));
  return {model,  CheckpointLayout::HuggingFace, model->config(),      "Hugging Face directory (" + file.format + ")",
          source, dtype_counts(file.tensors),    std::move(file.notes)};
}

}  // namespace

LoadedClip load_clip(const std::string& path, const LoadOptions& options) {
  if (!fs::exists(path)) throw bad(path, "no such file or directory");
  return fs::is_directory(path) ? load_hf(path, options) : load_openai(path, options);
}

void save_clip(const ClipModel& model, const std::string& path, CheckpointLayout layout,
               const std::string& float_dtype) {
  if (float_dtype != "F32" && float_dtype != "F16" && float_dtype != "BF16")
    throw std::invalid_argument("unknown checkpoint dtype '" + float_dtype + "': expected F32, F16 or BF16");
  const ClipConfig& config = model.config();
  // BatchNorm counters are the only integer tensors; PyTorch keeps them as I64.
  auto stored = [&](const Tensor& value) {
    return io::StoredTensor{value, value.dtype() == DType::I32 ? "I64" : float_dtype};
  };
  if (layout == CheckpointLayout::OpenAI) {
    std::map<std::string, io::StoredTensor> tensors;
    for (const auto& [name, value] : model.state_dict()) tensors[name] = stored(value);
    io::write_safetensors(path, tensors,
                          {{"format", "openai"},
                           {"clip_config", config.to_json().dump()},
                           {"activation", activation_name(config.activation)}});
    return;
  }
  nlohmann::json json = config_to_hf_json(config);  // throws for a ModifiedResNet, before anything is written
  if (float_dtype != "F32") json["torch_dtype"] = float_dtype == "F16" ? "float16" : "bfloat16";
  std::map<std::string, io::StoredTensor> tensors;
  for (const auto& [name, value] : to_hf_layout(model.state_dict())) tensors[name] = stored(value);
  // The directory is made whole beside `path`, then put in its place.
  io::StagedFolder staged(path, {"model.safetensors", "config.json"});
  io::write_safetensors((fs::path(staged.path()) / "model.safetensors").string(), tensors, {{"format", "pt"}});
  io::write_file_atomic((fs::path(staged.path()) / "config.json").string(), json.dump(2) + "\n");
  staged.commit();
}

}  // namespace clipgrad::clip
