// WordNet 3.0, read natively from the Princeton database files that Debian's
// `wordnet-base` installs under /usr/share/wordnet (index.{noun,verb,adj,adv},
// data.*, *.exc), for EDA's synonyms.
//
// Lookups follow nltk's WordNetCorpusReader, which EDA (jasonwei20/eda_nlp and
// CleanCLIP's utils/eda.py) calls as `wordnet.synsets(word)`:
// - the word is lowercased (ASCII; EDA's words are a-z only);
// - for each part of speech in nltk's order (noun, verb, adjective, adverb), the
//   candidate lemmas are nltk's `_morphy(word, pos)`: the word itself, then either
//   its entries in the exception list (<pos>.exc, e.g. geese -> goose, ran -> run)
//   or, when it has none, every detachment rule that applies (dogs -> dog,
//   running -> runn / run, bigger -> bigg / big ...), keeping the candidates that
//   the index lists for that part of speech, without repeats;
// - each candidate's synsets in index order ("a" includes adjective satellites).
// So a caption's inflected words get the synonyms of their base form, as with nltk.
//
// Loading reads the index and exception files into hash maps and keeps the data
// files in memory; a synset's lemmas are parsed from its data line on demand.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace clipgrad::cleanclip {

class WordNet {
 public:
  // Parts of speech in nltk's POS_LIST order; the data files' names.
  static constexpr std::array<char, 4> kPartsOfSpeech = {'n', 'v', 'a', 'r'};

  struct Synset {
    char pos;         // 'n', 'v', 'a' (adjectives and satellites) or 'r'
    uint32_t offset;  // byte offset of its line in data.<pos>
    bool operator==(const Synset&) const = default;
  };

  // Throws std::runtime_error naming the missing or malformed file (and line)
  // and saying `apt-get install wordnet-base` when the database is absent.
  static WordNet load(const std::string& dir = "/usr/share/wordnet");

  // nltk's wordnet.synsets(word): every part of speech, morphological base forms included.
  std::vector<Synset> synsets(std::string_view word) const;
  // nltk's _morphy(form, pos): the lemmas of the index that `form` may be an inflection of.
  std::vector<std::string> morphy(std::string_view form, char pos) const;
  // The synset's lemma names as in the data file ("Canis_familiaris", "well-chosen"),
  // the adjective marker "(a)", "(p)" or "(ip)" removed as nltk does.
  std::vector<std::string> lemma_names(const Synset& synset) const;

  // EDA's get_synonyms(word): the lemma names of all synsets(word), with '_' and '-'
  // turned into spaces, lowercased and stripped of everything but a-z and space,
  // without repeats and without the word itself; sorted, so the result does not
  // depend on hashing (EDA's own order comes from a Python set).
  std::vector<std::string> synonyms(std::string_view word) const;

  size_t lemma_count() const;
  const std::string& directory() const { return directory_; }

 private:
  WordNet() = default;             // only load() makes one: a WordNet always has its tables
  static int pos_index(char pos);  // into kPartsOfSpeech; throws on anything else
  struct Tables;                   // the file contents and the maps that point into them
  const Tables& tables() const { return *tables_; }
  std::shared_ptr<const Tables> tables_;  // shared: copies are cheap and views stay valid
  std::string directory_;
};

}  // namespace clipgrad::cleanclip
