// The CLIP tokenizer against ids from OpenAI's simple_tokenizer.py
// (tests/fixtures/tokenizer_cases.json), plus cases checked against
// tools/tokenizer_reference.py for the parts of Python it re-implements.
#include "clip/text/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "clip/text/html_unescape.h"
#include "clip/text/unicode.h"

namespace clipgrad::clip {
namespace {

const Tokenizer& shared_tokenizer() {
  static const Tokenizer tokenizer(CLIPGRAD_DEFAULT_BPE);
  return tokenizer;
}

TEST(Tokenizer, MatchesOpenAIFixture) {
  std::ifstream file(std::string(CLIPGRAD_FIXTURES) + "/tokenizer_cases.json");
  ASSERT_TRUE(file) << "missing tests/fixtures/tokenizer_cases.json";
  const nlohmann::json fixture = nlohmann::json::parse(file);
  ASSERT_FALSE(fixture["cases"].empty());
  for (const auto& item : fixture["cases"]) {
    const std::string text = item["text"];
    const std::vector<int32_t> expected = item["ids"];
    EXPECT_EQ(shared_tokenizer().tokenize(text), expected) << "text: " << text;
  }
}

// Ids from tools/tokenizer_reference.py --no-ftfy for inputs the fixture does
// not reach (with ftfy on, the \x1f controls below would be removed first).
TEST(Tokenizer, MatchesReferenceOnEdgeCases) {
  static const Tokenizer unrepaired(CLIPGRAD_DEFAULT_BPE, TextRepair::kNone);
  const std::vector<std::pair<std::string, std::vector<int32_t>>> cases = {
      // Final sigma ("ΟΔΟΣ." -> "οδος."), U+0130 -> "i\u0307".
      {"\u039f\u0394\u039f\u03a3. \u0130", {138, 123, 138, 112, 138, 123, 139, 480, 269, 328, 16384}},
      // Legacy entity without ';', longest-prefix rule, numeric fix-ups, double unescape.
      {"&eacute &ampx &#128; &#x41; &amp;lt;", {4166, 261, 343, 6309, 320, 283}},
      // U+017F matches 's in the contraction alternative; U+0345 starts no pre-token.
      {"it'\u017f a\u0345b", {585, 6, 129, 379, 320, 321}},
      // U+001F is stripped at the ends (str.strip) but not collapsed (regex \s).
      {"\x1f"
       "a\x1f"
       "b\x1f",
       {320, 475, 321}},
      // A special token only counts when spelt exactly; inside a punctuation run it is text.
      {"x.<|endoftext|>", {343, 13, 27, 347, 40786, 4160, 91, 285}},
  };
  for (const auto& [text, expected] : cases) EXPECT_EQ(unrepaired.encode(text), expected) << text;
  // tools/tokenizer_reference.py (ftfy on): remove_control_chars leaves "ab".
  EXPECT_EQ(shared_tokenizer().encode("\x1f"
                                      "a\x1f"
                                      "b\x1f"),
            (std::vector<int32_t>{3937}));
}

TEST(Tokenizer, TruncatesKeepingEndOfTextLast) {
  const Tokenizer& tokenizer = shared_tokenizer();
  const std::vector<int32_t> full = tokenizer.tokenize("a photo of a sneaker.");
  ASSERT_EQ(full.size(), 8u);
  const std::vector<int32_t> cut = tokenizer.tokenize("a photo of a sneaker.", 4);
  EXPECT_EQ(cut, (std::vector<int32_t>{Tokenizer::kStartOfText, full[1], full[2], Tokenizer::kEndOfText}));
  EXPECT_EQ(tokenizer.tokenize("", 2), (std::vector<int32_t>{Tokenizer::kStartOfText, Tokenizer::kEndOfText}));
  EXPECT_THROW(tokenizer.tokenize("a", 1), std::invalid_argument);
}

TEST(Tokenizer, BatchIsZeroPadded) {
  const Tokenizer& tokenizer = shared_tokenizer();
  const std::vector<std::string> texts = {"a photo of a bag.", "", "ankle boot"};
  const Tensor tokens = tokenizer.tokenize_batch(texts, 10);  // [3, 10]
  ASSERT_EQ(tokens.shape(), (Shape{3, 10}));
  ASSERT_EQ(tokens.dtype(), DType::I32);
  const std::vector<int32_t> values = tokens.to_vector<int32_t>();
  for (size_t row = 0; row < texts.size(); ++row) {
    std::vector<int32_t> expected = tokenizer.tokenize(texts[row], 10);
    expected.resize(10, 0);
    EXPECT_EQ(std::vector<int32_t>(values.begin() + row * 10, values.begin() + (row + 1) * 10), expected);
  }
}

TEST(Tokenizer, DecodeRoundTripsAscii) {
  const Tokenizer& tokenizer = shared_tokenizer();
  for (const std::string text :
       {"a photo of a t-shirt/top.", "hello, world! 3.14 it's {braces}", "supercalifragilisticexpialidocious"}) {
    // Decoding puts a space after every word, and the tokenizer lower-cases.
    std::string decoded = tokenizer.decode(tokenizer.encode(text));
    ASSERT_FALSE(decoded.empty());
    EXPECT_EQ(decoded.back(), ' ');
    decoded.pop_back();
    std::string squashed_input, squashed_output;
    for (char c : text)
      if (c != ' ') squashed_input.push_back(static_cast<char>(std::tolower(c)));
    for (char c : decoded)
      if (c != ' ') squashed_output.push_back(c);
    EXPECT_EQ(squashed_output, squashed_input) << text;
  }
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("a photo of a cat")), "a photo of a cat ");
  const std::vector<int32_t> specials{Tokenizer::kStartOfText, 320, Tokenizer::kEndOfText};
  EXPECT_EQ(tokenizer.decode(specials), "<|startoftext|>a <|endoftext|>");
}

TEST(Tokenizer, DecodesUtf8AndReplacesBrokenBytes) {
  const Tokenizer& tokenizer = shared_tokenizer();
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("caf\u00e9 \u65e5\u672c")), "caf\u00e9 \u65e5\u672c ");
  // The first byte of "é" (0xC3, id 131) alone, then "a</w>": Python gives U+FFFD + "a ".
  const std::vector<int32_t> broken{131, 320};
  EXPECT_EQ(tokenizer.decode(broken),
            "\ufffd"
            "a ");
  const std::vector<int32_t> outside{Tokenizer::kVocabSize};
  EXPECT_THROW(tokenizer.decode(outside), std::out_of_range);
}

TEST(Tokenizer, CleansLikePython) {
  EXPECT_EQ(Tokenizer::clean("  A\u00a0 B\u2003\tC  "), "a b c");
  EXPECT_EQ(Tokenizer::clean("&AElig;&amp;&#9;X"), "\u00e6& x");
  EXPECT_EQ(Tokenizer::clean("\u0391\u03a3\u0391 \u0391\u03a3"), "\u03b1\u03c3\u03b1 \u03b1\u03c2");
  EXPECT_EQ(Tokenizer::clean("\u0410\u0411\u0412 \u00c9"), "\u0430\u0431\u0432 \u00e9");
}

TEST(Tokenizer, HtmlUnescapeFollowsPython) {
  const auto unescape = [](const std::string& text) {
    return unicode::encode_utf8(html_unescape(unicode::decode_utf8(text)));
  };
  EXPECT_EQ(unescape("&lt;&gt;&quot;&apos;&#39;&nbsp;"), "<>\"'\'\u00a0");
  EXPECT_EQ(unescape("&notit; &not &ampamp;"), "\u00acit; \u00ac &amp;");
  EXPECT_EQ(unescape("&#0; &#xD800; &#1114112; &#99999999999999999999; &#1; &#xfffe;"),
            "\ufffd \ufffd \ufffd \ufffd  ");
  EXPECT_EQ(unescape("& &# &#x; &; &nosuch; &fjlig;"), "& &# &#x; &; &nosuch; fj");
  EXPECT_EQ(unescape("&NotNestedGreaterGreater;"), "\u2aa2\u0338");
}

TEST(Tokenizer, RejectsMalformedUtf8AndMissingFiles) {
  EXPECT_THROW(shared_tokenizer().encode("bad \xff byte"), std::invalid_argument);
  EXPECT_THROW(shared_tokenizer().encode("truncated \xe2\x82"), std::invalid_argument);
  EXPECT_THROW(shared_tokenizer().encode("surrogate \xed\xa0\x80"), std::invalid_argument);
  try {
    Tokenizer missing("/nonexistent/bpe_simple_vocab_16e6.txt.gz");
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("/nonexistent/bpe_simple_vocab_16e6.txt.gz"), std::string::npos);
  }
}

// Speed is bench/text_bench's (BM_TokenizeBatch); here a batch of distinct
// captions gives every row its own tokens, cold cache or warm, with ftfy or not.
TEST(Tokenizer, ABatchOfDistinctCaptionsTokenizesRowByRow) {
  const Tokenizer tokenizer(CLIPGRAD_DEFAULT_BPE);
  const Tokenizer unrepaired(CLIPGRAD_DEFAULT_BPE, TextRepair::kNone);
  std::vector<std::string> captions;
  for (int i = 0; i < 1000; ++i) captions.push_back("a photo of a coat #" + std::to_string(i));
  const Tensor cold = tokenizer.tokenize_batch(captions);  // [1000, 77]
  ASSERT_EQ(cold.shape(), (Shape{1000, Tokenizer::kContextLength}));
  const std::vector<int32_t> ids = cold.to_vector<int32_t>();
  EXPECT_EQ(tokenizer.tokenize_batch(captions).to_vector<int32_t>(), ids);   // warm: the word cache changes nothing
  EXPECT_EQ(unrepaired.tokenize_batch(captions).to_vector<int32_t>(), ids);  // ASCII: ftfy changes nothing
  for (size_t row : {0, 7, 999}) {
    std::vector<int32_t> expected = tokenizer.tokenize(captions[row]);
    expected.resize(Tokenizer::kContextLength, 0);
    const auto first = ids.begin() + int64_t(row) * Tokenizer::kContextLength;
    EXPECT_EQ(std::vector<int32_t>(first, first + Tokenizer::kContextLength), expected) << "row " << row;
  }
}

}  // namespace
}  // namespace clipgrad::clip
