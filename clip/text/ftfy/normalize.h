// Unicode NFC, equal to Python's unicodedata.normalize("NFC", text) for the
// Unicode version the tables were generated from (tools/gen_ftfy_tables.py).
#pragma once

#include <string>
#include <string_view>

namespace clipgrad::clip::ftfy {

std::u32string normalize_nfc(std::u32string_view text);

}  // namespace clipgrad::clip::ftfy
