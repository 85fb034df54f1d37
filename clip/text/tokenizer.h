// OpenAI CLIP's tokenizer (simple_tokenizer.py), bit for bit: byte-level BPE
// over 49408 tokens read from bpe_simple_vocab_16e6.txt.gz.
//
// Text goes through the same steps as in Python: ftfy.fix_text (clip/text/ftfy/:
// mojibake, curly quotes, ligatures, widths, NFC, ...), html.unescape twice,
// strip, whitespace runs -> ' ', str.lower(), then OpenAI's pre-tokeniser pattern
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// (IGNORECASE), written by hand over code points, then BPE per pre-token.
// tools/tokenizer_reference.py is the Python it matches (with --no-ftfy for
// TextRepair::kNone).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/tensor.h"

namespace clipgrad::clip {

// kFtfy: basic_clean's ftfy.fix_text, as OpenAI does. kNone: skip it (the
// tokenizer's behaviour before the repair existed, for comparison).
enum class TextRepair { kFtfy, kNone };

class Tokenizer {
 public:
  static constexpr int32_t kVocabSize = 49408;
  static constexpr int32_t kStartOfText = 49406;
  static constexpr int32_t kEndOfText = 49407;
  static constexpr int64_t kContextLength = 77;

  // bpe_path: OpenAI's bpe_simple_vocab_16e6.txt.gz. Throws std::runtime_error
  // when it cannot be read or does not hold CLIP's 48894 merges.
  explicit Tokenizer(const std::string& bpe_path = default_bpe_path(), TextRepair repair = TextRepair::kFtfy);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // $CLIPGRAD_BPE when set, else the copy shipped in assets/.
  static std::string default_bpe_path();

  // UTF-8 text -> ids, without SOT/EOT. Throws std::invalid_argument for
  // malformed UTF-8. Thread-safe (the word cache is locked).
  std::vector<int32_t> encode(std::string_view text) const;
  // SOT + encode(text) + EOT; longer than context_length (>= 2) is cut to
  // context_length with EOT kept as the last id, as clip.tokenize(truncate=True).
  std::vector<int32_t> tokenize(std::string_view text, int64_t context_length = kContextLength) const;
  // -> i32 [texts.size(), context_length]: tokenize(texts[i]) in row i, zero-padded.
  Tensor tokenize_batch(const std::vector<std::string>& texts, int64_t context_length = kContextLength) const;
  // ids -> text: "</w>" becomes ' ', invalid UTF-8 becomes U+FFFD, SOT/EOT
  // come out as their names. Throws std::out_of_range for an id outside the vocabulary.
  std::string decode(std::span<const int32_t> ids) const;

  // The text the pre-tokeniser sees: repaired, unescaped, stripped,
  // whitespace-collapsed and lower-cased, as UTF-8.
  static std::string clean(std::string_view text, TextRepair repair = TextRepair::kFtfy);
  TextRepair repair() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
  std::vector<int32_t> bpe(std::string_view token_bytes) const;
};

}  // namespace clipgrad::clip
