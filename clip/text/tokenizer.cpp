#include "clip/text/tokenizer.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <unordered_map>

#include "clip/text/ftfy/fix_text.h"
#include "clip/text/html_unescape.h"
#include "clip/text/unicode.h"

namespace clipgrad::clip {
namespace {

// OpenAI keeps lines 1 .. 48894 of the file: 49152 - 256 byte tokens - 2 specials, minus the header.
constexpr size_t kMergeCount = 49152 - 256 - 2;

std::string read_gzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file)
    throw std::runtime_error("tokenizer: cannot open BPE vocabulary '" + path +
                             "'; pass --bpe PATH or set CLIPGRAD_BPE to bpe_simple_vocab_16e6.txt.gz");
  std::string data;
  std::array<char, 1 << 16> buffer;
  int got;
  // OpenAI's vocabulary is 1.6 MB once inflated; a stream far past that (a bomb, /dev/zero) is refused.
  constexpr size_t kMaxVocabularyBytes = size_t(64) << 20;
  while ((got = gzread(file, buffer.data(), buffer.size())) > 0) {
    data.append(buffer.data(), got);
    if (data.size() > kMaxVocabularyBytes) {
      gzclose(file);
      throw std::runtime_error("tokenizer: BPE vocabulary '" + path + "' inflates past 64 MiB; it is not one");
    }
  }
  int error = Z_OK;
  const std::string message = got < 0 ? gzerror(file, &error) : "";
  gzclose(file);
  if (got < 0) throw std::runtime_error("tokenizer: cannot decompress BPE vocabulary '" + path + "': " + message);
  return data;
}

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the
// rest are shifted to U+0100.. so that every byte is a visible character.
// Token ids 0..255 follow this list's order (printable bytes first).
struct ByteTable {
  std::array<int32_t, 256> id_of_byte;     // byte -> its id (its "</w>" form is id + 256)
  std::array<char32_t, 256> char_of_byte;  // byte -> its stand-in code point
  std::array<int16_t, 324> byte_of_char;   // stand-in code point -> byte, -1 if none
};

ByteTable make_byte_table() {
  const auto printable = [](int byte) {
    return (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE;
  };
  ByteTable table{};
  table.byte_of_char.fill(-1);
  int32_t next_id = 0;
  for (int byte = 0; byte < 256; ++byte) {
    if (!printable(byte)) continue;
    table.id_of_byte[byte] = next_id++;
    table.char_of_byte[byte] = static_cast<char32_t>(byte);
  }
  char32_t shifted = 256;
  for (int byte = 0; byte < 256; ++byte) {
    if (printable(byte)) continue;
    table.id_of_byte[byte] = next_id++;
    table.char_of_byte[byte] = shifted++;
  }
  for (int byte = 0; byte < 256; ++byte) table.byte_of_char[table.char_of_byte[byte]] = static_cast<int16_t>(byte);
  return table;
}

uint64_t pair_key(int32_t first, int32_t second) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(first)) << 32) | static_cast<uint32_t>(second);
}

std::u32string collapse_whitespace(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (unicode::is_regex_space(text[i])) {
      out.push_back(U' ');
      while (i < text.size() && unicode::is_regex_space(text[i])) ++i;
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

std::u32string_view python_strip(std::u32string_view text) {
  size_t begin = 0, end = text.size();
  while (begin < end && unicode::is_python_space(text[begin])) ++begin;
  while (end > begin && unicode::is_python_space(text[end - 1])) --end;
  return text.substr(begin, end - begin);
}

std::u32string clean_code_points(std::string_view text, TextRepair repair) {
  // basic_clean, whitespace_clean, then .lower(), in OpenAI's order.
  std::u32string code_points = unicode::decode_utf8(text);
  if (repair == TextRepair::kFtfy) code_points = ftfy::fix_text(code_points);
  const std::u32string unescaped = html_unescape(html_unescape(code_points));
  const std::u32string collapsed = collapse_whitespace(python_strip(unescaped));
  return unicode::python_lower(python_strip(collapsed));
}

// Does `literal` (lower-case ASCII) start at text[pos] under regex IGNORECASE?
// Besides ASCII case, only U+017F (long s) case-folds to one of its letters.
bool matches_literal(std::u32string_view text, size_t pos, std::string_view literal) {
  if (text.size() - pos < literal.size()) return false;
  for (size_t k = 0; k < literal.size(); ++k) {
    const char32_t cp = text[pos + k], want = static_cast<unsigned char>(literal[k]);
    const bool same = cp == want || (want >= 'a' && want <= 'z' && cp == want - 32) || (want == 's' && cp == 0x17F);
    if (!same) return false;
  }
  return true;
}

// Length of the pre-token starting at text[pos], 0 when text[pos] starts none
// (whitespace, and U+0345 which IGNORECASE keeps out of both [\p{L}] and
// [^\s\p{L}\p{N}], since it case-folds to a letter but is not one).
size_t pre_token_length(std::u32string_view text, size_t pos) {
  static constexpr std::string_view kAlternatives[] = {
      "<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
  const char32_t first = text[pos];
  if (first == U'<' || first == U'\'') {
    for (std::string_view literal : kAlternatives)
      if (matches_literal(text, pos, literal)) return literal.size();
  }
  size_t end = pos;
  if (unicode::is_letter(first)) {
    while (end < text.size() && unicode::is_letter(text[end])) ++end;
    return end - pos;
  }
  if (unicode::is_number(first)) return 1;
  const auto is_other = [](char32_t cp) {
    return !unicode::is_regex_space(cp) && !unicode::is_letter(cp) && !unicode::is_number(cp) && cp != 0x345;
  };
  while (end < text.size() && is_other(text[end])) ++end;
  return end - pos;
}

}  // namespace

struct Tokenizer::State {
  TextRepair repair = TextRepair::kFtfy;
  ByteTable bytes = make_byte_table();
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };
  std::unordered_map<uint64_t, Merge> merges;  // (first id, second id) -> merge
  std::vector<std::string> id_bytes;           // id -> the bytes it stands for ("</w>" kept)
  // Python's cache: pre-token bytes -> ids. Cleared when it grows past
  // kMaxCacheEntries so that a long run over many captions stays bounded.
  static constexpr size_t kMaxCacheEntries = 1 << 20;
  mutable std::shared_mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;
};

Tokenizer::Tokenizer(const std::string& bpe_path, TextRepair repair) : state_(std::make_unique<State>()) {
  state_->repair = repair;
  const std::string text = read_gzip(bpe_path);
  const auto bad_file = [&](const std::string& what) {
    return std::runtime_error("tokenizer: '" + bpe_path + "' is not CLIP's bpe_simple_vocab_16e6.txt.gz: " + what);
  };
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos <= text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    lines.push_back(std::string_view(text).substr(pos, end - pos));
    pos = end + 1;
    if (lines.size() > kMergeCount) break;
  }
  if (lines.size() <= kMergeCount)
    throw bad_file("it has " + std::to_string(lines.size()) + " lines, CLIP needs " + std::to_string(kMergeCount + 1));

  // Vocabulary strings are kept as the bytes they stand for; the stand-in
  // characters map one-to-one onto bytes, so nothing is lost.
  std::vector<std::string>& vocab = state_->id_bytes;
  vocab.resize(512);
  const ByteTable& table = state_->bytes;
  for (int byte = 0; byte < 256; ++byte) {
    vocab[table.id_of_byte[byte]] = std::string(1, static_cast<char>(byte));
    vocab[table.id_of_byte[byte] + 256] = std::string(1, static_cast<char>(byte)) + "</w>";
  }
  const auto to_bytes = [&](std::string_view stand_in, size_t line) {
    std::string out;
    for (char32_t cp : unicode::decode_utf8(stand_in)) {
      if (cp >= table.byte_of_char.size() || table.byte_of_char[cp] < 0)
        throw bad_file("line " + std::to_string(line + 1) + " holds a character that stands for no byte");
      out.push_back(static_cast<char>(table.byte_of_char[cp]));
    }
    return out;
  };
  std::vector<std::pair<std::string, std::string>> merge_parts;
  merge_parts.reserve(kMergeCount);
  for (size_t line = 1; line <= kMergeCount; ++line) {
    const size_t space = lines[line].find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 == lines[line].size() ||
        lines[line].find(' ', space + 1) != std::string_view::npos)
      throw bad_file("line " + std::to_string(line + 1) + " is not a merge 'A B'");
    merge_parts.emplace_back(to_bytes(lines[line].substr(0, space), line),
                             to_bytes(lines[line].substr(space + 1), line));
    vocab.push_back(merge_parts.back().first + merge_parts.back().second);
  }
  vocab.push_back("<|startoftext|>");
  vocab.push_back("<|endoftext|>");

  // Python's dict(zip(...)): a string listed twice maps to its last id.
  std::unordered_map<std::string, int32_t> encoder;
  encoder.reserve(vocab.size());
  for (size_t id = 0; id < vocab.size(); ++id) encoder.insert_or_assign(vocab[id], static_cast<int32_t>(id));
  state_->merges.reserve(kMergeCount);
  for (size_t rank = 0; rank < merge_parts.size(); ++rank) {
    const auto first = encoder.find(merge_parts[rank].first);
    const auto second = encoder.find(merge_parts[rank].second);
    // A merge of strings outside the vocabulary can never fire in Python either.
    if (first == encoder.end() || second == encoder.end()) continue;
    const int32_t merged = encoder.at(merge_parts[rank].first + merge_parts[rank].second);
    state_->merges.insert_or_assign(pair_key(first->second, second->second),
                                    State::Merge{static_cast<int32_t>(rank), merged});
  }
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::string Tokenizer::default_bpe_path() {
  if (const char* path = std::getenv("CLIPGRAD_BPE"); path && *path) return path;
  return CLIPGRAD_DEFAULT_BPE;
}

// Byte-level BPE of one pre-token: repeatedly merge every occurrence of the
// lowest-ranked adjacent pair, left to right, as simple_tokenizer.bpe does.
std::vector<int32_t> Tokenizer::bpe(std::string_view token_bytes) const {
  const ByteTable& table = state_->bytes;
  std::vector<int32_t> word(token_bytes.size());
  for (size_t i = 0; i < token_bytes.size(); ++i)
    word[i] = table.id_of_byte[static_cast<unsigned char>(token_bytes[i])];
  word.back() += 256;  // the last byte carries "</w>"
  if (word.size() == 1) return word;
  {
    std::shared_lock lock(state_->cache_mutex);
    if (auto it = state_->cache.find(std::string(token_bytes)); it != state_->cache.end()) return it->second;
  }
  std::vector<int32_t> merged_word;
  merged_word.reserve(word.size());
  while (word.size() > 1) {
    int32_t best_rank = INT32_MAX;
    State::Merge best{};
    int32_t first = 0, second = 0;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = state_->merges.find(pair_key(word[i], word[i + 1]));
      if (it != state_->merges.end() && it->second.rank < best_rank) {
        best_rank = it->second.rank;
        best = it->second;
        first = word[i];
        second = word[i + 1];
      }
    }
    if (best_rank == INT32_MAX) break;
    merged_word.clear();
    for (size_t i = 0; i < word.size();) {
      if (word[i] == first && i + 1 < word.size() && word[i + 1] == second) {
        merged_word.push_back(best.merged_id);
        i += 2;
      } else {
        merged_word.push_back(word[i++]);
      }
    }
    word.swap(merged_word);
  }
  std::unique_lock lock(state_->cache_mutex);
  if (state_->cache.size() >= State::kMaxCacheEntries) state_->cache.clear();
  state_->cache.emplace(std::string(token_bytes), word);
  return word;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  const std::u32string cleaned = clean_code_points(text, state_->repair);
  const std::u32string_view view = cleaned;
  std::vector<int32_t> ids;
  std::string token;
  for (size_t pos = 0; pos < view.size();) {
    const size_t length = pre_token_length(view, pos);
    if (length == 0) {
      ++pos;
      continue;
    }
    token = unicode::encode_utf8(view.substr(pos, length));
    pos += length;
    // Python's cache holds the two special tokens, spelt exactly so.
    if (token == "<|startoftext|>") {
      ids.push_back(kStartOfText);
    } else if (token == "<|endoftext|>") {
      ids.push_back(kEndOfText);
    } else {
      const std::vector<int32_t> pieces = bpe(token);
      ids.insert(ids.end(), pieces.begin(), pieces.end());
    }
  }
  return ids;
}

std::vector<int32_t> Tokenizer::tokenize(std::string_view text, int64_t context_length) const {
  if (context_length < 2)
    throw std::invalid_argument("tokenizer: context_length must be at least 2 (SOT and EOT), got " +
                                std::to_string(context_length));
  std::vector<int32_t> ids{kStartOfText};
  const std::vector<int32_t> body = encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.push_back(kEndOfText);
  if (static_cast<int64_t>(ids.size()) > context_length) {
    ids.resize(context_length);
    ids.back() = kEndOfText;
  }
  return ids;
}

Tensor Tokenizer::tokenize_batch(const std::vector<std::string>& texts, int64_t context_length) const {
  Tensor tokens = Tensor::zeros({static_cast<int64_t>(texts.size()), context_length}, DType::I32);  // [N, context]
  int32_t* out = tokens.data<int32_t>();
  for (size_t row = 0; row < texts.size(); ++row) {
    const std::vector<int32_t> ids = tokenize(texts[row], context_length);
    std::copy(ids.begin(), ids.end(), out + row * context_length);
  }
  return tokens;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (id < 0 || id >= static_cast<int32_t>(state_->id_bytes.size()))
      throw std::out_of_range("tokenizer: cannot decode id " + std::to_string(id) + ", the vocabulary is [0, " +
                              std::to_string(state_->id_bytes.size()) + ")");
    bytes += state_->id_bytes[id];
  }
  // "</w>" is ASCII, so replacing it before the lossy UTF-8 decode gives what
  // Python's decode-then-replace gives.
  std::string spaced;
  spaced.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    if (bytes.compare(i, 4, "</w>") == 0) {
      spaced.push_back(' ');
      i += 4;
    } else {
      spaced.push_back(bytes[i++]);
    }
  }
  return unicode::encode_utf8(unicode::decode_utf8_lossy(spaced));
}

std::string Tokenizer::clean(std::string_view text, TextRepair repair) {
  return unicode::encode_utf8(clean_code_points(text, repair));
}

TextRepair Tokenizer::repair() const { return state_->repair; }

}  // namespace clipgrad::clip
