// `clipgrad tokenize`: OpenAI CLIP token ids for each line of stdin, e.g. to
// check captions against the Python tokenizer or feed another tool.
#include <cstdint>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/commands/commands.h"
#include "cli/support/checked_options.h"
#include "clip/text/tokenizer.h"

namespace clipgrad::cli {
namespace {

struct TokenizeOptions {
  int64_t context_length = clip::Tokenizer::kContextLength;
  std::string bpe_path;
  bool no_ftfy = false;
};

void run_tokenize(const TokenizeOptions& options) {
  const clip::Tokenizer tokenizer(options.bpe_path.empty() ? clip::Tokenizer::default_bpe_path() : options.bpe_path,
                                  options.no_ftfy ? clip::TextRepair::kNone : clip::TextRepair::kFtfy);
  std::ios::sync_with_stdio(false);
  std::string line, out;
  for (int64_t line_number = 1; std::getline(std::cin, line); ++line_number) {
    std::vector<int32_t> ids;
    try {
      ids = tokenizer.tokenize(line, options.context_length);
    } catch (const std::invalid_argument& error) {
      throw std::invalid_argument("stdin line " + std::to_string(line_number) + ": " + error.what());
    }
    out.clear();
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) out.push_back(' ');
      out += std::to_string(ids[i]);
    }
    out.push_back('\n');
    std::cout << out;
  }
  std::cout.flush();
  if (!std::cout) throw std::runtime_error("tokenize: writing to stdout failed");
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto options = std::make_shared<TokenizeOptions>();
  CLI::App* command = app.add_subcommand(
      "tokenize", "Print OpenAI CLIP token ids (SOT and EOT included, no padding) for each UTF-8 line of stdin");
  command->add_option("--context", options->context_length, "Context length; longer texts are cut, keeping EOT last")
      ->check(integer_in(2, int64_t{1} << 20));
  command->add_option("--bpe", options->bpe_path,
                      "BPE vocabulary bpe_simple_vocab_16e6.txt.gz (default: $CLIPGRAD_BPE, else the shipped copy)");
  command->add_flag("--no-ftfy", options->no_ftfy,
                    "Skip ftfy.fix_text (mojibake, curly quotes, ligatures, widths, NFC), the first step of "
                    "OpenAI's basic_clean; ids then differ from OpenAI CLIP's wherever it would change the text");
  command->callback([options] { run_tokenize(*options); });
}

}  // namespace clipgrad::cli
