// The native ftfy.fix_text and the tokenizer against Python on a corpus of
// real text from this machine and mojibake made from it
// (tests/fixtures/ftfy/corpus.jsonl.gz, tools/ftfy_reference.py): every text
// must come out of the repair exactly as ftfy 6 gives it and tokenise to
// OpenAI CLIP's ids.
#include <gtest/gtest.h>
#include <zlib.h>

#include <array>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "clip/text/ftfy/fix_text.h"
#include "clip/text/ftfy/normalize.h"
#include "clip/text/ftfy/utf8.h"
#include "clip/text/tokenizer.h"

namespace clipgrad::clip {
namespace {

std::vector<nlohmann::json> read_jsonl_gz(const std::string& name) {
  const std::string path = std::string(CLIPGRAD_FIXTURES) + "/ftfy/" + name;
  gzFile file = gzopen(path.c_str(), "rb");
  EXPECT_NE(file, nullptr) << "missing " << path << " (tools/ftfy_reference.py writes it)";
  std::vector<nlohmann::json> records;
  if (!file) return records;
  std::string data;
  std::array<char, 1 << 16> buffer;
  int got;
  while ((got = gzread(file, buffer.data(), buffer.size())) > 0) data.append(buffer.data(), got);
  gzclose(file);
  for (size_t pos = 0; pos < data.size();) {
    size_t end = data.find('\n', pos);
    if (end == std::string::npos) end = data.size();
    if (end > pos) records.push_back(nlohmann::json::parse(data.substr(pos, end - pos)));
    pos = end + 1;
  }
  return records;
}

const std::vector<nlohmann::json>& corpus() {
  static const std::vector<nlohmann::json> records = read_jsonl_gz("corpus.jsonl.gz");
  return records;
}

std::string field_or_text(const nlohmann::json& record, const char* field) {
  return record.contains(field) ? record[field].get<std::string>() : record["text"].get<std::string>();
}

TEST(FtfyCorpus, RepairsEveryTextAsPythonFtfy) {
  ASSERT_GT(corpus().size(), 20000u);
  std::map<std::string, std::array<int, 2>> by_kind;  // kind -> {texts, mismatches}
  int mismatches = 0, changed = 0;
  for (const auto& record : corpus()) {
    const std::string text = record["text"], expected = field_or_text(record, "fixed");
    const std::string got = ftfy::fix_text(std::string_view(text));
    changed += expected != text;
    auto& counts = by_kind[record["kind"]];
    ++counts[0];
    if (got != expected) {
      ++counts[1];
      if (++mismatches <= 10)
        ADD_FAILURE() << record["kind"] << " text: " << text << "\n  ftfy: " << expected << "\n  ours: " << got;
    }
  }
  for (const auto& [kind, counts] : by_kind)
    if (counts[1]) std::printf("  %-26s %d of %d differ\n", kind.c_str(), counts[1], counts[0]);
  std::printf("ftfy corpus: %zu/%zu texts repaired exactly as Python ftfy (%d of them changed by it)\n",
              corpus().size() - mismatches, corpus().size(), changed);
  EXPECT_EQ(mismatches, 0);
}

TEST(FtfyCorpus, TokenIdsMatchOpenAIEverywhere) {
  const Tokenizer tokenizer(CLIPGRAD_DEFAULT_BPE);
  const Tokenizer unrepaired(CLIPGRAD_DEFAULT_BPE, TextRepair::kNone);
  int mismatches = 0, unrepaired_mismatches = 0;
  for (const auto& record : corpus()) {
    const std::string text = record["text"];
    const std::vector<int32_t> expected = record["ids"];
    if (tokenizer.encode(text) != expected && ++mismatches <= 10) ADD_FAILURE() << record["kind"] << " text: " << text;
    unrepaired_mismatches += unrepaired.encode(text) != expected;
  }
  std::printf("token ids: %zu/%zu texts as OpenAI CLIP (without ftfy: %zu/%zu)\n", corpus().size() - mismatches,
              corpus().size(), corpus().size() - unrepaired_mismatches, corpus().size());
  EXPECT_EQ(mismatches, 0);
  // The repair must matter on this corpus, or it tests nothing.
  EXPECT_GT(unrepaired_mismatches, 5000);
}

TEST(FtfyCorpus, NfcMatchesUnicodedata) {
  const std::vector<nlohmann::json> cases = read_jsonl_gz("nfc_cases.jsonl.gz");
  ASSERT_GT(cases.size(), 5000u);
  int mismatches = 0;
  for (const auto& record : cases) {
    const std::string text = record["text"], expected = record["nfc"];
    const std::string got = ftfy::encode_utf8(ftfy::normalize_nfc(*ftfy::decode_utf8(text)));
    if (got != expected && ++mismatches <= 10) ADD_FAILURE() << "NFC of " << text << ": " << got << " != " << expected;
  }
  EXPECT_EQ(mismatches, 0) << "of " << cases.size();
}

}  // namespace
}  // namespace clipgrad::clip
