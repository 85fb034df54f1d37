// Python's html.unescape, which OpenAI's tokenizer applies twice to every text.
#pragma once

#include <string>
#include <string_view>

namespace clipgrad::clip {

// Same result as html.unescape(text) on Python 3.11: all 2231 HTML5 named
// references (with and, for the legacy ones like "&eacute", without ';'),
// the longest-legacy-prefix rule ("&ampx" -> "&x"), decimal and hex numeric
// references, and the browser fix-ups for numeric references (&#128; -> U+20AC,
// surrogates and > U+10FFFF -> U+FFFD, noncharacters and most C0/C1 controls
// -> nothing). The tables are generated from that Python's html module.
std::u32string html_unescape(std::u32string_view text);

}  // namespace clipgrad::clip
