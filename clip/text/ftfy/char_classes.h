// ftfy's character classes over code points: membership in the generated
// tables, the mojibake detector badness.is_bad, and chardata.UTF8_DETECTOR_RE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "clip/text/ftfy/tables/ftfy_tables.h"

namespace clipgrad::clip::ftfy {

// The classes (tables::ClassBit and BADNESS_RE's) one code point is in.
struct ClassMask {
  uint64_t bits[2];
  bool has(int bit) const { return (bits[bit >> 6] >> (bit & 63)) & 1; }
};
ClassMask class_mask(char32_t cp);
std::vector<ClassMask> class_masks(std::u32string_view text);

bool in_ranges(const tables::CodeRange* ranges, size_t size, char32_t cp);

// badness.is_bad: does BADNESS_RE match anywhere in text?
bool is_bad(std::u32string_view text);

// Length of the UTF8_DETECTOR_RE match starting at `pos` (0 for none):
// (?<![continuation_strict]) ([first_of_2][continuation] | [first_of_3][continuation]{2}
//                            | [first_of_4][continuation]{3})+
size_t utf8_detector_match(const std::vector<ClassMask>& masks, size_t pos);

}  // namespace clipgrad::clip::ftfy
