// The Unicode the CLIP tokenizer needs: UTF-8 in and out, and the character
// classes and lower-casing of the Python that OpenAI's simple_tokenizer.py runs
// on (str.lower(), str.strip(), the `regex` package's \s, \p{L}, \p{N}).
// Tables cover all planes; they come from tools/gen_unicode_tables.py.
#pragma once

#include <string>
#include <string_view>

#include "clip/text/ftfy/utf8.h"

namespace clipgrad::clip::unicode {

// Strict: throws std::invalid_argument naming the byte offset for malformed
// input (overlong forms, surrogates, truncated sequences, > U+10FFFF).
std::u32string decode_utf8(std::string_view bytes);
// Python's bytes.decode("utf-8", errors="replace"): each maximal invalid
// subpart becomes one U+FFFD.
std::u32string decode_utf8_lossy(std::string_view bytes);
// The encoder is ftfy's (clip/text/ftfy/utf8.h), the library below this one.
using ftfy::append_utf8;
using ftfy::encode_utf8;

// regex \s: the White_Space property.
bool is_regex_space(char32_t cp);
// str.isspace() / str.strip(): White_Space plus U+001C..U+001F.
bool is_python_space(char32_t cp);
// regex [\p{L}] and [\p{N}] under IGNORECASE.
bool is_letter(char32_t cp);
bool is_number(char32_t cp);

// str.lower(), including U+0130 -> "i\u0307" and the Final_Sigma rule.
std::u32string python_lower(std::u32string_view text);

}  // namespace clipgrad::clip::unicode
