// EDA: the cleaning against eda.py's get_only_chars (tests/fixtures/eda/
// wordnet_cases.json), the stop words, each of the four operations by its
// defining properties on many seeds, the uniform choice between them, and seeding.
#include "cleanclip/augment/eda.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace clipgrad::cleanclip {
namespace {

const WordNet& wordnet() {
  static const WordNet loaded = WordNet::load();
  return loaded;
}

using Words = std::vector<std::string>;

Words words_of(std::string_view caption) { return eda_words(eda_clean(caption)); }

bool has_synonym(const std::string& word, const std::string& candidate) {
  auto synonyms = wordnet().synonyms(word);
  return std::find(synonyms.begin(), synonyms.end(), candidate) != synonyms.end();
}

TEST(EdaClean, MatchesGetOnlyChars) {
  std::ifstream file(std::string(CLIPGRAD_FIXTURES) + "/eda/wordnet_cases.json");
  const auto reference = nlohmann::json::parse(file);
  ASSERT_GE(reference["clean"].size(), 6u);
  for (const auto& c : reference["clean"])
    EXPECT_EQ(eda_clean(c["text"].get<std::string>()), c["clean"].get<std::string>()) << c["text"];
}

TEST(EdaClean, RulesByExample) {
  EXPECT_EQ(eda_clean("Don't stop"), "dont stop");  // apostrophes vanish
  EXPECT_EQ(eda_clean("man\u2019s"), "mans");       // so does the right single quote
  EXPECT_EQ(eda_clean("T-shirt"), "t shirt");       // hyphens separate
  EXPECT_EQ(eda_clean("  a\t\tb\nc  "), "a b c ");  // one leading space goes, a trailing one stays
  EXPECT_EQ(eda_clean("x2y"), "x y");
  EXPECT_EQ(eda_clean("\xff\xfe oops"), "oops");  // malformed UTF-8 is not a letter
  EXPECT_EQ(eda_clean(""), "");
  EXPECT_EQ(eda_words("a b  c "), (Words{"a", "b", "c"}));
}

TEST(EdaStopWords, TheReferenceList) {
  EXPECT_EQ(eda_stop_words().size(), 128u);
  for (const char* word : {"i", "the", "a", "of", "don", "now", "", "ourselves", "s", "t"})
    EXPECT_TRUE(is_eda_stop_word(word)) << word;
  for (const char* word : {"photo", "dog", "shirt", "bag", "nobody", "we're"})
    EXPECT_FALSE(is_eda_stop_word(word)) << word;
}

// Explains `out` as `words` with each distinct word w written as mapping[w] (itself
// or one of its synonyms, split on spaces), by backtracking; the same word always
// maps to the same text.
bool explain(const Words& words, size_t i, const Words& out, size_t j, std::map<std::string, Words>& mapping) {
  if (i == words.size()) return j == out.size();
  const std::string& word = words[i];
  auto matches = [&](const Words& tokens) {
    return j + tokens.size() <= out.size() && std::equal(tokens.begin(), tokens.end(), out.begin() + j);
  };
  if (auto it = mapping.find(word); it != mapping.end())
    return matches(it->second) && explain(words, i + 1, out, j + it->second.size(), mapping);
  std::vector<Words> options = {{word}};
  if (!is_eda_stop_word(word))
    for (const std::string& synonym : wordnet().synonyms(word)) {
      Words tokens;
      size_t start = 0;
      for (size_t space; (space = synonym.find(' ', start)) != std::string::npos; start = space + 1)
        tokens.push_back(synonym.substr(start, space - start));
      tokens.push_back(synonym.substr(start));
      options.push_back(tokens);
    }
  for (const Words& tokens : options) {
    if (!matches(tokens)) continue;
    mapping[word] = tokens;
    if (explain(words, i + 1, out, j + tokens.size(), mapping)) return true;
    mapping.erase(word);
  }
  return false;
}

TEST(EdaSynonymReplacement, ReplacesMinNAndAvailableDistinctWordsEverywhereBySynonyms) {
  // Six distinct content words with synonyms (dog twice), stop words between them.
  const Words words = words_of("a photo of a dog and a dog with a bag on the grass near a shirt");
  std::set<int> replaced_counts;
  for (uint64_t seed = 0; seed < 100; ++seed)
    for (int n : {1, 2, 3}) {
      Generator generator(seed);
      const Words out = eda_synonym_replacement(words, n, wordnet(), generator);
      std::map<std::string, Words> mapping;
      ASSERT_TRUE(explain(words, 0, out, 0, mapping)) << "seed " << seed << " n " << n;
      int replaced = 0;
      for (const auto& [word, tokens] : mapping) replaced += tokens != Words{word};
      EXPECT_EQ(replaced, n) << "seed " << seed;  // min(n, 6 words that have synonyms)
      replaced_counts.insert(replaced);
    }
  EXPECT_EQ(replaced_counts, (std::set<int>{1, 2, 3}));
}

TEST(EdaSynonymReplacement, LeavesStopWordsAndUnknownWords) {
  Generator generator(1);
  EXPECT_EQ(eda_synonym_replacement({"it", "is", "the", "xyzzy"}, 3, wordnet(), generator),
            (Words{"it", "is", "the", "xyzzy"}));
  // "xyzzy" has no synonyms, so "car" is the one replaced even with n = 1.
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Generator g(seed);
    const Words out = eda_synonym_replacement({"xyzzy", "car"}, 1, wordnet(), g);
    EXPECT_EQ(out[0], "xyzzy");
    std::string rest;
    for (size_t i = 1; i < out.size(); ++i) rest += (i > 1 ? " " : "") + out[i];
    EXPECT_TRUE(has_synonym("car", rest)) << rest;
  }
}

TEST(EdaRandomInsertion, InsertsNSynonymsOfTheSentencesWords) {
  const Words words = words_of("photo black leather bag");  // every word has synonyms
  for (uint64_t seed = 0; seed < 100; ++seed)
    for (int n : {1, 2, 3}) {
      Generator generator(seed);
      const Words out = eda_random_insertion(words, n, wordnet(), generator);
      ASSERT_EQ(out.size(), words.size() + n) << seed;
      // The input is a subsequence of the output ...
      size_t next = 0;
      for (const auto& w : out)
        if (next < words.size() && w == words[next]) ++next;
      EXPECT_EQ(next, words.size()) << seed;
      // ... every entry is a word of the input or a synonym of another entry ...
      for (const auto& w : out) {
        bool explained = std::find(words.begin(), words.end(), w) != words.end();
        for (const auto& other : out) explained = explained || (other != w && has_synonym(other, w));
        EXPECT_TRUE(explained) << w << " seed " << seed;
      }
      // ... and nothing goes after the last word (the index is drawn in [0, len - 1]).
      EXPECT_EQ(out.back(), words.back()) << seed;
    }
}

TEST(EdaRandomInsertion, NeverAppendsAfterTheLastWordAndSkipsWordsWithoutSynonyms) {
  int inserted = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    Generator generator(seed);
    Words out = eda_random_insertion({"car", "xyzzy"}, 1, wordnet(), generator);
    // Two words or three: the attempt ends unfilled when "car" is not drawn among the
    // first nine of ten draws (probability 2^-9 + ...), as eda.py's add_word.
    ASSERT_TRUE(out.size() == 2 || out.size() == 3);
    EXPECT_EQ(out.back(), "xyzzy") << seed;  // the insertion index is at most len - 1
    inserted += out.size() == 3;
  }
  EXPECT_GT(inserted, 190);
  Generator generator(3);
  EXPECT_EQ(eda_random_insertion({"xyzzy", "zzzz"}, 2, wordnet(), generator), (Words{"xyzzy", "zzzz"}));
}

TEST(EdaRandomSwap, PermutesAndMovesAtMostTwoWordsPerSwap) {
  const Words words = {"one", "two", "three", "four", "five", "six", "seven"};
  int unchanged = 0;
  for (uint64_t seed = 0; seed < 300; ++seed)
    for (int n : {1, 2}) {
      Generator generator(seed);
      Words out = eda_random_swap(words, n, generator);
      Words sorted_in = words, sorted_out = out;
      std::sort(sorted_in.begin(), sorted_in.end());
      std::sort(sorted_out.begin(), sorted_out.end());
      EXPECT_EQ(sorted_out, sorted_in);
      int moved = 0;
      for (size_t i = 0; i < words.size(); ++i) moved += out[i] != words[i];
      EXPECT_LE(moved, 2 * n);
      EXPECT_NE(moved, 1);
      unchanged += moved == 0;
    }
  // With 7 words a swap almost never gives up (4 equal draws: 7^-3); two swaps may undo each other.
  EXPECT_LT(unchanged, 60);
  Generator generator(5);
  EXPECT_EQ(eda_random_swap({"alone"}, 3, generator), Words{"alone"});
}

TEST(EdaRandomDeletion, DeletesWithProbabilityPAndKeepsOneWord) {
  const Words words = {"w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "w9"};
  int deleted = 0, total = 0;
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    Generator generator(seed);
    Words out = eda_random_deletion(words, 0.1, generator);
    EXPECT_TRUE(std::includes(words.begin(), words.end(), out.begin(), out.end()));  // an ordered subsequence
    deleted += static_cast<int>(words.size() - out.size());
    total += static_cast<int>(words.size());
  }
  EXPECT_NEAR(static_cast<double>(deleted) / total, 0.1, 0.01);
  Generator generator(9);
  EXPECT_EQ(eda_random_deletion({"alone"}, 1.0, generator), Words{"alone"});
  std::set<std::string> survivors;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    Generator g(seed);
    Words out = eda_random_deletion(words, 1.0, g);  // everything goes: one random word comes back
    ASSERT_EQ(out.size(), 1u);
    survivors.insert(out[0]);
  }
  EXPECT_GT(survivors.size(), 5u);
}

TEST(EdaAugment, ChoosesEachOperationAboutAQuarterOfTheTime) {
  const std::string caption = "A photo of a pullover, a coat and a sneaker on a table";
  std::map<int, int> counts;
  const int trials = 4000;
  for (uint64_t row = 0; row < trials; ++row) {
    Generator generator = Generator(mix_seed(mix_seed(mix_seed(11) ^ 0) ^ row));
    Generator replay = generator;
    const std::string augmented = eda_augment(caption, wordnet(), generator);
    const auto operation = static_cast<EdaOperation>(replay.below(4));
    EXPECT_EQ(augmented, eda_augment_with(caption, operation, wordnet(), replay)) << row;
    ++counts[static_cast<int>(operation)];
    // The output is always cleaned text: a-z and single spaces, no space at either end.
    EXPECT_EQ(augmented, eda_clean(augmented)) << augmented;
    EXPECT_FALSE(augmented.empty());
    EXPECT_NE(augmented.back(), ' ');
  }
  ASSERT_EQ(counts.size(), 4u);
  for (const auto& [operation, count] : counts) EXPECT_NEAR(count, trials / 4.0, 5 * std::sqrt(trials * 3.0 / 16));
}

std::string joined(const Words& words) {
  std::string text;
  for (const auto& w : words) text += (text.empty() ? "" : " ") + w;
  return text;
}

TEST(EdaAugment, CountsFollowAlpha) {
  // n = max(1, int(0.1 * words)): 25 words give 2 insertions, 5 words give 1.
  std::string long_caption;
  for (int i = 0; i < 25; ++i) long_caption += (i ? " " : "") + std::string(i % 2 ? "dog" : "car");
  for (const auto& [caption, n] :
       std::vector<std::pair<std::string, int>>{{long_caption, 2}, {"car dog car dog car", 1}})
    for (uint64_t seed = 0; seed < 20; ++seed) {
      Generator generator(seed), replay(seed);
      EXPECT_EQ(eda_augment_with(caption, EdaOperation::kRandomInsertion, wordnet(), generator),
                eda_clean(joined(eda_random_insertion(words_of(caption), n, wordnet(), replay))));
      Generator generator_rs(seed), replay_rs(seed);
      EXPECT_EQ(eda_augment_with(caption, EdaOperation::kRandomSwap, wordnet(), generator_rs),
                joined(eda_random_swap(words_of(caption), n, replay_rs)));
    }
}

TEST(EdaAugment, SameSeedSameCaptionAndNewEpochsDiffer) {
  const std::string caption = "a photo of a black ankle boot with a high heel";
  std::set<std::string> across_epochs;
  for (uint64_t epoch = 0; epoch < 20; ++epoch) {
    Generator a = Generator(mix_seed(mix_seed(mix_seed(3) ^ epoch) ^ 42));
    Generator b = Generator(mix_seed(mix_seed(mix_seed(3) ^ epoch) ^ 42));
    const std::string first = eda_augment(caption, wordnet(), a);
    EXPECT_EQ(first, eda_augment(caption, wordnet(), b));
    across_epochs.insert(first);
  }
  EXPECT_GT(across_epochs.size(), 5u);
}

TEST(EdaAugment, CaptionsWithoutLettersGiveEmptyText) {
  Generator generator(0);
  EXPECT_EQ(eda_augment("", wordnet(), generator), "");
  EXPECT_EQ(eda_augment("1234 !!", wordnet(), generator), "");
  EXPECT_EQ(eda_augment_with("Boot", EdaOperation::kRandomDeletion, wordnet(), generator), "boot");
  EXPECT_EQ(eda_augment_with("Boot", EdaOperation::kRandomSwap, wordnet(), generator), "boot");
}

}  // namespace
}  // namespace clipgrad::cleanclip
