#include "clip/text/ftfy/normalize.h"

#include <algorithm>
#include <cstdint>

#include "clip/text/ftfy/char_classes.h"
#include "clip/text/ftfy/tables/ftfy_tables.h"

namespace clipgrad::clip::ftfy {
namespace {

// Hangul syllables decompose and compose by arithmetic (Unicode ch. 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

uint8_t combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const tables::CombiningRun* end = tables::kCombiningRuns + tables::kCombiningRuns_size;
  const tables::CombiningRun* it =
      std::lower_bound(tables::kCombiningRuns, end, cp,
                       [](const tables::CombiningRun& run, char32_t value) { return run.last < value; });
  return it != end && it->first <= cp ? it->combining_class : 0;
}

void append_decomposition(char32_t cp, std::u32string& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t index = cp - kSBase;
    out.push_back(kLBase + index / kNCount);
    out.push_back(kVBase + (index % kNCount) / kTCount);
    if (index % kTCount) out.push_back(kTBase + index % kTCount);
    return;
  }
  const tables::Decomposition* end = tables::kDecompositions + tables::kDecompositions_size;
  const tables::Decomposition* it =
      std::lower_bound(tables::kDecompositions, end, cp,
                       [](const tables::Decomposition& entry, char32_t value) { return entry.code_point < value; });
  if (it != end && it->code_point == cp)
    out.append(tables::kDecompositionPool + it->offset, it->length);
  else
    out.push_back(cp);
}

// The primary composite of (first, second), or 0.
char32_t compose(char32_t first, char32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase && second < kVBase + kVCount)
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 && second > kTBase &&
      second < kTBase + kTCount)
    return first + (second - kTBase);
  const tables::Composition* end = tables::kCompositions + tables::kCompositions_size;
  const tables::Composition* it =
      std::lower_bound(tables::kCompositions, end, std::pair{first, second},
                       [](const tables::Composition& entry, std::pair<char32_t, char32_t> key) {
                         return entry.first < key.first || (entry.first == key.first && entry.second < key.second);
                       });
  return it != end && it->first == first && it->second == second ? it->composite : 0;
}

}  // namespace

std::u32string normalize_nfc(std::u32string_view text) {
  const bool maybe_changes = std::any_of(text.begin(), text.end(), [](char32_t cp) {
    return cp >= 0x300 && in_ranges(tables::kNfcUnsafe, tables::kNfcUnsafe_size, cp);
  });
  if (!maybe_changes) return std::u32string(text);

  // Canonical decomposition, then each run of non-starters stably sorted by class.
  std::u32string decomposed;
  decomposed.reserve(text.size() + 8);
  for (char32_t cp : text) append_decomposition(cp, decomposed);
  std::vector<uint8_t> classes(decomposed.size());
  for (size_t i = 0; i < decomposed.size(); ++i) classes[i] = combining_class(decomposed[i]);
  for (size_t i = 1; i < decomposed.size(); ++i) {
    for (size_t k = i; k > 0 && classes[k] != 0 && classes[k - 1] > classes[k]; --k) {
      std::swap(decomposed[k], decomposed[k - 1]);
      std::swap(classes[k], classes[k - 1]);
    }
  }

  // Canonical composition: a character joins the last starter unless a
  // character between them is a starter or has a class >= its own.
  std::u32string out;
  out.reserve(decomposed.size());
  size_t starter = SIZE_MAX;  // index in `out` of the last starter
  uint8_t last_class = 0;     // class of out.back()
  for (size_t i = 0; i < decomposed.size(); ++i) {
    const char32_t cp = decomposed[i];
    const uint8_t cls = classes[i];
    if (starter != SIZE_MAX) {
      const bool adjacent = starter + 1 == out.size();
      const bool blocked = !adjacent && (last_class == 0 || last_class >= cls);
      if (!blocked) {
        if (const char32_t composite = compose(out[starter], cp)) {
          out[starter] = composite;
          continue;
        }
      }
    }
    out.push_back(cp);
    last_class = cls;
    if (cls == 0) starter = out.size() - 1;
  }
  return out;
}

}  // namespace clipgrad::clip::ftfy
