#include "clip/text/unicode.h"

#include <algorithm>
#include <stdexcept>

#include "clip/text/unicode_tables.h"

namespace clipgrad::clip::unicode {
namespace {

bool in_ranges(const CodeRange* ranges, size_t size, char32_t cp) {
  const CodeRange* end = ranges + size;
  // First range whose last >= cp; it holds cp if its first <= cp.
  const CodeRange* it = std::lower_bound(ranges, end, cp, [](const CodeRange& r, char32_t c) { return r.last < c; });
  return it != end && it->first <= cp;
}

char32_t lower_one(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  const LowerRun* end = kLowerRuns + kLowerRuns_size;
  // Runs are disjoint and sorted: only the last run starting at or before cp can hold it.
  const LowerRun* it = std::upper_bound(kLowerRuns, end, cp, [](char32_t c, const LowerRun& r) { return c < r.start; });
  if (it == kLowerRuns) return cp;
  --it;
  const char32_t offset = cp - it->start;
  if (offset % it->stride != 0 || offset / it->stride >= it->count) return cp;
  return static_cast<char32_t>(static_cast<int64_t>(cp) + it->delta);
}

bool is_cased(char32_t cp) { return in_ranges(kCasedRanges, kCasedRanges_size, cp); }
bool is_case_ignorable(char32_t cp) { return in_ranges(kCaseIgnorableRanges, kCaseIgnorableRanges_size, cp); }

// CPython's handle_capital_sigma: U+03A3 lowers to final sigma when a cased
// letter precedes it and none follows, skipping case-ignorable characters.
char32_t lower_capital_sigma(std::u32string_view text, size_t i) {
  size_t j = i;
  while (j > 0 && is_case_ignorable(text[j - 1])) --j;
  if (j == 0 || !is_cased(text[j - 1])) return 0x3C3;
  size_t k = i + 1;
  while (k < text.size() && is_case_ignorable(text[k])) ++k;
  return (k == text.size() || !is_cased(text[k])) ? 0x3C2 : 0x3C3;
}

[[noreturn]] void bad_utf8(size_t offset, unsigned char lead) {
  static const char* hex = "0123456789ABCDEF";
  const std::string shown = {'0', 'x', hex[lead >> 4], hex[lead & 15]};
  throw std::invalid_argument("tokenizer: text is not valid UTF-8 (bad or truncated sequence at byte " +
                              std::to_string(offset) + ", lead byte " + shown + "); re-encode the input as UTF-8");
}

// Length of the valid UTF-8 sequence at bytes[i], or 0 with `valid_prefix` set
// to how many bytes form the longest prefix of a valid sequence (>= 1).
size_t utf8_sequence(std::string_view bytes, size_t i, char32_t& cp, size_t& valid_prefix) {
  const auto at = [&](size_t k) { return static_cast<unsigned char>(bytes[k]); };
  const unsigned char lead = at(i);
  valid_prefix = 1;
  if (lead < 0x80) {
    cp = lead;
    return 1;
  }
  size_t length;
  unsigned char low = 0x80, high = 0xBF;  // bounds of the second byte (Unicode Table 3-7)
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    cp = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    cp = lead & 0x0F;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    cp = lead & 0x07;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  for (size_t k = 1; k < length; ++k) {
    if (i + k >= bytes.size()) return 0;
    const unsigned char byte = at(i + k);
    const unsigned char lo = k == 1 ? low : 0x80, hi = k == 1 ? high : 0xBF;
    if (byte < lo || byte > hi) return 0;
    cp = (cp << 6) | (byte & 0x3F);
    valid_prefix = k + 1;
  }
  return length;
}

}  // namespace

std::u32string decode_utf8(std::string_view bytes) {
  std::u32string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    char32_t cp;
    size_t valid_prefix;
    const size_t length = utf8_sequence(bytes, i, cp, valid_prefix);
    if (length == 0) bad_utf8(i, static_cast<unsigned char>(bytes[i]));
    out.push_back(cp);
    i += length;
  }
  return out;
}

std::u32string decode_utf8_lossy(std::string_view bytes) {
  std::u32string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    char32_t cp;
    size_t valid_prefix;
    const size_t length = utf8_sequence(bytes, i, cp, valid_prefix);
    if (length == 0) {
      out.push_back(0xFFFD);
      i += valid_prefix;
    } else {
      out.push_back(cp);
      i += length;
    }
  }
  return out;
}

bool is_regex_space(char32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= '\t' && cp <= '\r');
  switch (cp) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000: return true;
    default: return cp >= 0x2000 && cp <= 0x200A;
  }
}

bool is_python_space(char32_t cp) { return is_regex_space(cp) || (cp >= 0x1C && cp <= 0x1F); }

bool is_letter(char32_t cp) {
  if (cp < 0x80) return ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
  return in_ranges(kLetterRanges, kLetterRanges_size, cp);
}

bool is_number(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return in_ranges(kNumberRanges, kNumberRanges_size, cp);
}

std::u32string python_lower(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t cp = text[i];
    if (cp == 0x130) {  // the one unconditional multi-character mapping in SpecialCasing.txt
      out.push_back(U'i');
      out.push_back(0x307);
    } else if (cp == 0x3A3) {
      out.push_back(lower_capital_sigma(text, i));
    } else {
      out.push_back(lower_one(cp));
    }
  }
  return out;
}

}  // namespace clipgrad::clip::unicode
