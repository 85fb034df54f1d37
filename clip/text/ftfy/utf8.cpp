#include "clip/text/ftfy/utf8.h"

#include <cstdint>

namespace clipgrad::clip::ftfy {
namespace {

bool is_continuation(uint8_t byte) { return byte >= 0x80 && byte <= 0xBF; }

// Length of the valid UTF-8 sequence at bytes[pos] and its code point, or 0.
size_t decode_one(std::string_view bytes, size_t pos, char32_t& cp) {
  const auto at = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  const size_t left = bytes.size() - pos;
  const uint8_t lead = at(pos);
  if (lead < 0x80) {
    cp = lead;
    return 1;
  }
  size_t length;
  uint8_t low = 0x80, high = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // no overlongs
    if (lead == 0xED) high = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;  // <= U+10FFFF
  } else {
    return 0;
  }
  if (left < length || at(pos + 1) < low || at(pos + 1) > high) return 0;
  for (size_t k = 2; k < length; ++k)
    if (!is_continuation(at(pos + k))) return 0;
  cp = lead & (0x7F >> length);
  for (size_t k = 1; k < length; ++k) cp = (cp << 6) | (at(pos + k) & 0x3F);
  return length;
}

bool decode_strict_into(std::string_view bytes, std::u32string& out, size_t* error_offset) {
  for (size_t pos = 0; pos < bytes.size();) {
    char32_t cp;
    const size_t length = decode_one(bytes, pos, cp);
    if (length == 0) {
      if (error_offset) *error_offset = pos;
      return false;
    }
    out.push_back(cp);
    pos += length;
  }
  return true;
}

}  // namespace

void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : text) append_utf8(cp, out);
  return out;
}

std::optional<std::u32string> decode_utf8(std::string_view bytes, size_t* error_offset) {
  std::u32string out;
  out.reserve(bytes.size());
  if (!decode_strict_into(bytes, out, error_offset)) return std::nullopt;
  return out;
}

// The codec finds the next "special" position with the regex
//   C0 (80|$) | ED ([A0-AF]|$)([80-BF]|$)(ED|$)([B0-BF]|$)([80-BF]|$) | ED ([A0-BF]|$)([80-BF]|$)
// decodes the bytes before it as strict UTF-8 and handles the special bytes
// itself. Python's bytes `$` also matches before a '\n' that ends the input.
std::optional<std::u32string> decode_utf8_variants(std::string_view bytes) {
  const size_t n = bytes.size();
  const auto at = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  const auto dollar = [&](size_t i) { return i == n || (i + 1 == n && bytes[i] == '\n'); };
  const auto in = [&](size_t i, uint8_t low, uint8_t high) { return i < n && at(i) >= low && at(i) <= high; };
  // Does the special regex match at k? Only ED and C0 can start it; each group
  // is "byte class or $", and $ does not advance.
  const auto special_at = [&](size_t k) {
    if (at(k) == 0xC0) return in(k + 1, 0x80, 0x80) || dollar(k + 1);
    if (at(k) != 0xED) return false;
    // ED ([A0-BF]|$) ([80-BF]|$) covers every CESU-8 match too.
    const auto tail = [&](size_t i) { return in(i, 0x80, 0xBF) || dollar(i); };
    return (in(k + 1, 0xA0, 0xBF) && tail(k + 2)) || (dollar(k + 1) && tail(k + 1));
  };
  std::u32string out;
  out.reserve(n);
  size_t pos = 0;
  while (pos < n) {
    size_t special = pos;
    while (special < n && !special_at(special)) ++special;
    if (!decode_strict_into(bytes.substr(pos, special - pos), out, nullptr)) return std::nullopt;
    if (special == n) break;
    const size_t left = n - special;
    if (at(special) == 0xC0) {
      if (left == 1) return std::nullopt;  // a lone C0: strict UTF-8 fails on it
      out.push_back(0);
      pos = special + 2;
      continue;
    }
    // ED: a six-byte CESU-8 pair, else the strict decoder fails on it.
    if (left < 6) return std::nullopt;
    const bool last_ok = in(special + 5, 0x80, 0xBF) || (left == 6 && at(special + 5) == '\n');
    if (!(in(special + 1, 0xA0, 0xAF) && in(special + 2, 0x80, 0xBF) && at(special + 3) == 0xED &&
          in(special + 4, 0xB0, 0xBF) && last_ok))
      return std::nullopt;
    const char32_t cp = ((at(special + 1) & 0x0F) << 16) + ((at(special + 2) & 0x3F) << 10) +
                        ((at(special + 4) & 0x0F) << 6) + (at(special + 5) & 0x3F) + 0x10000;
    out.push_back(cp);
    pos = special + 6;
  }
  return out;
}

}  // namespace clipgrad::clip::ftfy
