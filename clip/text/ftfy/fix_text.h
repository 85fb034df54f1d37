// ftfy.fix_text (ftfy 6, default TextFixerConfig), natively: the first step
// of OpenAI CLIP's basic_clean. Per line (segments end after '\n' or at 10^6
// code points), repeated until the segment stops changing:
//   unescape_html ("auto": off from the first segment holding '<' onward),
//   fix_encoding (mojibake detection and re-decoding; see fix_encoding.h),
//   fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes,
//   fix_line_breaks, fix_surrogates, remove_terminal_escapes,
//   remove_control_chars, NFC.
// Text that is printable ASCII (plus \t \n \f) without '&' is returned as is
// without running any of them: no step changes it.
#pragma once

#include <string>
#include <string_view>

namespace clipgrad::clip::ftfy {

std::u32string fix_text(std::u32string_view text);
// UTF-8 in and out; throws std::invalid_argument naming the byte offset when
// `text` is not valid UTF-8 (Python would not have a str to give ftfy).
std::string fix_text(std::string_view text);

// One segment with the given unescape_html setting (ftfy.fix_text_segment).
std::u32string fix_segment(std::u32string_view segment, bool unescape_html);

}  // namespace clipgrad::clip::ftfy
