#include "clip/text/ftfy/fix_encoding.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "clip/text/ftfy/char_classes.h"
#include "clip/text/ftfy/fixes.h"
#include "clip/text/ftfy/tables/ftfy_tables.h"
#include "clip/text/ftfy/utf8.h"

namespace clipgrad::clip::ftfy {
namespace {

// fix_encoding repeats until nothing changes; ftfy has no bound, we stop with
// an error rather than spin if some text ever kept changing.
constexpr int kMaxEncodingSteps = 10000;

// One of CHARMAP_ENCODINGS with its inverse: sorted (code point, byte) pairs
// for the bytes 0x80..0xFF.
struct Encoding {
  const tables::SingleByteEncoding* table;
  std::vector<std::pair<char32_t, uint8_t>> inverse;
};

const std::vector<Encoding>& encodings() {
  static const std::vector<Encoding> all = [] {
    std::vector<Encoding> out;
    for (size_t e = 0; e < tables::kEncodings_size; ++e) {
      Encoding encoding{&tables::kEncodings[e], {}};
      for (int byte = 0; byte < 128; ++byte)
        encoding.inverse.emplace_back(encoding.table->high[byte], static_cast<uint8_t>(0x80 + byte));
      std::sort(encoding.inverse.begin(), encoding.inverse.end());
      out.push_back(std::move(encoding));
    }
    return out;
  }();
  return all;
}

// text.encode(encoding), nullopt where a character has no byte (this is
// chardata.possible_encoding's test too). ftfy's sloppy codecs write U+FFFD
// as byte 0x1A and so cannot write U+001A itself.
std::optional<std::string> encode(std::u32string_view text, const Encoding& encoding) {
  std::string bytes;
  bytes.reserve(text.size());
  const bool sloppy = encoding.table->sloppy;
  for (char32_t cp : text) {
    if (cp < 0x80) {
      if (sloppy && cp == 0x1A) return std::nullopt;
      bytes.push_back(static_cast<char>(cp));
    } else if (sloppy && cp == 0xFFFD) {
      bytes.push_back('\x1A');
    } else {
      auto it = std::lower_bound(encoding.inverse.begin(), encoding.inverse.end(), std::pair<char32_t, uint8_t>{cp, 0});
      if (it == encoding.inverse.end() || it->first != cp) return std::nullopt;
      bytes.push_back(static_cast<char>(it->second));
    }
  }
  return bytes;
}

struct Bytes {
  std::string_view data;
  bool is(size_t i, uint8_t value) const { return i < data.size() && static_cast<uint8_t>(data[i]) == value; }
  bool in(size_t i, uint8_t low, uint8_t high) const {
    return i < data.size() && static_cast<uint8_t>(data[i]) >= low && static_cast<uint8_t>(data[i]) <= high;
  }
  bool starts(size_t i, std::string_view prefix) const {
    return data.substr(std::min(i, data.size())).starts_with(prefix);
  }
};

// ALTERED_UTF8_RE at i: UTF-8 that would be valid if one byte 0x20 were 0xA0.
size_t altered_utf8_match(const Bytes& b, size_t i) {
  // [\x80-\x84\x86-\x9f\xa1-\xbf]: a continuation byte other than 0x85 and 0xA0
  const auto cont = [&](size_t k) { return b.in(k, 0x80, 0xBF) && !b.is(k, 0x85) && !b.is(k, 0xA0); };
  const auto any_cont = [&](size_t k) { return b.in(k, 0x80, 0xBF); };
  const auto space = [&](size_t k) { return b.is(k, 0x20); };
  const auto lead2 = [&](size_t k) {
    return b.is(k, 0xC2) || b.is(k, 0xC3) || b.is(k, 0xC5) || b.is(k, 0xCE) || b.is(k, 0xD0) || b.is(k, 0xD9);
  };
  if (lead2(i) && space(i + 1)) return 2;
  if (b.in(i, 0xE2, 0xE3) && space(i + 1) && cont(i + 2)) return 3;
  if (b.in(i, 0xE0, 0xE3) && cont(i + 1) && space(i + 2)) return 3;
  if (b.is(i, 0xF0)) {
    if (space(i + 1) && any_cont(i + 2) && any_cont(i + 3)) return 4;
    if (any_cont(i + 1) && space(i + 2) && any_cont(i + 3)) return 4;
    if (any_cont(i + 1) && any_cont(i + 2) && space(i + 3)) return 4;
  }
  return 0;
}

bool has_altered_utf8(std::string_view bytes) {
  const Bytes b{bytes};
  for (size_t i = 0; i < bytes.size(); ++i)
    if (altered_utf8_match(b, i)) return true;
  return false;
}

// LOSSY_UTF8_RE at i: UTF-8 whose lost bytes show as 0x1A (or one '?').
size_t lossy_utf8_match(const Bytes& b, size_t i) {
  const auto lost = [&](size_t k) { return b.is(k, 0x1A) || b.is(k, '?'); };                 // [\x1a?]
  const auto lost_or_cont = [&](size_t k) { return b.is(k, 0x1A) || b.in(k, 0x80, 0xBF); };  // [\x1a\x80-\xbf]
  const auto any = [&](size_t k) { return lost(k) || b.in(k, 0x80, 0xBF); };                 // [\x1a?\x80-\xbf]
  if (b.in(i, 0xC2, 0xDF) && b.is(i + 1, 0x1A)) return 2;
  if (b.in(i, 0xC2, 0xC3) && b.is(i + 1, '?')) return 2;
  if (b.is(i, 0xED) && b.in(i + 1, 0xA0, 0xAF) && b.is(i + 3, 0xED) && b.in(i + 4, 0xB0, 0xBF)) {
    if (lost(i + 2) && any(i + 5)) return 6;
    if (any(i + 2) && lost(i + 5)) return 6;
  }
  if (b.in(i, 0xE0, 0xEF)) {
    if (lost(i + 1) && lost_or_cont(i + 2)) return 3;
    if (lost_or_cont(i + 1) && lost(i + 2)) return 3;
  }
  if (b.in(i, 0xF0, 0xF4)) {
    for (size_t lost_at = 1; lost_at <= 3; ++lost_at) {
      bool ok = true;
      for (size_t k = 1; k <= 3 && ok; ++k) ok = k == lost_at ? lost(i + k) : lost_or_cont(i + k);
      if (ok) return 4;
    }
  }
  if (b.is(i, 0x1A)) return 1;
  return 0;
}

std::optional<std::u32string> decode_as_utf8(std::string_view bytes) {
  // ftfy switches to its utf-8-variants codec when C0 or ED appears anywhere.
  if (bytes.find('\xED') != std::string_view::npos || bytes.find('\xC0') != std::string_view::npos)
    return decode_utf8_variants(bytes);
  return decode_utf8(bytes);
}

bool is_ascii(std::u32string_view text) {
  return std::all_of(text.begin(), text.end(), [](char32_t cp) { return cp < 0x80; });
}

// ftfy's _fix_encoding_one_step_and_explain with the default configuration.
std::u32string fix_encoding_one_step(std::u32string_view text) {
  if (text.empty() || is_ascii(text) || !is_bad(text)) return std::u32string(text);
  bool latin1_possible = false;
  for (const Encoding& encoding : encodings()) {
    std::optional<std::string> bytes = encode(text, encoding);
    if (!bytes) continue;
    const std::string_view name = encoding.table->name;
    if (name == "latin-1") latin1_possible = true;
    // No restore_byte_a0 for macroman: an en dash and a space would match.
    if (name != "macroman" && has_altered_utf8(*bytes)) *bytes = restore_byte_a0(*bytes);
    if (encoding.table->sloppy) *bytes = replace_lossy_sequences(*bytes);
    if (std::optional<std::u32string> fixed = decode_as_utf8(*bytes)) return std::move(*fixed);
  }
  const std::vector<ClassMask> masks = class_masks(text);
  for (size_t pos = 0; pos < masks.size(); ++pos) {
    if (utf8_detector_match(masks, pos) == 0) continue;
    std::u32string fixed = decode_inconsistent_utf8(text);
    if (fixed != text) return fixed;
    break;
  }
  // ftfy then asks whether "windows-1252" was among the possible encodings;
  // it never is (only sloppy-windows-1252 is tried), so Latin-1 text always
  // takes the strict windows-1252 re-decode, which fails on its five holes.
  if (latin1_possible) {
    std::u32string fixed(text);
    bool decodable = true;
    for (char32_t& cp : fixed) {
      if (cp < 0x80 || cp > 0x9F) continue;
      cp = tables::kStrictWindows1252C1[cp - 0x80];
      if (cp == 0) {
        decodable = false;
        break;
      }
    }
    if (decodable && fixed != text) return fixed;
  }
  if (std::any_of(text.begin(), text.end(), [](char32_t cp) { return cp >= 0x80 && cp <= 0x9F; }))
    return fix_c1_controls(text);
  return std::u32string(text);
}

}  // namespace

std::string restore_byte_a0(std::string_view bytes) {
  // A_GRAVE_WORD_RE: "\xc3 " not followed by ' ', "quele", "quela", "quilo" or
  // "s " is a lone "à" (as in "à la"): the A0 goes back in and the space stays.
  std::string graved;
  graved.reserve(bytes.size() + 8);
  const Bytes input{bytes};
  for (size_t i = 0; i < bytes.size();) {
    if (input.is(i, 0xC3) && input.is(i + 1, ' ') && !input.starts(i + 2, " ") && !input.starts(i + 2, "quele") &&
        !input.starts(i + 2, "quela") && !input.starts(i + 2, "quilo") && !input.starts(i + 2, "s ")) {
      graved += "\xC3\xA0 ";
      i += 2;
    } else {
      graved.push_back(bytes[i++]);
    }
  }
  const Bytes b{graved};
  std::string out;
  out.reserve(graved.size());
  for (size_t i = 0; i < graved.size();) {
    const size_t length = altered_utf8_match(b, i);
    if (length == 0) {
      out.push_back(graved[i++]);
      continue;
    }
    for (size_t k = i; k < i + length; ++k) out.push_back(graved[k] == ' ' ? '\xA0' : graved[k]);
    i += length;
  }
  return out;
}

std::string replace_lossy_sequences(std::string_view bytes) {
  const Bytes b{bytes};
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    const size_t length = lossy_utf8_match(b, i);
    if (length == 0) {
      out.push_back(bytes[i++]);
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
      i += length;
    }
  }
  return out;
}

std::u32string decode_inconsistent_utf8(std::u32string_view text) {
  const std::vector<ClassMask> masks = class_masks(text);
  std::u32string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = utf8_detector_match(masks, pos);
    if (length == 0) {
      out.push_back(text[pos++]);
      continue;
    }
    const std::u32string_view piece = text.substr(pos, length);
    if (length < text.size() && is_bad(piece))
      out += fix_encoding(piece);
    else
      out.append(piece);
    pos += length;
  }
  return out;
}

std::u32string fix_encoding(std::u32string_view text) {
  std::u32string current(text);
  for (int step = 0; step < kMaxEncodingSteps; ++step) {
    std::u32string next = fix_encoding_one_step(current);
    if (next == current) return current;
    current = std::move(next);
  }
  throw std::runtime_error("ftfy fix_encoding: text still changing after " + std::to_string(kMaxEncodingSteps) +
                           " re-decodings (" + std::to_string(text.size()) +
                           " code points); pass it through --no-ftfy or report the text");
}

}  // namespace clipgrad::clip::ftfy
