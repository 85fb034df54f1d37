// Each subcommand registers itself on the app; its callback does the work and
// throws on error (cli/app.cpp turns that into one line on stderr).
#pragma once

#include <CLI/CLI.hpp>

namespace clipgrad::cli {

void register_commands(CLI::App& app);

void register_data(CLI::App& app);                 // cli/commands/cmd_data.cpp
void register_tokenize(CLI::App& app);             // cli/commands/cmd_tokenize.cpp
void register_train(CLI::App& app);                // cli/commands/cmd_train.cpp
void register_eval(CLI::App& app);                 // cli/commands/cmd_eval.cpp
void register_probe(CLI::App& app);                // cli/commands/cmd_probe.cpp
void register_dump(CLI::App& app);                 // cli/commands/cmd_dump.cpp
void register_poison(CLI::App& app);               // cli/commands/cmd_poison.cpp
void register_finetune_supervised(CLI::App& app);  // cli/commands/cmd_finetune_supervised.cpp
void register_demo(CLI::App& app);                 // cli/commands/cmd_demo.cpp
void register_convert(CLI::App& app);              // cli/commands/cmd_convert.cpp
void register_info(CLI::App& app);                 // cli/commands/cmd_info.cpp

}  // namespace clipgrad::cli
