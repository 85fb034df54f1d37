// The options every command that reads a CLIP checkpoint shares: --config
// (the model config where the file carries none, or to override it) and
// --verbose (what was found in the file but not loaded). One loader prints
// the same lines for every command.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "clip/checkpoint/checkpoint.h"

namespace clipgrad::cli {

struct CheckpointArgs {
  std::string config;  // JSON text, a JSON file, or a named config ("vit-b-32"); empty: the file's own
  bool verbose = false;
};

// Adds --config and, unless the command already has one, --verbose.
void add_checkpoint_options(CLI::App* command, CheckpointArgs& args);

// --config's value as a config: '{...}' is JSON (OpenAI build_model keys, the
// clip_config metadata), a name from ClipConfig::names() is that config,
// anything else is a JSON file. Throws saying which it tried.
clip::ClipConfig parse_config_option(const std::string& value);

// load_clip with --config; prints the config when it was inferred from the
// shapes (head counts cannot be seen in shapes: OpenAI's width / 64 rule), and
// with --verbose the format and the entries that were not loaded.
clip::LoadedClip load_checkpoint(const std::string& path, const CheckpointArgs& args);

}  // namespace clipgrad::cli
