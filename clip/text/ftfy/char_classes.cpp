#include "clip/text/ftfy/char_classes.h"

#include <algorithm>

namespace clipgrad::clip::ftfy {

ClassMask class_mask(char32_t cp) {
  // The last interval that starts at or before cp; the first starts at 0.
  const tables::ClassInterval* end = tables::kClassIntervals + tables::kClassIntervals_size;
  const tables::ClassInterval* it =
      std::upper_bound(tables::kClassIntervals, end, cp,
                       [](char32_t value, const tables::ClassInterval& interval) { return value < interval.first; });
  --it;
  return ClassMask{{it->mask[0], it->mask[1]}};
}

std::vector<ClassMask> class_masks(std::u32string_view text) {
  std::vector<ClassMask> masks;
  masks.reserve(text.size());
  // Runs of one character are common in the text this sees (spaces, letters).
  char32_t last_cp = 0;
  ClassMask last = class_mask(0);
  for (char32_t cp : text) {
    if (cp != last_cp) {
      last = class_mask(cp);
      last_cp = cp;
    }
    masks.push_back(last);
  }
  return masks;
}

bool in_ranges(const tables::CodeRange* ranges, size_t size, char32_t cp) {
  const tables::CodeRange* end = ranges + size;
  const tables::CodeRange* it = std::lower_bound(
      ranges, end, cp, [](const tables::CodeRange& range, char32_t value) { return range.last < value; });
  return it != end && it->first <= cp;
}

bool is_bad(std::u32string_view text) {
  const std::vector<ClassMask> masks = class_masks(text);
  // Bits that can start some alternative: a position whose character is in
  // none of them starts no match.
  static const ClassMask first_bits = [] {
    ClassMask union_mask{{0, 0}};
    for (size_t p = 0; p < tables::kBadnessPatterns_size; ++p) {
      const int bit = tables::kBadnessPatterns[p].bits[0];
      union_mask.bits[bit >> 6] |= uint64_t{1} << (bit & 63);
    }
    return union_mask;
  }();
  for (size_t pos = 0; pos < masks.size(); ++pos) {
    if (!(masks[pos].bits[0] & first_bits.bits[0]) && !(masks[pos].bits[1] & first_bits.bits[1])) continue;
    for (size_t p = 0; p < tables::kBadnessPatterns_size; ++p) {
      const tables::BadnessPattern& pattern = tables::kBadnessPatterns[p];
      if ((pattern.anchored && pos != 0) || pos + pattern.length > masks.size()) continue;
      bool matched = true;
      for (size_t k = 0; k < pattern.length && matched; ++k) matched = masks[pos + k].has(pattern.bits[k]);
      if (matched) return true;
    }
  }
  return false;
}

size_t utf8_detector_match(const std::vector<ClassMask>& masks, size_t pos) {
  using tables::kUtf8Continuation;
  if (pos > 0 && masks[pos - 1].has(tables::kUtf8ContinuationStrict)) return 0;
  const auto continued = [&](size_t first, size_t count) {
    if (first + count > masks.size()) return false;
    for (size_t k = 0; k < count; ++k)
      if (!masks[first + k].has(kUtf8Continuation)) return false;
    return true;
  };
  size_t end = pos;
  // Each repetition takes the first alternative that fits, as the regex does;
  // nothing follows the group, so no repetition is ever undone.
  while (end < masks.size()) {
    if (masks[end].has(tables::kUtf8FirstOf2) && continued(end + 1, 1)) {
      end += 2;
    } else if (masks[end].has(tables::kUtf8FirstOf3) && continued(end + 1, 2)) {
      end += 3;
    } else if (masks[end].has(tables::kUtf8FirstOf4) && continued(end + 1, 3)) {
      end += 4;
    } else {
      break;
    }
  }
  return end - pos;
}

}  // namespace clipgrad::clip::ftfy
