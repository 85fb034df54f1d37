#include "cli/app.h"

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "cli/commands/commands.h"

namespace clipgrad::cli {

int run(int argc, char** argv) {
  CLI::App app{"clipgrad: CLIP training, backdoor attacks and the CleanCLIP defence, from scratch"};
  app.require_subcommand(1);
  register_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  } catch (const std::exception& error) {
    std::cerr << "clipgrad: " << error.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace clipgrad::cli
