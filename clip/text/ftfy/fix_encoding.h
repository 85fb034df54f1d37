// ftfy.fix_encoding: finds mojibake (UTF-8 read in a single-byte encoding)
// with badness.is_bad and undoes it by encoding the text back into each of
// chardata.CHARMAP_ENCODINGS in turn and decoding the bytes as UTF-8, with
// ftfy's byte repairs on the way (restore_byte_a0, replace_lossy_sequences),
// then decode_inconsistent_utf8, the Latin-1/Windows-1252 fallback and
// fix_c1_controls, repeated until the text stops changing.
#pragma once

#include <string>
#include <string_view>

namespace clipgrad::clip::ftfy {

std::u32string fix_encoding(std::u32string_view text);

// The byte-level transcoders, as ftfy.fixes.restore_byte_a0 and
// replace_lossy_sequences (exposed for tests).
std::string restore_byte_a0(std::string_view bytes);
std::string replace_lossy_sequences(std::string_view bytes);
// ftfy.fixes.decode_inconsistent_utf8: each UTF8_DETECTOR_RE match shorter than
// the text that is_bad is run through fix_encoding on its own.
std::u32string decode_inconsistent_utf8(std::u32string_view text);

}  // namespace clipgrad::clip::ftfy
