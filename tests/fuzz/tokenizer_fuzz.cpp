// libFuzzer target: OpenAI CLIP's tokenizer (ftfy's fix_text, byte-level BPE)
// on arbitrary bytes as text, with ftfy or without (the first byte's low bit) at
// a context length from its other bits; then decoding the ids back. Invalid UTF-8 is refused with a
// std::runtime_error; every id must lie in the vocabulary and the sequence
// must start with SOT and end with EOT.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "clip/text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using clipgrad::clip::Tokenizer;
  static const Tokenizer with_ftfy, without_ftfy(Tokenizer::default_bpe_path(), clipgrad::clip::TextRepair::kNone);
  if (size == 0) return 0;
  const Tokenizer& tokenizer = data[0] & 1 ? without_ftfy : with_ftfy;  // the shipped vocabulary, loaded once
  const int64_t context = 2 + (data[0] >> 1) % 96;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<int32_t> ids;
  try {
    ids = tokenizer.tokenize(text, context);
  } catch (const std::invalid_argument&) {  // text that is not UTF-8: refused, as documented
    return 0;
  } catch (const std::runtime_error&) {
    return 0;
  }
  if (ids.size() < 2 || static_cast<int64_t>(ids.size()) > context) throw std::logic_error("ids outside the context");
  if (ids.front() != 49406 || ids.back() != 49407) throw std::logic_error("no SOT or EOT at the ends");
  for (int32_t id : ids)
    if (id < 0 || id >= 49408) throw std::logic_error("an id outside the vocabulary");
  tokenizer.decode(ids);
  return 0;
}
