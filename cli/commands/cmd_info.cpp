// clipgrad info CHECKPOINT: what a checkpoint is and holds: its format and
// layout, the model config (and where it came from), the parameter count, the
// stored dtypes, and the entries that are not weights (epoch, optimizer, ...).
#include <iostream>
#include <memory>
#include <string>

#include "cli/support/checkpoint_args.h"
#include "cli/commands/commands.h"

namespace clipgrad::cli {

void register_info(CLI::App& app) {
  struct Options {
    std::string path;
    CheckpointArgs checkpoint;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command =
      app.add_subcommand("info",
                         "Describe a CLIP checkpoint (.pt, .safetensors or HF directory): format, layout, "
                         "config, parameters, dtypes, extra entries");
  command->add_option("CHECKPOINT", options->path, "checkpoint to describe")->required();
  add_checkpoint_options(command, options->checkpoint);
  command->callback([options] {
    // Not load_checkpoint: everything it would print is printed below.
    clip::LoadOptions load_options;
    if (!options->checkpoint.config.empty()) load_options.config = parse_config_option(options->checkpoint.config);
    clip::LoadedClip loaded = clip::load_clip(options->path, load_options);
    int64_t parameters = 0, tensors = 0;
    for (const auto& [name, parameter] : loaded.model->named_parameters()) {
      parameters += parameter.value().numel();
      ++tensors;
    }
    std::string dtypes;
    for (const auto& [dtype, count] : loaded.stored_dtypes)
      dtypes += (dtypes.empty() ? "" : ", ") + dtype + " x " + std::to_string(count);
    const clip::ClipConfig& config = loaded.config;
    std::cout << "checkpoint: " << options->path << "\n"
              << "format:     " << loaded.format << "\n"
              << "layout:     " << clip::layout_name(loaded.layout) << "\n"
              << "model:      " << (config.is_resnet() ? "ModifiedResNet" : "ViT") << " image tower, "
              << clip::activation_name(config.activation) << "\n"
              << "config:     " << config.to_json().dump() << "\n"
              << "            (" << clip::config_source_name(loaded.config_source) << ")\n"
              << "parameters: " << parameters << " in " << tensors << " tensors\n"
              << "dtypes:     " << dtypes << "\n";
    if (loaded.notes.empty()) {
      std::cout << "extras:     none\n";
    } else {
      std::cout << "extras:\n";
      for (const std::string& note : loaded.notes) std::cout << "  " << note << "\n";
    }
  });
}

}  // namespace clipgrad::cli
