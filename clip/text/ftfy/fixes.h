// The single-purpose fixers of ftfy.fixes that fix_text runs after (or, for
// unescape_html, before) fix_encoding, each equal to its Python namesake on
// any text, surrogates included.
#pragma once

#include <string>
#include <string_view>

namespace clipgrad::clip::ftfy {

// HTML_ENTITY_RE (&#?[0-9A-Za-z]{1,24};) references that are in ftfy's entity
// table (html5 names ending in ';' plus upper-cased Latin ones such as &EACUTE;)
// or numeric ones that html.unescape consumes whole; all else is kept.
std::u32string unescape_html(std::u32string_view text);
// ANSI_RE: ESC '[' (digits | ';')* letter, removed.
std::u32string remove_terminal_escapes(std::u32string_view text);
// U+02BC, U+2018..U+201B -> '\'', U+201C..U+201F -> '"'.
std::u32string uncurl_quotes(std::u32string_view text);
std::u32string fix_latin_ligatures(std::u32string_view text);
// Full-width ASCII, half-width katakana/hangul and U+3000 to standard width.
std::u32string fix_character_width(std::u32string_view text);
// CRLF, CR, U+2028, U+2029, U+0085 -> '\n'.
std::u32string fix_line_breaks(std::u32string_view text);
// Surrogate pairs -> the code point they encode; lone surrogates -> U+FFFD.
std::u32string fix_surrogates(std::u32string_view text);
// chardata.CONTROL_CHARS removed (C0 controls but \t \n \f \r, DEL, U+206A..F,
// U+FEFF, U+FFF9..U+FFFC).
std::u32string remove_control_chars(std::u32string_view text);
// U+0080..U+009F read as sloppy-windows-1252 bytes.
std::u32string fix_c1_controls(std::u32string_view text);

}  // namespace clipgrad::clip::ftfy
