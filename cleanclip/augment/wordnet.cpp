#include "cleanclip/augment/wordnet.h"

#include <charconv>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace clipgrad::cleanclip {

struct WordNet::Tables {
  struct OffsetSpan {
    uint32_t begin = 0;
    uint32_t count = 0;
  };
  using LemmaEntry = std::array<OffsetSpan, 4>;  // indexed like kPartsOfSpeech

  std::array<std::string, 4> index_text;                  // index.<pos>: the lemma keys point into it
  std::array<std::string, 4> data_text;                   // data.<pos>, addressed by synset offset
  std::array<std::string, 4> exception_text;              // <pos>.exc
  std::unordered_map<std::string_view, uint32_t> lemmas;  // lemma -> entries index
  std::vector<LemmaEntry> entries;
  std::vector<uint32_t> offsets;  // every synset offset; entries hold spans of it
  std::array<std::unordered_map<std::string_view, std::vector<std::string_view>>, 4> exceptions;
};

namespace {

constexpr std::array<const char*, 4> kFileSuffix = {"noun", "verb", "adj", "adv"};

// nltk's MORPHOLOGICAL_SUBSTITUTIONS, in its order (adverbs have none).
struct Substitution {
  std::string_view suffix, replacement;
};
const std::array<std::vector<Substitution>, 4> kSubstitutions = {{
    {{"s", ""},
     {"ses", "s"},
     {"ves", "f"},
     {"xes", "x"},
     {"zes", "z"},
     {"ches", "ch"},
     {"shes", "sh"},
     {"men", "man"},
     {"ies", "y"}},
    {{"s", ""}, {"ies", "y"}, {"es", "e"}, {"es", ""}, {"ed", "e"}, {"ed", ""}, {"ing", "e"}, {"ing", ""}},
    {{"er", ""}, {"est", ""}, {"er", "e"}, {"est", "e"}},
    {},
}};

std::string read_whole_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    throw std::runtime_error("WordNet: cannot read '" + path +
                             "'; install the WordNet database (apt-get install wordnet-base) or pass its directory");
  std::ostringstream contents;
  contents << file.rdbuf();
  return std::move(contents).str();
}

// Splits on runs of spaces, tabs, CR and LF, as Python's str.split().
std::vector<std::string_view> split_whitespace(std::string_view line) {
  std::vector<std::string_view> tokens;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n')) ++i;
    size_t start = i;
    while (i < line.size() && !(line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n')) ++i;
    if (i > start) tokens.push_back(line.substr(start, i - start));
  }
  return tokens;
}

uint64_t parse_number(std::string_view token, int base, const std::string& where) {
  uint64_t value = 0;
  auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), value, base);
  if (error != std::errc() || end != token.data() + token.size())
    throw std::runtime_error("WordNet: " + where + ": expected a number, got '" + std::string(token) + "'");
  return value;
}

std::string ascii_lower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return lower;
}

// Calls visit(line, line_number) for each line of `text`.
template <class Visit>
void for_each_line(std::string_view text, Visit visit) {
  size_t start = 0, number = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    visit(text.substr(start, end - start), ++number);
    start = end + 1;
  }
}

}  // namespace

int WordNet::pos_index(char pos) {
  for (int i = 0; i < 4; ++i)
    if (kPartsOfSpeech[i] == pos) return i;
  throw std::invalid_argument(std::string("WordNet: unknown part of speech '") + pos + "' (expected n, v, a or r)");
}

WordNet WordNet::load(const std::string& dir) {
  auto tables = std::make_shared<Tables>();
  for (int p = 0; p < 4; ++p) {
    const std::string suffix = kFileSuffix[p];
    tables->index_text[p] = read_whole_file(dir + "/index." + suffix);
    tables->data_text[p] = read_whole_file(dir + "/data." + suffix);
    tables->exception_text[p] = read_whole_file(dir + "/" + suffix + ".exc");
  }
  for (int p = 0; p < 4; ++p) {
    const std::string file = dir + "/index." + kFileSuffix[p];
    for_each_line(tables->index_text[p], [&](std::string_view line, size_t number) {
      if (line.empty() || line[0] == ' ') return;  // the licence header
      const std::string where = file + " line " + std::to_string(number);
      auto tokens = split_whitespace(line);
      if (tokens.size() < 6) throw std::runtime_error("WordNet: " + where + ": too few fields");
      const std::string_view lemma = tokens[0];
      if (tokens[1].size() != 1) throw std::runtime_error("WordNet: " + where + ": bad part of speech");
      const int pos = pos_index(tokens[1][0]);
      const uint64_t synset_count = parse_number(tokens[2], 10, where);
      const uint64_t pointer_count = parse_number(tokens[3], 10, where);
      size_t next = 4 + pointer_count;
      if (tokens.size() < next + 2 + synset_count) throw std::runtime_error("WordNet: " + where + ": too few fields");
      const uint64_t sense_count = parse_number(tokens[next], 10, where);
      if (synset_count == 0 || sense_count != synset_count)
        throw std::runtime_error("WordNet: " + where + ": synset and sense counts disagree");
      next += 2;  // sense_cnt, tagsense_cnt
      auto [it, inserted] = tables->lemmas.try_emplace(lemma, static_cast<uint32_t>(tables->entries.size()));
      if (inserted) tables->entries.emplace_back();
      Tables::OffsetSpan& span = tables->entries[it->second][pos];
      span.begin = static_cast<uint32_t>(tables->offsets.size());
      span.count = static_cast<uint32_t>(synset_count);
      for (uint64_t i = 0; i < synset_count; ++i)
        tables->offsets.push_back(static_cast<uint32_t>(parse_number(tokens[next + i], 10, where)));
    });
    for_each_line(tables->exception_text[p], [&](std::string_view line, size_t) {
      auto tokens = split_whitespace(line);
      if (tokens.empty()) return;
      // nltk keeps the last line for a repeated form.
      tables->exceptions[p].insert_or_assign(tokens[0],
                                             std::vector<std::string_view>(tokens.begin() + 1, tokens.end()));
    });
  }
  WordNet wordnet;
  wordnet.tables_ = std::move(tables);
  wordnet.directory_ = dir;
  return wordnet;
}

size_t WordNet::lemma_count() const { return tables().lemmas.size(); }

std::vector<std::string> WordNet::morphy(std::string_view form, char pos) const {
  const int p = pos_index(pos);
  const Tables& t = tables();
  std::vector<std::string> candidates = {std::string(form)};
  auto exception = t.exceptions[p].find(form);
  if (exception != t.exceptions[p].end()) {
    for (std::string_view base : exception->second) candidates.emplace_back(base);
  } else {
    for (const auto& [suffix, replacement] : kSubstitutions[p])
      if (form.size() >= suffix.size() && form.substr(form.size() - suffix.size()) == suffix)
        candidates.push_back(std::string(form.substr(0, form.size() - suffix.size())) + std::string(replacement));
  }
  std::vector<std::string> lemmas;
  for (const std::string& candidate : candidates) {
    auto it = t.lemmas.find(candidate);
    if (it == t.lemmas.end() || t.entries[it->second][p].count == 0) continue;
    bool seen = false;
    for (const std::string& lemma : lemmas) seen = seen || lemma == candidate;
    if (!seen) lemmas.push_back(candidate);
  }
  return lemmas;
}

std::vector<WordNet::Synset> WordNet::synsets(std::string_view word) const {
  const std::string lower = ascii_lower(word);
  const Tables& t = tables();
  std::vector<Synset> result;
  for (int p = 0; p < 4; ++p)
    for (const std::string& lemma : morphy(lower, kPartsOfSpeech[p])) {
      const Tables::OffsetSpan& span = t.entries[t.lemmas.at(lemma)][p];
      for (uint32_t i = 0; i < span.count; ++i) result.push_back({kPartsOfSpeech[p], t.offsets[span.begin + i]});
    }
  return result;
}

std::vector<std::string> WordNet::lemma_names(const Synset& synset) const {
  const int p = pos_index(synset.pos);
  const std::string& data = tables().data_text[p];
  const std::string where = directory_ + "/data." + kFileSuffix[p] + " offset " + std::to_string(synset.offset);
  if (synset.offset >= data.size()) throw std::runtime_error("WordNet: " + where + " is past the end of the file");
  size_t end = data.find('\n', synset.offset);
  auto tokens = split_whitespace(std::string_view(data).substr(synset.offset, end - synset.offset));
  if (tokens.size() < 4 || parse_number(tokens[0], 10, where) != synset.offset)
    throw std::runtime_error("WordNet: " + where + " does not start a synset line");
  const uint64_t word_count = parse_number(tokens[3], 16, where);
  if (tokens.size() < 4 + 2 * word_count) throw std::runtime_error("WordNet: " + where + ": too few fields");
  std::vector<std::string> names;
  for (uint64_t i = 0; i < word_count; ++i) {
    std::string_view name = tokens[4 + 2 * i];
    // nltk's re.match(r"(.*?)(\(.*\))?$"): a trailing "(...)" marker goes, from its first '('.
    if (!name.empty() && name.back() == ')') {
      size_t open = name.find('(');
      if (open != std::string_view::npos) name = name.substr(0, open);
    }
    names.emplace_back(name);
  }
  return names;
}

std::vector<std::string> WordNet::synonyms(std::string_view word) const {
  std::set<std::string> unique;
  for (const Synset& synset : synsets(word))
    for (const std::string& name : lemma_names(synset)) {
      std::string cleaned;
      for (char c : name) {
        if (c == '_' || c == '-') c = ' ';
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c == ' ' || (c >= 'a' && c <= 'z')) cleaned += c;
      }
      unique.insert(std::move(cleaned));
    }
  unique.erase(std::string(word));
  return {unique.begin(), unique.end()};
}

}  // namespace clipgrad::cleanclip
