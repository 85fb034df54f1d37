// `clipgrad dump`: one CLIP training step (or the CleanCLIP objective alone)
// with every intermediate the PyTorch parity tests compare; see clip/eval/parity_dump.h.
#include <memory>
#include <string>

#include "cli/support/checked_options.h"
#include "tensor/precision.h"
#include "cli/support/checkpoint_args.h"
#include "cli/support/device_option.h"
#include "cli/commands/commands.h"
#include "cleanclip/objective_dump.h"
#include "clip/eval/parity_dump.h"

namespace clipgrad::cli {

void register_dump(CLI::App& app) {
  struct Options {
    std::string model, inputs, out, dtype = "f32", device = "cpu", precision = "fp32";
    CheckpointArgs checkpoint;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand(
      "dump",
      "Run one train step (eval features, train features, logits, loss, every parameter gradient, BatchNorm "
      "statistics) on given inputs and write it all as safetensors; without --model, evaluate the CleanCLIP "
      "objective on given embeddings");
  command->add_option("--model", options->model,
                      "checkpoint (.pt, OpenAI-layout .safetensors or Hugging Face CLIPModel directory); inputs: "
                      "input.pixels f32 "
                      "[N,3,R,R], input.text i32 [N,L]");
  command
      ->add_option("--inputs", options->inputs,
                   "safetensors with the inputs (without --model: input.image, input.text, input.aug_image, "
                   "input.aug_text [N,E], input.logit_scale [1], input.lambda [2])")
      ->required();
  command->add_option("--out", options->out, "safetensors file to write")->required();
  command->add_option("--dtype", options->dtype, "f32, or f64 to run the model, loss and backward in float64")
      ->check(CLI::IsMember({"f32", "f64"}))
      ->capture_default_str();
  command->add_option("--device", options->device, "cpu or cuda: where the step runs (the dump is the same layout)")
      ->capture_default_str();
  add_precision_option(command, options->precision);
  add_checkpoint_options(command, options->checkpoint);
  command->callback([options] {
    const DType dtype = options->dtype == "f64" ? DType::F64 : DType::F32;
    const Device device = parse_device(options->device);
    set_precision(parse_precision(options->precision));
    if (options->model.empty()) {
      clip::write_dump(options->out, cleanclip::dump_objective(options->inputs, dtype, device));
    } else {
      clip::LoadedClip loaded = load_checkpoint(options->model, options->checkpoint);
      clip::write_dump(options->out, clip::dump_model(loaded, options->inputs, dtype, device));
    }
  });
}

}  // namespace clipgrad::cli
