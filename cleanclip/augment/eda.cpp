#include "cleanclip/augment/eda.h"

#include <algorithm>
#include <stdexcept>
#include <unordered_set>

namespace clipgrad::cleanclip {
namespace {

// Python's random.randint(low, high), inclusive, on our generator.
size_t random_index(Generator& generator, size_t size) {
  if (size == 0) throw std::invalid_argument("EDA: random index into an empty list");
  return static_cast<size_t>(generator.below(size));
}

// random.shuffle: Fisher-Yates from the back.
template <class T>
void shuffle(std::vector<T>& items, Generator& generator) {
  for (size_t i = items.size(); i-- > 1;) std::swap(items[i], items[generator.below(i + 1)]);
}

std::string join(const std::vector<std::string>& words) {
  std::string sentence;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i) sentence += ' ';
    sentence += words[i];
  }
  return sentence;
}

// Python's str.split(' '): empty strings between consecutive spaces are kept.
std::vector<std::string> split_on_space(std::string_view sentence) {
  std::vector<std::string> words;
  size_t start = 0;
  while (true) {
    size_t space = sentence.find(' ', start);
    if (space == std::string_view::npos) {
      words.emplace_back(sentence.substr(start));
      return words;
    }
    words.emplace_back(sentence.substr(start, space - start));
    start = space + 1;
  }
}

// Decodes one UTF-8 code point at text[i], advancing i; a malformed byte is one
// code point of its own (it is not a letter either way).
char32_t next_code_point(std::string_view text, size_t& i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  int length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
  if (length == 0 || i + length > text.size()) {
    ++i;
    return 0xFFFD;
  }
  char32_t code = length == 1 ? lead : lead & (0x7F >> length);
  for (int k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    code = (code << 6) | (byte(i + k) & 0x3F);
  }
  i += length;
  return code;
}

}  // namespace

std::string eda_clean(std::string_view text) {
  std::string mapped;
  mapped.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    char32_t c = next_code_point(text, i);
    if (c == U'\'' || c == U'\u2019') continue;  // apostrophes vanish ("don't" -> "dont")
    if (c >= U'A' && c <= U'Z') c = c - U'A' + U'a';
    // The only non-ASCII characters whose Python lower() holds a-z letters:
    if (c == U'\u212A') c = U'k';  // KELVIN SIGN -> "k"
    if (c == U'\u0130') {          // LATIN CAPITAL I WITH DOT -> "i" + COMBINING DOT ABOVE
      mapped += "i ";
      continue;
    }
    mapped += (c >= U'a' && c <= U'z') ? static_cast<char>(c) : ' ';  // '-', '\t', '\n' too
  }
  std::string clean;
  clean.reserve(mapped.size());
  for (char c : mapped)
    if (!(c == ' ' && !clean.empty() && clean.back() == ' ')) clean += c;
  if (!clean.empty() && clean[0] == ' ') clean.erase(0, 1);
  return clean;
}

const std::vector<std::string>& eda_stop_words() {
  static const std::vector<std::string> words = {
      "i",       "me",       "my",         "myself",  "we",     "our",    "ours",    "ourselves", "you",        "your",
      "yours",   "yourself", "yourselves", "he",      "him",    "his",    "himself", "she",       "her",        "hers",
      "herself", "it",       "its",        "itself",  "they",   "them",   "their",   "theirs",    "themselves", "what",
      "which",   "who",      "whom",       "this",    "that",   "these",  "those",   "am",        "is",         "are",
      "was",     "were",     "be",         "been",    "being",  "have",   "has",     "had",       "having",     "do",
      "does",    "did",      "doing",      "a",       "an",     "the",    "and",     "but",       "if",         "or",
      "because", "as",       "until",      "while",   "of",     "at",     "by",      "for",       "with",       "about",
      "against", "between",  "into",       "through", "during", "before", "after",   "above",     "below",      "to",
      "from",    "up",       "down",       "in",      "out",    "on",     "off",     "over",      "under",      "again",
      "further", "then",     "once",       "here",    "there",  "when",   "where",   "why",       "how",        "all",
      "any",     "both",     "each",       "few",     "more",   "most",   "other",   "some",      "such",       "no",
      "nor",     "not",      "only",       "own",     "same",   "so",     "than",    "too",       "very",       "s",
      "t",       "can",      "will",       "just",    "don",    "should", "now",     ""};
  return words;
}

bool is_eda_stop_word(std::string_view word) {
  static const std::unordered_set<std::string_view> set(eda_stop_words().begin(), eda_stop_words().end());
  return set.count(word) != 0;
}

std::vector<std::string> eda_words(std::string_view cleaned) {
  std::vector<std::string> words;
  for (std::string& word : split_on_space(cleaned))
    if (!word.empty()) words.push_back(std::move(word));
  return words;
}

std::vector<std::string> eda_synonym_replacement(const std::vector<std::string>& words, int n, const WordNet& wordnet,
                                                 Generator& generator) {
  std::vector<std::string> new_words = words;
  std::vector<std::string> candidates;  // distinct non-stop words, first-occurrence order
  for (const std::string& word : words)
    if (!is_eda_stop_word(word) && std::find(candidates.begin(), candidates.end(), word) == candidates.end())
      candidates.push_back(word);
  shuffle(candidates, generator);
  int replaced = 0;
  for (const std::string& candidate : candidates) {
    std::vector<std::string> synonyms = wordnet.synonyms(candidate);
    if (!synonyms.empty()) {
      const std::string& synonym = synonyms[random_index(generator, synonyms.size())];
      for (std::string& word : new_words)
        if (word == candidate) word = synonym;
      ++replaced;
    }
    if (replaced >= n) break;
  }
  return split_on_space(join(new_words));  // multi-word synonyms become words
}

std::vector<std::string> eda_random_insertion(const std::vector<std::string>& words, int n, const WordNet& wordnet,
                                              Generator& generator) {
  std::vector<std::string> new_words = words;
  for (int i = 0; i < n; ++i) {
    // eda.py's add_word: draw a word and look it up until one has synonyms; the
    // tenth draw ends the attempt whatever it found.
    std::vector<std::string> synonyms;
    bool give_up = false;
    for (int counter = 1; synonyms.empty(); ++counter) {
      synonyms = wordnet.synonyms(new_words[random_index(generator, new_words.size())]);
      if (counter >= 10) {
        give_up = true;
        break;
      }
    }
    if (give_up) continue;
    std::string synonym = synonyms[random_index(generator, synonyms.size())];
    const size_t position = random_index(generator, new_words.size());  // never after the last word
    new_words.insert(new_words.begin() + static_cast<std::ptrdiff_t>(position), std::move(synonym));
  }
  return new_words;
}

std::vector<std::string> eda_random_swap(const std::vector<std::string>& words, int n, Generator& generator) {
  std::vector<std::string> new_words = words;
  for (int i = 0; i < n; ++i) {
    const size_t first = random_index(generator, new_words.size());
    // eda.py's swap_word: redraw while equal; the fourth redraw ends it unswapped,
    // whatever it drew.
    size_t second = first;
    bool found = true;
    for (int counter = 1; second == first; ++counter) {
      second = random_index(generator, new_words.size());
      if (counter > 3) {
        found = false;
        break;
      }
    }
    if (found) std::swap(new_words[first], new_words[second]);
  }
  return new_words;
}

std::vector<std::string> eda_random_deletion(const std::vector<std::string>& words, double p, Generator& generator) {
  if (words.size() == 1) return words;
  std::vector<std::string> kept;
  for (const std::string& word : words)
    if (generator.uniform() > p) kept.push_back(word);
  if (kept.empty() && !words.empty()) return {words[random_index(generator, words.size())]};
  return kept;
}

std::string eda_augment_with(std::string_view caption, EdaOperation operation, const WordNet& wordnet,
                             Generator& generator, const EdaOptions& options) {
  const std::vector<std::string> words = eda_words(eda_clean(caption));
  if (words.empty()) return "";
  const auto count = [&](double alpha) {
    return std::max(1, static_cast<int>(alpha * static_cast<double>(words.size())));
  };
  std::vector<std::string> augmented;
  switch (operation) {
    case EdaOperation::kSynonymReplacement:
      augmented = eda_synonym_replacement(words, count(options.alpha_sr), wordnet, generator);
      break;
    case EdaOperation::kRandomInsertion:
      augmented = eda_random_insertion(words, count(options.alpha_ri), wordnet, generator);
      break;
    case EdaOperation::kRandomSwap: augmented = eda_random_swap(words, count(options.alpha_rs), generator); break;
    case EdaOperation::kRandomDeletion: augmented = eda_random_deletion(words, options.p_rd, generator); break;
  }
  return eda_clean(join(augmented));
}

std::string eda_augment(std::string_view caption, const WordNet& wordnet, Generator& generator,
                        const EdaOptions& options) {
  const auto operation = static_cast<EdaOperation>(generator.below(4));
  return eda_augment_with(caption, operation, wordnet, generator, options);
}

}  // namespace clipgrad::cleanclip
