// The documentation's examples run, as tinygrad runs its README: every ```console block
// that follows a line "<!-- readme-test -->" in README.md or docs/*.md is executed against
// the built binary, and must print what the block shows.
//
// In such a block, "$ " starts a command (a trailing backslash continues it on the next
// line) and the lines up to the next command are what it prints, stdout and stderr together.
// "..." stands for any text within a line; a line of "..." alone for any number of lines
// (none included). A last line "[N]" is the command's exit code (0 when there is none).
// The commands run through /bin/sh in a fresh folder per file, where build/clipgrad is the
// binary under test; a file's blocks run in order in the same folder, so that a later block
// can read what an earlier one wrote. They run on one thread (OMP_NUM_THREADS=1): beside
// other tests under ctest -j, OpenMP threads that wait for a busy core make them 10x slower.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "cli/run_clipgrad.h"
#include "test_temp_dir.h"

namespace clipgrad::testing {
namespace {

namespace fs = std::filesystem;

const fs::path kSourceRoot = fs::path(CLIPGRAD_FIXTURES).parent_path().parent_path();

struct Example {
  std::string command;
  std::vector<std::string> expected;  // the lines it prints; "..." patterns
  int exit_code = 0;
  std::string where;  // "README.md:42"
};

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// Every example of the file's marked blocks, in order. A marker not followed by a console block fails the test.
std::vector<Example> examples_in(const fs::path& path) {
  const std::vector<std::string> lines = read_lines(path);
  const std::string name = fs::relative(path, kSourceRoot).string();
  std::vector<Example> examples;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i] != "<!-- readme-test -->") continue;
    if (i + 1 >= lines.size() || lines[i + 1] != "```console") {
      ADD_FAILURE() << name << ":" << i + 1 << ": the readme-test marker must be followed by a ```console block";
      continue;
    }
    for (i += 2; i < lines.size() && lines[i] != "```"; ++i) {
      const std::string& line = lines[i];
      if (line.rfind("$ ", 0) == 0) {
        examples.push_back({line.substr(2), {}, 0, name + ":" + std::to_string(i + 1)});
        while (examples.back().command.ends_with("\\") && i + 1 < lines.size()) {
          examples.back().command.pop_back();
          examples.back().command += "\n" + lines[++i];
        }
      } else if (examples.empty()) {
        ADD_FAILURE() << name << ":" << i + 1 << ": output before the block's first command";
      } else if (std::smatch code; std::regex_match(line, code, std::regex(R"(\[(\d+)\])"))) {
        examples.back().exit_code = std::stoi(code[1]);
      } else {
        examples.back().expected.push_back(line);
      }
    }
  }
  return examples;
}

// Whether `text` matches `pattern`, where "..." in the pattern stands for any text.
bool line_matches(const std::string& pattern, const std::string& text) {
  std::vector<std::string> pieces;
  for (size_t start = 0;;) {
    size_t dots = pattern.find("...", start);
    pieces.push_back(pattern.substr(start, dots == std::string::npos ? std::string::npos : dots - start));
    if (dots == std::string::npos) break;
    start = dots + 3;
  }
  if (pieces.size() == 1) return text == pattern;
  if (text.rfind(pieces.front(), 0) != 0) return false;
  size_t at = pieces.front().size();
  for (size_t p = 1; p + 1 < pieces.size(); ++p) {
    at = text.find(pieces[p], at);
    if (at == std::string::npos) return false;
    at += pieces[p].size();
  }
  return text.size() >= at + pieces.back().size() && text.ends_with(pieces.back());
}

// Whether the output's lines match the expected ones; a line "..." matches any number of lines.
bool output_matches(const std::vector<std::string>& expected, const std::vector<std::string>& actual) {
  // matched[e][a]: expected[e..] matches actual[a..]
  std::vector<std::vector<char>> matched(expected.size() + 1, std::vector<char>(actual.size() + 1, 0));
  matched[expected.size()][actual.size()] = 1;
  for (size_t e = expected.size(); e-- > 0;)
    for (size_t a = actual.size() + 1; a-- > 0;) {
      if (expected[e] == "...")
        matched[e][a] = matched[e + 1][a] || (a < actual.size() && matched[e][a + 1]);
      else
        matched[e][a] = a < actual.size() && line_matches(expected[e], actual[a]) && matched[e + 1][a + 1];
    }
  return matched[0][0];
}

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += "    " + line + "\n";
  return text;
}

std::vector<fs::path> documents() {
  std::vector<fs::path> files{kSourceRoot / "README.md"};
  if (fs::is_directory(kSourceRoot / "docs"))
    for (const auto& entry : fs::directory_iterator(kSourceRoot / "docs"))
      if (entry.path().extension() == ".md") files.push_back(entry.path());
  std::sort(files.begin() + 1, files.end());
  return files;
}

TEST(DocsExamples, PatternsMatchAsDocumented) {
  EXPECT_TRUE(line_matches("took ... s", "took 0.4 s"));
  EXPECT_TRUE(line_matches("...", ""));
  EXPECT_FALSE(line_matches("took ... s", "took 0.4 ms!"));
  EXPECT_FALSE(line_matches("a...a", "a"));
  EXPECT_TRUE(output_matches({"first", "...", "last"}, {"first", "last"}));
  EXPECT_TRUE(output_matches({"first", "...", "last"}, {"first", "x", "y", "last"}));
  EXPECT_FALSE(output_matches({"first", "last"}, {"first", "x", "last"}));
  EXPECT_FALSE(output_matches({"only"}, {}));
}

TEST(DocsExamples, TheReadmeHasRunnableExamples) { EXPECT_FALSE(examples_in(kSourceRoot / "README.md").empty()); }

TEST(DocsExamples, EveryMarkedBlockPrintsWhatItShows) {
  for (const fs::path& document : documents()) {
    const std::vector<Example> examples = examples_in(document);
    if (examples.empty()) continue;
    TempDir dir("docs_examples");
    fs::create_directory_symlink(fs::path(CLIPGRAD_BINARY).parent_path(), dir.path() / "build");
    for (const Example& example : examples) {
      const CommandResult result =
          run_command("cd '" + dir.path().string() + "' && export OMP_NUM_THREADS=1 && {\n" + example.command + "\n}");
      const std::vector<std::string> actual = split_lines(result.output);
      EXPECT_EQ(result.exit_code, example.exit_code) << example.where << ": $ " << example.command << "\n"
                                                     << result.output;
      EXPECT_TRUE(output_matches(example.expected, actual))
          << example.where << ": $ " << example.command << "\nexpected:\n"
          << joined(example.expected) << "printed:\n"
          << joined(actual);
    }
  }
}

}  // namespace
}  // namespace clipgrad::testing
