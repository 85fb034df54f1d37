// The parts of the native ftfy one by one, with values from Python ftfy 6.3.1
// (its doctests and the corner cases of its regexes and codecs), and a fuzz
// test of the repair and the tokenizer on random bytes and code points.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "clip/text/ftfy/char_classes.h"
#include "clip/text/ftfy/fix_encoding.h"
#include "clip/text/ftfy/fix_text.h"
#include "clip/text/ftfy/fixes.h"
#include "clip/text/ftfy/utf8.h"
#include "clip/text/tokenizer.h"
#include "tensor/random.h"

namespace clipgrad::clip::ftfy {
namespace {

std::string fix(const std::string& text) { return fix_text(std::string_view(text)); }
std::u32string u32(const std::string& text) { return *decode_utf8(text); }

TEST(Ftfy, FixTextMatchesPython) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\u00e2\u0153\u201d No problems", "\u2714 No problems"},
      {"The Mona Lisa doesn\u00e2\u20ac\u2122t have eyebrows.", "The Mona Lisa doesn't have eyebrows."},
      {"voil\u00c3\u00a0 le travail", "voil\u00e0 le travail"},
      {"\u00c3 la mode", "\u00e0 la mode"},                                        // restore_byte_a0's lone "à"
      {"\u00e2\u20ac\u0153 like this \u00e2\u20ac\ufffd", "\" like this \ufffd"},  // replace_lossy_sequences
      {"I\u2019m s\u00c3\u00bc\u00c3\u0178", "I'm s\u00fc\u00df"},
      {"\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33 \ufb02u\ufb03e\ufb06 \u0133",
       "LOUD NOISES fluffiest ij"},
      {"\u201chere\u2019s\u201d\r\nx\u2028y\u0085z", "\"here's\"\nx\ny\u2026z"},
      {"\ufeffBOM\x07\ufffc", "BOM"},
      {"caf\u0082 \u0081", "caf' \u0081"},                         // C1: strict 1252 fails on 0x81, sloppy maps 0x82
      {"s\u00c3\u00b3 \x1b[1;31mred\x1b[\u0663m", "s\u00f3 red"},  // ANSI_RE's \d is any decimal digit
      {"&ntilde; &Ntilde; &NTILDE; &nTILDE;", "\u00f1 \u00d1 \u00d1 &nTILDE;"},
      {"BUNDESSTRA&SZLIG;E", "BUNDESSTRASSE"},
      {"&#59; &#x41;&#65;&#0;&#1;&#65x; &#xD800; &#1114112;", "&#59; AA\ufffd&#65x; \ufffd \ufffd"},
      // '<' turns unescaping off for its line and every line after it.
      {"&amp; &lt;\n<b>&amp;</b>\n&amp;", "& <\n<b>&amp;</b>\n&amp;"},
      // ftfy's utf-8-variants regex lets a final '\n' complete C0 80 (U+0000, then removed).
      {"\u00c3\u00a9 \u00c0\n", "\u00e9 "},
      {"e\u0301 \u1100\u1161\u11a8", "\u00e9 \uac01"},
  };
  for (const auto& [text, expected] : cases) EXPECT_EQ(fix(text), expected) << text;
}

TEST(Ftfy, AsciiWithoutAmpersandOrControlsIsReturnedAsIs) {
  EXPECT_EQ(fix("a photo of a dog.\tTabs\fand\nlines"), "a photo of a dog.\tTabs\fand\nlines");
  EXPECT_EQ(fix("a &amp; b"), "a & b");
  EXPECT_EQ(fix("cr\r\nlf\x01"), "cr\nlf");
}

TEST(Ftfy, Utf8VariantsCodec) {
  EXPECT_EQ(decode_utf8_variants("\xc0\x80 \xed\xa0\xbd\xed\xb8\x80"), std::u32string(U"\0 \U0001F600", 3));
  EXPECT_EQ(decode_utf8_variants("a\xed\xa0\xbd\xed\xb8\n"), U"a\U0001F60A");
  EXPECT_EQ(decode_utf8_variants("a\xc0\n"), std::u32string(U"a\0", 2));
  EXPECT_EQ(decode_utf8_variants("\xc0\x41"), std::nullopt);
  EXPECT_EQ(decode_utf8_variants("\xed\xa0\x80"), std::nullopt);
  EXPECT_EQ(decode_utf8_variants("\xc0"), std::nullopt);
  EXPECT_EQ(decode_utf8("\xed\xa0\x80"), std::nullopt);
  EXPECT_EQ(decode_utf8("\xf4\x90\x80\x80"), std::nullopt);
  size_t offset = 0;
  EXPECT_EQ(decode_utf8("ab\xe2\x82", &offset), std::nullopt);
  EXPECT_EQ(offset, 2u);
}

TEST(Ftfy, ByteTranscoders) {
  EXPECT_EQ(restore_byte_a0("\xc3 la \xc3 s \xc2 x \xe2 \x80"), "\xc3\xa0 la \xc3\xa0s \xc2\xa0x \xe2\xa0\x80");
  EXPECT_EQ(replace_lossy_sequences("\xe2\x80\x1a \xc3? \x1a \xf0\x9f\x1a\x80"),
            "\xef\xbf\xbd \xef\xbf\xbd \xef\xbf\xbd \xef\xbf\xbd");
}

TEST(Ftfy, SingleFixers) {
  EXPECT_EQ(fix_surrogates(std::u32string{0xD83D, 0xDCA9, 'x', 0xDCA9, 0xD83D}),
            (std::u32string{0x1F4A9, 'x', 0xFFFD, 0xFFFD}));
  EXPECT_EQ(remove_control_chars(std::u32string{0, 9, 10, 11, 12, 13, 0x1F, 'a', 0x7F, 0x206A, 0xFEFF, 0xFFFD}),
            (std::u32string{9, 10, 12, 13, 'a', 0xFFFD}));
  EXPECT_EQ(fix_line_breaks(U"a\r\r\nb\u2029"), U"a\n\nb\n");
  EXPECT_EQ(unescape_html(U"&Jscr;ohn &HilbertSpace;ancock &checkmark; &amp"),
            U"\U0001D4A5ohn \u210Bancock \u2713 &amp");
  EXPECT_EQ(fix_character_width(U"\uff35\uff80\uff70\uff9d"), U"U\u30bf\u30fc\u30f3");
  EXPECT_TRUE(is_bad(U"caf\u00c3\u00a9"));
  EXPECT_FALSE(is_bad(U"caf\u00e9 na\u00efve r\u00e9sum\u00e9"));
}

TEST(Ftfy, MalformedUtf8IsAClearError) {
  try {
    fix("ok \xff");
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("byte offset 3"), std::string::npos) << error.what();
  }
}

// A code point drawn to hit what the repair looks at: ASCII, Latin-1 and C1,
// the mojibake alphabets, surrogates, combining marks, Hangul, anything.
char32_t random_code_point(Generator& rng) {
  switch (rng.below(8)) {
    case 0: return static_cast<char32_t>(rng.below(0x80));
    case 1: return static_cast<char32_t>(0x80 + rng.below(0x180));
    case 2: return static_cast<char32_t>(0x300 + rng.below(0x200));
    case 3: return static_cast<char32_t>(0x2000 + rng.below(0x600));
    case 4: return static_cast<char32_t>(0xD800 + rng.below(0x800));
    case 5: return static_cast<char32_t>(0x1100 + rng.below(0x100));
    case 6: return static_cast<char32_t>(0xAC00 + rng.below(0x40));
    default: return static_cast<char32_t>(rng.below(0x110000));
  }
}

TEST(Ftfy, FuzzRandomCodePointsAndBytes) {
  const Tokenizer tokenizer(CLIPGRAD_DEFAULT_BPE);
  Generator rng(20240601);
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < 3000; ++round) {
    std::u32string text;
    const size_t length = rng.below(40);
    for (size_t i = 0; i < length; ++i) text.push_back(random_code_point(rng));
    const std::u32string fixed = fix_text(text);
    for (char32_t cp : fixed) {
      ASSERT_LE(cp, 0x10FFFFu);
      ASSERT_FALSE(cp >= 0xD800 && cp <= 0xDFFF) << "surrogate left in the repair of round " << round;
    }
    const std::string utf8 = encode_utf8(fixed);
    ASSERT_TRUE(decode_utf8(utf8).has_value());
    // Without surrogates the text is valid UTF-8 and must tokenise.
    std::u32string valid = text;
    for (char32_t& cp : valid)
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
    EXPECT_NO_THROW(tokenizer.encode(encode_utf8(valid))) << "round " << round;

    std::string bytes;
    const size_t byte_length = rng.below(40);
    for (size_t i = 0; i < byte_length; ++i) bytes.push_back(static_cast<char>(rng.below(256)));
    try {
      const std::string repaired = fix(bytes);
      ASSERT_TRUE(decode_utf8(repaired).has_value()) << "round " << round;
      EXPECT_NO_THROW(tokenizer.encode(bytes));
    } catch (const std::invalid_argument&) {
      EXPECT_THROW(tokenizer.encode(bytes), std::invalid_argument);
    }
  }
  std::printf("fuzz: 3000 code point texts and 3000 byte strings in %.2f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

}  // namespace
}  // namespace clipgrad::clip::ftfy
