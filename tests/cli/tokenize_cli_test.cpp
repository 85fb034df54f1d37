// `clipgrad tokenize` end to end: the built binary, stdin in, ids out.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

#include "cli/run_clipgrad.h"

namespace {

using clipgrad::testing::CommandResult;

// Runs `clipgrad ARGS < (file holding input)`.
CommandResult run_clipgrad(const std::string& args, const std::string& input) {
  std::string input_path = ::testing::TempDir() + "tokenize_cli_input_XXXXXX";
  const int fd = mkstemp(input_path.data());
  EXPECT_GE(fd, 0) << "cannot create a temp file in " << ::testing::TempDir();
  close(fd);
  std::ofstream(input_path, std::ios::binary) << input;
  CommandResult result = clipgrad::testing::run_clipgrad(args + " < '" + input_path + "'");
  std::remove(input_path.c_str());
  return result;
}

TEST(TokenizeCli, PrintsIdsPerLine) {
  const CommandResult result = run_clipgrad("tokenize", "a photo of a cat.\nA PHOTO OF A Dog\n");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output,
            "49406 320 1125 539 320 2368 269 49407\n"
            "49406 320 1125 539 320 1929 49407\n");
}

TEST(TokenizeCli, TruncatesToContextKeepingEndOfText) {
  const CommandResult result = run_clipgrad("tokenize --context 4", "a photo of a cat.\n\n");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "49406 320 1125 49407\n49406 49407\n");
}

// Ids from tools/tokenizer_reference.py (with and without --no-ftfy): ftfy
// repairs the mojibake "cafÃ©" and straightens the curly apostrophe.
TEST(TokenizeCli, RepairsTextLikeFtfyUnlessNoFtfy) {
  const std::string input = "caf\u00c3\u00a9 dog\u2019s\n";
  const CommandResult repaired = run_clipgrad("tokenize", input);
  EXPECT_EQ(repaired.exit_code, 0) << repaired.output;
  EXPECT_EQ(repaired.output, "49406 15304 1929 568 49407\n");
  const CommandResult raw = run_clipgrad("tokenize --no-ftfy", input);
  EXPECT_EQ(raw.exit_code, 0) << raw.output;
  EXPECT_EQ(raw.output, "49406 3471 127 352 5811 1929 728 503 338 49407\n");
}

TEST(TokenizeCli, MissingBpeFileIsAClearError) {
  const CommandResult result = run_clipgrad("tokenize --bpe /nonexistent/vocab.txt.gz", "a\n");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("/nonexistent/vocab.txt.gz"), std::string::npos) << result.output;
}

}  // namespace
