#include "clip/text/html_unescape.h"

#include <algorithm>
#include <unordered_map>

#include "clip/text/unicode_tables.h"

namespace clipgrad::clip {
namespace {

using EntityMap = std::unordered_map<std::string, std::u32string>;

// Parses the generated "name=HEX[+HEX]" list once; names are ASCII.
const EntityMap& html5_entities() {
  static const EntityMap entities = [] {
    EntityMap map;
    std::string_view list = unicode::kHtml5Entities;
    size_t pos = 0;
    while (pos < list.size()) {
      while (pos < list.size() && (list[pos] == ' ' || list[pos] == '\n')) ++pos;
      if (pos == list.size()) break;
      size_t end = list.find_first_of(" \n", pos);
      if (end == std::string_view::npos) end = list.size();
      const std::string_view entry = list.substr(pos, end - pos);
      const size_t equals = entry.find('=');
      std::u32string value;
      for (size_t k = equals + 1; k < entry.size();) {
        size_t used = 0;
        value.push_back(static_cast<char32_t>(std::stoul(std::string(entry.substr(k)), &used, 16)));
        k += used + 1;  // skip the '+' between code points
      }
      map.emplace(std::string(entry.substr(0, equals)), std::move(value));
      pos = end;
    }
    return map;
  }();
  return entities;
}

const std::u32string* find_entity(std::u32string_view name) {
  std::string key;
  key.reserve(name.size());
  for (char32_t cp : name) {
    if (cp >= 0x80) return nullptr;  // every entity name is ASCII
    key.push_back(static_cast<char>(cp));
  }
  const EntityMap& entities = html5_entities();
  auto it = entities.find(key);
  return it == entities.end() ? nullptr : &it->second;
}

// html._replace_charref for "&#...": the fix-ups browsers apply.
void append_numeric_reference(char32_t number, std::u32string& out) {
  const auto* charrefs_end = unicode::kInvalidCharrefs + unicode::kInvalidCharrefs_size;
  const auto* charref = std::lower_bound(unicode::kInvalidCharrefs, charrefs_end, number,
                                         [](const unicode::CodeMap& m, char32_t n) { return m.from < n; });
  if (charref != charrefs_end && charref->from == number) {
    out.push_back(charref->to);
    return;
  }
  if ((number >= 0xD800 && number <= 0xDFFF) || number > 0x10FFFF) {
    out.push_back(0xFFFD);
    return;
  }
  if (std::binary_search(unicode::kInvalidCodepoints, unicode::kInvalidCodepoints + unicode::kInvalidCodepoints_size,
                         number))
    return;
  out.push_back(number);
}

int digit_value(char32_t cp, bool hex) {
  if (cp >= '0' && cp <= '9') return static_cast<int>(cp - '0');
  if (hex && cp >= 'a' && cp <= 'f') return static_cast<int>(cp - 'a' + 10);
  if (hex && cp >= 'A' && cp <= 'F') return static_cast<int>(cp - 'A' + 10);
  return -1;
}

// Matches "#[0-9]+;?" or "#[xX][0-9a-fA-F]+;?" at text[begin] (just after '&').
// Returns the end of the match, or begin when there is none.
size_t numeric_reference(std::u32string_view text, size_t begin, std::u32string& out) {
  size_t pos = begin + 1;
  bool hex = false;
  if (pos < text.size() && (text[pos] == 'x' || text[pos] == 'X')) {
    hex = true;
    ++pos;
  }
  const size_t digits = pos;
  char32_t number = 0;
  for (int d; pos < text.size() && (d = digit_value(text[pos], hex)) >= 0; ++pos) {
    // Saturates: anything past U+10FFFF unescapes to U+FFFD all the same.
    number = std::min<char32_t>(number * (hex ? 16 : 10) + d, 0x110000);
  }
  if (pos == digits) return begin;
  if (pos < text.size() && text[pos] == ';') ++pos;
  append_numeric_reference(number, out);
  return pos;
}

bool is_name_char(char32_t cp) {
  switch (cp) {
    case '\t':
    case '\n':
    case '\f':
    case ' ':
    case '<':
    case '&':
    case '#':
    case ';': return false;
    default: return true;
  }
}

// Matches "[^\t\n\f <&#;]{1,32};?" at text[begin] (just after '&') and
// replaces it as html._replace_charref does. Returns the end of the match, or
// begin when there is none.
size_t named_reference(std::u32string_view text, size_t begin, std::u32string& out) {
  size_t pos = begin;
  while (pos < text.size() && pos - begin < 32 && is_name_char(text[pos])) ++pos;
  if (pos == begin) return begin;
  if (pos < text.size() && text[pos] == ';') ++pos;
  const std::u32string_view name = text.substr(begin, pos - begin);
  if (const std::u32string* value = find_entity(name)) {
    out += *value;
    return pos;
  }
  // The longest prefix that is an entity (only the legacy ones need no ';').
  for (size_t length = name.size() - 1; length >= 2; --length) {
    if (const std::u32string* value = find_entity(name.substr(0, length))) {
      out += *value;
      out += name.substr(length);
      return pos;
    }
  }
  out.push_back(U'&');
  out += name;
  return pos;
}

}  // namespace

std::u32string html_unescape(std::u32string_view text) {
  if (text.find(U'&') == std::u32string_view::npos) return std::u32string(text);
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text[i] != U'&') {
      out.push_back(text[i++]);
      continue;
    }
    const size_t begin = i + 1;
    size_t end = begin;
    if (begin < text.size() && text[begin] == U'#')
      end = numeric_reference(text, begin, out);
    else
      end = named_reference(text, begin, out);
    if (end == begin) {
      out.push_back(U'&');
      i = begin;
    } else {
      i = end;
    }
  }
  return out;
}

}  // namespace clipgrad::clip
