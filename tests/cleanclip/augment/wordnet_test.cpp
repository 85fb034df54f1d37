// WordNet lookups against nltk's WordNetCorpusReader on the same Debian files
// (tests/fixtures/eda/wordnet_cases.json, made by tools/wordnet_reference.py):
// synsets in nltk's order, morphological base forms, and EDA's synonyms.
#include "cleanclip/augment/wordnet.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

namespace clipgrad::cleanclip {
namespace {

const WordNet& wordnet() {
  static const WordNet loaded = WordNet::load();
  return loaded;
}

const nlohmann::json& reference() {
  static const nlohmann::json cases = [] {
    std::ifstream file(std::string(CLIPGRAD_FIXTURES) + "/eda/wordnet_cases.json");
    return nlohmann::json::parse(file);
  }();
  return cases;
}

// Its speed is bench/text_bench's BM_WordNetLoad.
TEST(WordNet, LoadsEveryLemmaOfTheIndex) {
  EXPECT_EQ(WordNet::load().lemma_count(), reference()["lemma_count"].get<size_t>());
}

TEST(WordNet, SynsetsMatchNltkInOrder) {
  int words = 0;
  for (const auto& c : reference()["words"]) {
    const std::string word = c["word"];
    std::vector<WordNet::Synset> expected;
    for (const auto& s : c["synsets"]) expected.push_back({s[0].get<std::string>()[0], s[1].get<uint32_t>()});
    EXPECT_EQ(wordnet().synsets(word), expected) << word;
    ++words;
  }
  EXPECT_GT(words, 250);
}

TEST(WordNet, MorphyMatchesNltk) {
  for (const auto& c : reference()["words"])
    for (char pos : WordNet::kPartsOfSpeech)
      EXPECT_EQ(wordnet().morphy(c["word"].get<std::string>(), pos),
                c["morphy"][std::string(1, pos)].get<std::vector<std::string>>())
          << c["word"] << " " << pos;
}

TEST(WordNet, SynonymsMatchEdaGetSynonyms) {
  int with_synonyms = 0;
  for (const auto& c : reference()["words"]) {
    const auto expected = c["synonyms"].get<std::vector<std::string>>();
    EXPECT_EQ(wordnet().synonyms(c["word"].get<std::string>()), expected) << c["word"];
    with_synonyms += !expected.empty();
  }
  EXPECT_GT(with_synonyms, 200);
}

TEST(WordNet, HandCheckedEntries) {
  // From the data files themselves: dog.n.01 is "dog domestic_dog Canis_familiaris".
  auto dog = wordnet().synsets("dog");
  ASSERT_FALSE(dog.empty());
  EXPECT_EQ(dog[0], (WordNet::Synset{'n', 2084071}));
  EXPECT_EQ(wordnet().lemma_names(dog[0]), (std::vector<std::string>{"dog", "domestic_dog", "Canis_familiaris"}));
  // Inflections: exception list (geese -> goose) and detachment rules (running -> run).
  EXPECT_EQ(wordnet().morphy("geese", 'n'), std::vector<std::string>{"goose"});
  auto run = wordnet().morphy("running", 'v');
  EXPECT_NE(std::find(run.begin(), run.end(), "run"), run.end());
  // The adjective marker "(ip)" of "galore" is not part of the lemma.
  auto galore = wordnet().synsets("galore");
  ASSERT_FALSE(galore.empty());
  EXPECT_EQ(wordnet().lemma_names(galore[0]), std::vector<std::string>{"galore"});
  // Capitals are looked up lowercased; synonyms are lowercased, without '_' or '-'.
  EXPECT_EQ(wordnet().synsets("Dog"), wordnet().synsets("dog"));
  auto dog_synonyms = wordnet().synonyms("dog");
  EXPECT_NE(std::find(dog_synonyms.begin(), dog_synonyms.end(), "canis familiaris"), dog_synonyms.end());
  EXPECT_EQ(std::find(dog_synonyms.begin(), dog_synonyms.end(), "dog"), dog_synonyms.end());
  EXPECT_TRUE(wordnet().synonyms("xyzzy").empty());
  EXPECT_TRUE(wordnet().synonyms("").empty());
  EXPECT_TRUE(wordnet().synonyms("ankle boot").empty());  // spaces are not underscores, as in nltk
  EXPECT_THROW(wordnet().morphy("dog", 'x'), std::invalid_argument);
}

TEST(WordNet, MissingDatabaseNamesThePathAndThePackage) {
  try {
    WordNet::load("/nonexistent/wordnet");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("/nonexistent/wordnet/index.noun"), std::string::npos) << message;
    EXPECT_NE(message.find("apt-get install wordnet-base"), std::string::npos) << message;
  }
}

TEST(WordNet, CopiesShareTheTables) {
  WordNet copy = wordnet();
  EXPECT_EQ(copy.synonyms("car"), wordnet().synonyms("car"));
  EXPECT_EQ(copy.directory(), "/usr/share/wordnet");
}

}  // namespace
}  // namespace clipgrad::cleanclip
