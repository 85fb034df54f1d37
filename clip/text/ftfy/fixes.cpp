#include "clip/text/ftfy/fixes.h"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "clip/text/ftfy/char_classes.h"
#include "clip/text/ftfy/tables/ftfy_tables.h"

namespace clipgrad::clip::ftfy {
namespace {

bool is_ascii_alnum(char32_t cp) {
  return (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z');
}
bool is_ascii_letter(char32_t cp) { return (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z'); }

// "name;" -> its characters, parsed once from the generated table.
const std::unordered_map<std::string, std::u32string>& entity_map() {
  static const std::unordered_map<std::string, std::u32string> entities = [] {
    std::unordered_map<std::string, std::u32string> map;
    const std::string_view table = tables::kHtmlEntities;
    size_t pos = 0;
    while (pos < table.size()) {
      while (pos < table.size() && (table[pos] == ' ' || table[pos] == '\n')) ++pos;
      if (pos == table.size()) break;
      size_t end = pos;
      while (end < table.size() && table[end] != ' ' && table[end] != '\n') ++end;
      const std::string_view entry = table.substr(pos, end - pos);
      const size_t equals = entry.find('=');
      std::u32string value;
      for (size_t at = equals + 1; at < entry.size();) {
        size_t next = entry.find('+', at);
        if (next == std::string_view::npos) next = entry.size();
        value.push_back(static_cast<char32_t>(std::stoul(std::string(entry.substr(at, next - at)), nullptr, 16)));
        at = next + 1;
      }
      map.emplace(std::string(entry.substr(0, equals)), std::move(value));
      pos = end;
    }
    return map;
  }();
  return entities;
}

// html.unescape of "&#<body>;" when its numeric pattern consumes the whole
// reference; false when html.unescape would leave a ';' behind (ftfy then keeps
// the text as it was).
bool unescape_numeric(std::u32string_view body, std::u32string& out) {
  const bool hex = !body.empty() && (body[0] == 'x' || body[0] == 'X');
  const std::u32string_view digits = hex ? body.substr(1) : body;
  if (digits.empty()) return false;
  uint64_t number = 0;
  for (char32_t cp : digits) {
    int value;
    if (cp >= '0' && cp <= '9')
      value = cp - '0';
    else if (hex && cp >= 'a' && cp <= 'f')
      value = cp - 'a' + 10;
    else if (hex && cp >= 'A' && cp <= 'F')
      value = cp - 'A' + 10;
    else
      return false;
    // Beyond U+10FFFF every value means U+FFFD, so stop growing there.
    number = std::min<uint64_t>(number * (hex ? 16 : 10) + value, 0x110000);
  }
  const tables::CodeMap* charrefs_end = tables::kInvalidCharrefs + tables::kInvalidCharrefs_size;
  const tables::CodeMap* fix =
      std::lower_bound(tables::kInvalidCharrefs, charrefs_end, number,
                       [](const tables::CodeMap& entry, uint64_t value) { return entry.from < value; });
  char32_t result;
  if (fix != charrefs_end && fix->from == number) {
    result = fix->to;
  } else if ((number >= 0xD800 && number <= 0xDFFF) || number > 0x10FFFF) {
    result = 0xFFFD;
  } else if (std::binary_search(tables::kInvalidCodepoints,
                                tables::kInvalidCodepoints + tables::kInvalidCodepoints_size,
                                static_cast<char32_t>(number))) {
    return true;  // unescapes to nothing
  } else {
    result = static_cast<char32_t>(number);
  }
  if (result == ';') return false;
  out.push_back(result);
  return true;
}

const tables::Replacement* find_replacement(const tables::Replacement* table, size_t size, char32_t cp) {
  const tables::Replacement* end = table + size;
  const tables::Replacement* it = std::lower_bound(
      table, end, cp, [](const tables::Replacement& entry, char32_t value) { return entry.from < value; });
  return it != end && it->from == cp ? it : nullptr;
}

std::u32string translate(std::u32string_view text, const tables::Replacement* table, size_t size) {
  const char32_t first = table[0].from;
  std::u32string out;
  out.reserve(text.size());
  for (char32_t cp : text) {
    const tables::Replacement* replacement = cp >= first ? find_replacement(table, size, cp) : nullptr;
    if (replacement)
      out.append(replacement->to, replacement->length);
    else
      out.push_back(cp);
  }
  return out;
}

}  // namespace

std::u32string unescape_html(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  const auto& entities = entity_map();
  for (size_t pos = 0; pos < text.size();) {
    if (text[pos] != '&') {
      out.push_back(text[pos++]);
      continue;
    }
    const size_t body = pos + 1 + (pos + 1 < text.size() && text[pos + 1] == '#');
    size_t end = body;
    while (end < text.size() && end - body < 25 && is_ascii_alnum(text[end])) ++end;
    const size_t length = end - body;
    if (length < 1 || length > 24 || end >= text.size() || text[end] != ';') {
      out.push_back(text[pos++]);
      continue;
    }
    const std::u32string_view match = text.substr(pos, end + 1 - pos);
    const size_t before = out.size();
    bool replaced = false;
    if (body == pos + 1) {
      std::string name;
      for (char32_t cp : match.substr(1)) name.push_back(static_cast<char>(cp));
      if (auto it = entities.find(name); it != entities.end()) {
        out += it->second;
        replaced = true;
      }
    } else {
      replaced = unescape_numeric(text.substr(body, length), out);
    }
    if (!replaced) {
      out.resize(before);
      out.append(match);
    }
    pos = end + 1;
  }
  return out;
}

std::u32string remove_terminal_escapes(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    if (text[pos] == 0x1B && pos + 1 < text.size() && text[pos + 1] == '[') {
      size_t end = pos + 2;
      while (end < text.size() && (text[end] == ';' || class_mask(text[end]).has(tables::kDecimalDigit))) ++end;
      if (end < text.size() && is_ascii_letter(text[end])) {
        pos = end + 1;
        continue;
      }
    }
    out.push_back(text[pos++]);
  }
  return out;
}

std::u32string uncurl_quotes(std::u32string_view text) {
  std::u32string out(text);
  for (char32_t& cp : out) {
    if (cp < 0x2BC) continue;
    if (in_ranges(tables::kDoubleQuotes, tables::kDoubleQuotes_size, cp))
      cp = '"';
    else if (in_ranges(tables::kSingleQuotes, tables::kSingleQuotes_size, cp))
      cp = '\'';
  }
  return out;
}

std::u32string fix_latin_ligatures(std::u32string_view text) {
  return translate(text, tables::kLigatures, tables::kLigatures_size);
}

std::u32string fix_character_width(std::u32string_view text) {
  return translate(text, tables::kWidthMap, tables::kWidthMap_size);
}

std::u32string fix_line_breaks(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size(); ++pos) {
    const char32_t cp = text[pos];
    if (cp == '\r' && pos + 1 < text.size() && text[pos + 1] == '\n') continue;  // the '\n' follows
    out.push_back(cp == '\r' || cp == 0x2028 || cp == 0x2029 || cp == 0x85 ? U'\n' : cp);
  }
  return out;
}

std::u32string fix_surrogates(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size(); ++pos) {
    const char32_t cp = text[pos];
    if (cp >= 0xD800 && cp <= 0xDBFF && pos + 1 < text.size() && text[pos + 1] >= 0xDC00 && text[pos + 1] <= 0xDFFF) {
      out.push_back(0x10000 + (cp - 0xD800) * 0x400 + (text[pos + 1] - 0xDC00));
      ++pos;
    } else {
      out.push_back(cp >= 0xD800 && cp <= 0xDFFF ? 0xFFFD : cp);
    }
  }
  return out;
}

std::u32string remove_control_chars(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t cp : text)
    if (!in_ranges(tables::kRemovedControls, tables::kRemovedControls_size, cp)) out.push_back(cp);
  return out;
}

std::u32string fix_c1_controls(std::u32string_view text) {
  static const tables::SingleByteEncoding& sloppy_1252 = *std::find_if(
      tables::kEncodings, tables::kEncodings + tables::kEncodings_size, [](const tables::SingleByteEncoding& encoding) {
        return std::string_view(encoding.name) == "sloppy-windows-1252";
      });
  std::u32string out(text);
  for (char32_t& cp : out)
    if (cp >= 0x80 && cp <= 0x9F) cp = sloppy_1252.high[cp - 0x80];
  return out;
}

}  // namespace clipgrad::clip::ftfy
