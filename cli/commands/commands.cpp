#include "cli/commands/commands.h"

#include "cli/bench/bench_command.h"

namespace clipgrad::cli {

// One line per subcommand, each defined in cli/commands/cmd_<name>.cpp (bench: cli/bench/).

void register_commands(CLI::App& app) {
  register_data(app);
  register_tokenize(app);
  register_train(app);
  register_eval(app);
  register_probe(app);
  register_dump(app);
  register_poison(app);
  register_finetune_supervised(app);
  register_demo(app);
  register_convert(app);
  register_info(app);
  register_bench(app);
}

}  // namespace clipgrad::cli
