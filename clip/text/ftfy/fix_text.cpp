#include "clip/text/ftfy/fix_text.h"

#include <algorithm>
#include <stdexcept>

#include "clip/text/ftfy/fix_encoding.h"
#include "clip/text/ftfy/fixes.h"
#include "clip/text/ftfy/normalize.h"
#include "clip/text/ftfy/utf8.h"

namespace clipgrad::clip::ftfy {
namespace {

// TextFixerConfig.max_decode_length
constexpr size_t kMaxSegmentLength = 1000000;
// fix_and_explain loops until nothing changes; stop with an error rather than
// spin should some text never settle.
constexpr int kMaxPasses = 1000;

bool is_untouched_ascii(char32_t cp) {
  return (cp >= 0x20 && cp < 0x7F && cp != '&') || cp == '\t' || cp == '\n' || cp == '\f';
}

}  // namespace

std::u32string fix_segment(std::u32string_view segment, bool unescape_html_enabled) {
  // fix_and_explain's own "auto" check: text holding '<' is taken to be HTML.
  if (segment.find(U'<') != std::u32string_view::npos) unescape_html_enabled = false;
  std::u32string text(segment);
  for (int pass = 0; pass < kMaxPasses; ++pass) {
    const std::u32string before = text;
    if (unescape_html_enabled) text = unescape_html(text);
    text = fix_encoding(text);
    text = fix_c1_controls(text);
    text = fix_latin_ligatures(text);
    text = fix_character_width(text);
    text = uncurl_quotes(text);
    text = fix_line_breaks(text);
    text = fix_surrogates(text);
    text = remove_terminal_escapes(text);
    text = remove_control_chars(text);
    text = normalize_nfc(text);
    if (text == before) return text;
  }
  throw std::runtime_error("ftfy fix_text: a segment of " + std::to_string(segment.size()) +
                           " code points still changes after " + std::to_string(kMaxPasses) +
                           " passes; tokenize it with --no-ftfy or report the text");
}

std::u32string fix_text(std::u32string_view text) {
  if (std::all_of(text.begin(), text.end(), is_untouched_ascii)) return std::u32string(text);
  std::u32string out;
  out.reserve(text.size());
  bool unescape = true;  // "auto" until a segment holds '<'; then off for the rest, as ftfy's loop does
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find(U'\n', pos);
    end = end == std::u32string_view::npos ? text.size() : end + 1;
    end = std::min(end, pos + kMaxSegmentLength);
    const std::u32string_view segment = text.substr(pos, end - pos);
    if (unescape && segment.find(U'<') != std::u32string_view::npos) unescape = false;
    out += fix_segment(segment, unescape);
    pos = end;
  }
  return out;
}

std::string fix_text(std::string_view text) {
  size_t error_offset = 0;
  const std::optional<std::u32string> code_points = decode_utf8(text, &error_offset);
  if (!code_points)
    throw std::invalid_argument("ftfy fix_text: input is not valid UTF-8 (bad byte 0x" +
                                [&] {
                                  static const char* digits = "0123456789ABCDEF";
                                  const auto byte = static_cast<unsigned char>(text[error_offset]);
                                  return std::string{digits[byte >> 4], digits[byte & 15]};
                                }() +
                                " at byte offset " + std::to_string(error_offset) + "); decode it as UTF-8 first");
  return encode_utf8(fix_text(*code_points));
}

}  // namespace clipgrad::clip::ftfy
