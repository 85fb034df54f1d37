#include "clip/data/scene_captions.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace clipgrad::clip {

namespace {

// Fashion-MNIST's classes, their zero-shot names and WordNet 3.0 noun synsets (byte offsets into data.noun).
struct ClassSynset {
  const char* name;
  const char* offset;
  bool pair;
  const char* extra_noun;  // a noun WordNet's synset lacks but the class name implies, or nullptr
};
constexpr ClassSynset kClassSynsets[] = {
    {"t-shirt", "03595614", false, nullptr},  {"trousers", "04489008", true, nullptr},
    {"pullover", "04021028", false, nullptr}, {"dress", "03236735", false, nullptr},
    {"coat", "03057021", false, nullptr},     {"sandal", "04133789", false, nullptr},
    {"shirt", "04197391", false, nullptr},    {"sneaker", "03472535", false, nullptr},
    {"bag", "02774152", false, nullptr},      {"ankle boot", "02872752", false, "ankle boot"},
};

std::string lemma_text(std::string lemma) {
  std::replace(lemma.begin(), lemma.end(), '_', ' ');
  for (char& c : lemma) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lemma;
}

// One line of data.noun: "offset lex type w_cnt (word lex_id)* p_cnt (sym offset pos st)* | gloss".
struct SynsetLine {
  std::vector<std::string> lemmas;
  std::string first_hypernym;  // offset, or empty
  std::string gloss;
};

SynsetLine read_synset(std::ifstream& data, const std::string& offset, const std::string& path) {
  data.clear();
  data.seekg(std::stoll(offset));
  std::string line;
  if (!std::getline(data, line) || line.compare(0, offset.size(), offset) != 0)
    throw std::runtime_error("'" + path + "' has no synset at offset " + offset +
                             " (is it WordNet 3.0? `apt-get install wordnet-base`)");
  std::istringstream fields(line);
  std::string skip, hex_count;
  fields >> skip >> skip >> skip >> hex_count;
  SynsetLine synset;
  const int words = std::stoi(hex_count, nullptr, 16);
  for (int w = 0; w < words; ++w) {
    std::string lemma;
    fields >> lemma >> skip;
    synset.lemmas.push_back(lemma_text(lemma));
  }
  int pointers = 0;
  fields >> pointers;
  for (int p = 0; p < pointers; ++p) {
    std::string symbol, target;
    fields >> symbol >> target >> skip >> skip;
    if (symbol == "@" && synset.first_hypernym.empty()) synset.first_hypernym = target;
  }
  const size_t bar = line.find("| ");
  if (bar == std::string::npos) throw std::runtime_error("'" + path + "': synset " + offset + " has no gloss");
  synset.gloss = line.substr(bar + 2);
  synset.gloss = synset.gloss.substr(0, synset.gloss.find("; \""));                   // examples follow "; \""
  if (synset.gloss.starts_with("(") && synset.gloss.find(") ") != std::string::npos)  // "(usually in the plural) "
    synset.gloss = synset.gloss.substr(synset.gloss.find(") ") + 2);
  while (!synset.gloss.empty() && (synset.gloss.back() == ' ' || synset.gloss.back() == ';')) synset.gloss.pop_back();
  return synset;
}

const char* kRegionPhrases[9] = {"in the top left corner",
                                 "at the top",
                                 "in the top right corner",
                                 "on the left",
                                 "in the centre",
                                 "on the right",
                                 "in the bottom left corner",
                                 "at the bottom",
                                 "in the bottom right corner"};
const char* kCountWords[] = {"no", "one", "two", "three", "four"};

template <typename T>
const T& pick(const std::vector<T>& choices, Generator& generator) {
  return choices[generator.below(choices.size())];
}

std::string article(const std::string& word) {
  return std::string(std::strchr("aeiou", word[0]) ? "an " : "a ") + word;
}

std::string plural(const std::string& noun) {
  const auto ends = [&](const char* tail) {
    const std::string suffix(tail);
    return noun.size() >= suffix.size() && noun.compare(noun.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return noun + (ends("s") || ends("sh") || ends("ch") || ends("x") ? "es" : "s");
}

// The noun for one mention: the class name half the time (nouns.front(), singular), else any of the nouns.
std::string noun_for(const SceneClassWords& words, Generator& generator) {
  return generator.uniform() < 0.5 ? words.nouns.front() : pick(words.nouns, generator);
}

// "a small red sandal on the left", or the gloss or hypernym in its place now and then.
std::string item_phrase(const SceneItemWords& item, const SceneClassWords& words, bool may_gloss, double mention,
                        Generator& generator) {
  // Colour, size and place are each said with probability `mention` (half the time by default):
  // when every caption named them, colours alone told a batch's captions apart and the model never
  // learnt the items' shapes (zero-shot top-1 0.14 after 4 epochs, docs/study.md).
  std::string adjectives;
  if (item.size != 0 && generator.uniform() < mention)
    adjectives += item.size < 0 ? "small " : (generator.uniform() < 0.5 ? "large " : "big ");
  if (generator.uniform() < mention) adjectives += std::string(scene_colours()[item.colour].name) + " ";
  const double way = generator.uniform();
  std::string phrase;
  if (may_gloss && way < 0.1) {
    phrase = words.gloss;  // named by its definition alone
  } else if (way < 0.2) {
    phrase = article(adjectives + words.hypernym);
  } else {
    const std::string noun = noun_for(words, generator);
    phrase = words.pair ? "a " + adjectives + "pair of " + plural(noun) : article(adjectives + noun);
    if (may_gloss && way < 0.3) phrase += " (" + words.gloss + ")";
  }
  return generator.uniform() < mention ? phrase + " " + kRegionPhrases[item.region] : phrase;
}

// Items of one class with two or more copies are counted ("two sandals, red and blue"); the rest are described.
std::vector<std::string> item_phrases(const SceneWords& scene, const std::vector<SceneClassWords>& words,
                                      double mention, Generator& generator) {
  std::map<int, std::vector<const SceneItemWords*>> by_class;
  for (const SceneItemWords& item : scene.items) by_class[item.label].push_back(&item);
  const bool may_gloss = scene.items.size() <= 2;
  std::vector<std::string> phrases;
  for (const SceneItemWords& item : scene.items) {
    const auto& same = by_class[item.label];
    if (same.size() == 1) {
      phrases.push_back(item_phrase(item, words[item.label], may_gloss, mention, generator));
    } else if (same.front() == &item) {
      const SceneClassWords& word = words[item.label];
      std::string noun = noun_for(word, generator);
      std::string phrase = std::string(kCountWords[same.size()]) + " " + (word.pair ? "pairs of " : "") + plural(noun);
      for (size_t i = 0; i < same.size(); ++i)
        phrase += std::string(i == 0 ? ", " : (i + 1 == same.size() ? " and " : ", ")) +
                  scene_colours()[same[i]->colour].name;
      phrases.push_back(phrase);
    }
  }
  return phrases;
}

// Said for 0.8 x mention of the scenes (40% by default), in one of three wordings.
std::string background_phrase(const SceneWords& scene, double mention, Generator& generator) {
  const std::string texture = scene_textures()[scene.texture];
  const std::string first = scene_colours()[scene.background].name;
  const std::string second = scene_colours()[scene.background_second].name;
  const double silent = 1 - 0.8 * mention, way = generator.uniform();
  if (way < silent) return "";
  if (texture == "plain") return "on a plain " + first + " background";
  const double wording = (way - silent) / (1 - silent);
  if (wording < 0.375) return "on " + article(first) + " and " + second + " " + texture + " background";
  if (wording < 0.75) return "on a " + texture + " " + first + " background";
  return "against a " + texture + " backdrop";
}

}  // namespace

std::vector<SceneClassWords> scene_class_words(const std::string& wordnet_dir) {
  const std::string path = wordnet_dir + "/data.noun";
  std::ifstream data(path, std::ios::binary);
  if (!data) throw std::runtime_error("WordNet not found: cannot open '" + path + "' (`apt-get install wordnet-base`)");
  std::vector<SceneClassWords> classes;
  for (const ClassSynset& entry : kClassSynsets) {
    const SynsetLine synset = read_synset(data, entry.offset, path);
    SceneClassWords words;
    words.name = entry.name, words.nouns = {entry.name}, words.gloss = synset.gloss, words.pair = entry.pair;
    if (entry.extra_noun && words.name != entry.extra_noun) words.nouns.push_back(entry.extra_noun);
    for (const std::string& lemma : synset.lemmas)
      if (std::find(words.nouns.begin(), words.nouns.end(), lemma) == words.nouns.end() &&
          !(entry.pair && lemma + "s" == words.name))
        words.nouns.push_back(lemma);
    if (entry.pair) words.nouns.front() = "trouser";  // pluralised when written: "a pair of trousers"
    if (synset.first_hypernym.empty())
      throw std::runtime_error("'" + path + "': synset " + entry.offset + " has no hypernym");
    words.hypernym = read_synset(data, synset.first_hypernym, path).lemmas.front();
    classes.push_back(std::move(words));
  }
  return classes;
}

const std::vector<NamedColour>& scene_colours() {
  static const std::vector<NamedColour> colours = {
      {"red", {200, 40, 40}},     {"orange", {235, 135, 30}}, {"yellow", {230, 210, 50}}, {"green", {55, 155, 65}},
      {"blue", {45, 85, 200}},    {"purple", {125, 60, 170}}, {"pink", {235, 135, 175}},  {"brown", {125, 80, 40}},
      {"white", {238, 238, 238}}, {"grey", {128, 128, 128}},  {"black", {30, 30, 30}},
  };
  return colours;
}

const std::vector<const char*>& scene_textures() {
  static const std::vector<const char*> textures = {"plain", "striped", "checkered", "dotted", "mottled", "wavy"};
  return textures;
}

std::string compose_scene_caption(const SceneWords& scene, const std::vector<SceneClassWords>& words,
                                  Generator& generator, double mention) {
  if (!(mention >= 0 && mention <= 1))
    throw std::invalid_argument("scenes: mention " + std::to_string(mention) + " must lie in [0, 1]");
  const std::vector<std::string> items = item_phrases(scene, words, mention, generator);
  std::string listed;
  for (size_t i = 0; i < items.size(); ++i)
    listed += (i == 0 ? "" : (i + 1 == items.size() ? " and " : ", ")) + items[i];
  static const std::vector<std::string> openings = {
      "", "a photo of ", "an image of ", "a picture showing ", "a product shot of ", "there is "};
  std::string caption = pick(openings, generator) + listed;
  const std::string background = background_phrase(scene, mention, generator);
  if (!background.empty()) caption += (items.size() > 1 ? ", " : " ") + background;
  return caption + ".";
}

}  // namespace clipgrad::clip
