// clipgrad convert IN OUT: any checkpoint clipgrad reads (.pt, safetensors, a
// Hugging Face directory) to an OpenAI-layout safetensors file with its config
// in the metadata, or to a Hugging Face CLIPModel directory. Writes are atomic.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/support/checkpoint_args.h"
#include "cli/commands/commands.h"

namespace clipgrad::cli {

void register_convert(CLI::App& app) {
  struct Options {
    std::string in, out, layout = "openai", dtype = "f32";
    CheckpointArgs checkpoint;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand(
      "convert",
      "Convert a CLIP checkpoint (.pt, .safetensors or HF directory) to OpenAI-layout safetensors or a "
      "Hugging Face CLIPModel directory");
  command->add_option("IN", options->in, "checkpoint to read")->required();
  command->add_option("OUT", options->out, "file (openai) or directory (hf) to write")->required();
  command->add_option("--layout", options->layout, "openai: one .safetensors file; hf: config.json + model.safetensors")
      ->check(CLI::IsMember({"openai", "hf"}))
      ->capture_default_str();
  command->add_option("--dtype", options->dtype, "dtype of the floating-point tensors written")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}))
      ->capture_default_str();
  add_checkpoint_options(command, options->checkpoint);
  command->callback([options] {
    clip::LoadedClip loaded = load_checkpoint(options->in, options->checkpoint);
    const std::string dtype = options->dtype == "f16" ? "F16" : options->dtype == "bf16" ? "BF16" : "F32";
    clip::save_clip(*loaded.model, options->out, clip::parse_layout(options->layout), dtype);
    int64_t parameters = 0;
    for (const auto& [name, parameter] : loaded.model->named_parameters()) parameters += parameter.value().numel();
    std::printf("wrote %s (%s layout, %s, %lld parameters) from %s (%s)\n", options->out.c_str(),
                options->layout.c_str(), dtype.c_str(), static_cast<long long>(parameters), options->in.c_str(),
                loaded.format.c_str());
  });
}

}  // namespace clipgrad::cli
