// The clipgrad command line: one entry point, one file per subcommand.
#pragma once

namespace clipgrad::cli {

// Parses argv and runs the subcommand; errors become one line on stderr and
// a non-zero exit code.
int run(int argc, char** argv);

}  // namespace clipgrad::cli
