#include "cli/app.h"

int main(int argc, char** argv) { return clipgrad::cli::run(argc, argv); }
