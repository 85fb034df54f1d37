// Data tables behind clip/text/unicode.h and clip/text/html_unescape.h, generated from
// Python by tools/gen_unicode_tables.py (clip/text/unicode_tables.cpp,
// clip/text/html_entities.cpp). Each array is sorted by its first field.
#pragma once

#include <cstddef>
#include <cstdint>

namespace clipgrad::clip::unicode {

struct CodeRange {
  char32_t first, last;  // inclusive
};

// Code points start, start + stride, ... (count of them) lower-case to cp + delta.
struct LowerRun {
  char32_t start;
  uint16_t count;
  uint8_t stride;
  int32_t delta;
};

struct CodeMap {
  char32_t from, to;
};

extern const CodeRange kLetterRanges[];
extern const size_t kLetterRanges_size;
extern const CodeRange kNumberRanges[];
extern const size_t kNumberRanges_size;
extern const CodeRange kCasedRanges[];
extern const size_t kCasedRanges_size;
extern const CodeRange kCaseIgnorableRanges[];
extern const size_t kCaseIgnorableRanges_size;
extern const LowerRun kLowerRuns[];
extern const size_t kLowerRuns_size;

extern const char* const kHtml5Entities;
extern const CodeMap kInvalidCharrefs[];
extern const size_t kInvalidCharrefs_size;
extern const char32_t kInvalidCodepoints[];
extern const size_t kInvalidCodepoints_size;

}  // namespace clipgrad::clip::unicode
