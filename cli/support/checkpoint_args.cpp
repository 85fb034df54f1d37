#include "cli/support/checkpoint_args.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "io/json.h"

namespace clipgrad::cli {

void add_checkpoint_options(CLI::App* command, CheckpointArgs& args) {
  command->add_option(
      "--config", args.config,
      "model config where the checkpoint has none (or to override it): JSON with OpenAI build_model "
      "keys, a JSON file, or a name (" +
          [] {
            std::string names;
            for (const std::string& name : clip::ClipConfig::names()) names += (names.empty() ? "" : ", ") + name;
            return names;
          }() +
          "); default: the file's own, else inferred from the tensor shapes");
  if (!command->get_option_no_throw("--verbose"))
    command->add_flag("--verbose", args.verbose, "also print what the checkpoint holds that is not loaded");
}

clip::ClipConfig parse_config_option(const std::string& value) {
  const std::vector<std::string> names = clip::ClipConfig::names();
  if (std::find(names.begin(), names.end(), value) != names.end()) return clip::ClipConfig::named(value);
  const size_t first = value.find_first_not_of(" \t\r\n");
  nlohmann::json json;
  if (first == std::string::npos || value[first] != '{') {
    if (!std::filesystem::exists(value))
      throw std::invalid_argument("--config '" + io::excerpt(value) +
                                  "' is neither JSON ('{...}'), a config name, nor a readable JSON file");
    json = io::read_json_file(value, "--config file");
  } else {
    json = io::parse_json(value, "--config '" + io::excerpt(value, 40) + "'");
  }
  try {
    return clip::ClipConfig::from_json(json);
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument("--config: " + std::string(error.what()));
  }
}

clip::LoadedClip load_checkpoint(const std::string& path, const CheckpointArgs& args) {
  clip::LoadOptions options;
  if (!args.config.empty()) options.config = parse_config_option(args.config);
  clip::LoadedClip loaded = clip::load_clip(path, options);
  if (loaded.config_source == clip::ConfigSource::Inferred)
    std::cout << "model config " << clip::config_source_name(loaded.config_source) << ": "
              << loaded.config.to_json().dump() << "\n";
  if (args.verbose) {
    std::cout << "checkpoint '" << path << "': " << loaded.format << ", " << clip::layout_name(loaded.layout)
              << " layout\n";
    for (const std::string& note : loaded.notes) std::cout << "  " << note << "\n";
  }
  return loaded;
}

}  // namespace clipgrad::cli
