// UTF-8 the way ftfy's Python sees it: strict decoding ("utf-8"), ftfy's
// "utf-8-variants" codec (CESU-8 surrogate pairs and Java's C0 80 for U+0000),
// and encoding. Decoders return nullopt where Python raises UnicodeDecodeError.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace clipgrad::clip::ftfy {

void append_utf8(char32_t cp, std::string& out);
std::string encode_utf8(std::u32string_view text);

// bytes.decode("utf-8"): nullopt for any malformed, overlong, surrogate or
// out-of-range sequence. When `error_offset` is given it receives the offset
// of the first bad byte.
std::optional<std::u32string> decode_utf8(std::string_view bytes, size_t* error_offset = nullptr);

// bytes.decode("utf-8-variants") with ftfy 6's codec, including its regex
// quirk that a '\n' ending the input can stand in for the last byte of
// C0 80 or of a six-byte CESU-8 pair (and is consumed by it).
std::optional<std::u32string> decode_utf8_variants(std::string_view bytes);

}  // namespace clipgrad::clip::ftfy
