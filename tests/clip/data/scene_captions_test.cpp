// The scenes' captions on made-up class words (no WordNet needed): the same
// draws give the same caption; every item is named (by a noun, its hypernym or
// its gloss); items of one class are counted; colour, size, place and
// background are each said only part of the time (when every caption said
// them, colours alone told captions apart: docs/study.md); glosses stay out of
// crowded scenes.
#include "clip/data/scene_captions.h"

#include <gtest/gtest.h>

#include <functional>
#include <regex>
#include <set>

namespace clipgrad::clip {
namespace {

std::vector<SceneClassWords> toy_words() {
  SceneClassWords bag{"bag", {"bag", "handbag", "purse"}, "a container for carrying things", "container"};
  SceneClassWords trousers{"trousers", {"trouser", "pant"}, "a garment extending to the ankles", "garment", true};
  SceneClassWords sandal{"sandal", {"sandal"}, "a shoe held on by straps", "shoe"};
  return {bag, trousers, sandal};
}

constexpr int kBag = 0, kTrousers = 1, kSandal = 2;
constexpr int kRed = 0, kBlue = 4, kGreen = 3, kBrown = 7, kWhite = 8;  // scene_colours()

bool has_word(const std::string& text, const std::string& word) {
  return std::regex_search(text, std::regex("\\b(?:" + word + ")\\b"));
}

// Captions of `scene` under generator seeds 0 .. count - 1.
std::vector<std::string> captions(const SceneWords& scene, int count, double mention = 0.5) {
  const std::vector<SceneClassWords> words = toy_words();
  std::vector<std::string> all;
  for (int seed = 0; seed < count; ++seed) {
    Generator generator(seed);
    all.push_back(compose_scene_caption(scene, words, generator, mention));
  }
  return all;
}

double fraction(const std::vector<std::string>& all, const std::function<bool(const std::string&)>& says) {
  double n = 0;
  for (const std::string& caption : all) n += says(caption);
  return n / all.size();
}

SceneWords one_bag() {
  SceneWords scene;
  scene.items = {{kBag, kRed, 1, 0}};  // a large red bag in the top left corner
  scene.texture = 2, scene.background = kBrown, scene.background_second = kWhite;  // checkered
  return scene;
}

TEST(SceneCaptions, TheSameDrawsGiveTheSameCaption) {
  const std::vector<std::string> first = captions(one_bag(), 50), second = captions(one_bag(), 50);
  EXPECT_EQ(first, second);
  EXPECT_GT(std::set<std::string>(first.begin(), first.end()).size(), 30u);  // the wording varies
  for (const std::string& caption : first) {
    EXPECT_EQ(caption.back(), '.');
    EXPECT_NE(caption.find_first_not_of(' '), std::string::npos);
  }
}

TEST(SceneCaptions, AttributesAreSaidPartOfTheTime) {
  const std::vector<std::string> all = captions(one_bag(), 4000);
  // Colour and size: half the time, but never with the gloss alone (10%): 45%.
  EXPECT_NEAR(fraction(all, [](const std::string& c) { return has_word(c, "red"); }), 0.45, 0.04);
  EXPECT_NEAR(fraction(all, [](const std::string& c) { return has_word(c, "large") || has_word(c, "big"); }), 0.45,
              0.04);
  EXPECT_NEAR(fraction(all, [](const std::string& c) { return has_word(c, "in the top left corner"); }), 0.5, 0.04);
  EXPECT_NEAR(fraction(all, [](const std::string& c) { return has_word(c, "background|backdrop"); }), 0.4, 0.04);
  EXPECT_EQ(fraction(all, [](const std::string& c) { return has_word(c, "small"); }), 0.0);  // its own size only
}

TEST(SceneCaptions, MentionSetsHowOftenAttributesAreSaid) {
  for (double mention : {0.0, 0.15, 1.0}) {
    SCOPED_TRACE(mention);
    const std::vector<std::string> all = captions(one_bag(), 4000, mention);
    EXPECT_NEAR(fraction(all, [](const std::string& c) { return has_word(c, "red"); }), 0.9 * mention, 0.04);
    EXPECT_NEAR(fraction(all, [](const std::string& c) { return has_word(c, "in the top left corner"); }), mention,
                0.04);
    EXPECT_NEAR(fraction(all, [](const std::string& c) { return has_word(c, "background|backdrop"); }), 0.8 * mention,
                0.04);
    // The item is named whatever is said about it.
    for (const std::string& c : all) EXPECT_TRUE(has_word(c, "bag|handbag|purse|container")) << c;
  }
  const std::vector<SceneClassWords> words = toy_words();
  Generator generator(0);
  EXPECT_THROW(compose_scene_caption(one_bag(), words, generator, 1.5), std::invalid_argument);
}

TEST(SceneCaptions, EveryItemIsNamedByANounItsHypernymOrItsGloss) {
  SceneWords scene = one_bag();
  scene.items.push_back({kSandal, kBlue, -1, 8});
  const std::vector<std::string> all = captions(scene, 2000);
  const auto names_bag = [](const std::string& c) {
    return has_word(c, "bags?|handbags?|purses?|container") || c.find("a container for carrying things") != c.npos;
  };
  for (const std::string& caption : all) {
    EXPECT_TRUE(names_bag(caption)) << caption;
    EXPECT_TRUE(has_word(caption, "sandal|shoe")) << caption;
  }
  // Each way of naming the bag occurs: the class name most often, then the synonyms, the hypernym, the gloss.
  const double name = fraction(all, [](const std::string& c) { return has_word(c, "bag"); });
  EXPECT_GT(name, 0.35);
  EXPECT_LT(name, 0.7);
  for (const char* other : {"handbag", "purse", "container"})
    EXPECT_GT(fraction(all, [&](const std::string& c) { return has_word(c, other); }), 0.03) << other;
  EXPECT_GT(fraction(all, [](const std::string& c) { return c.find("(a container for carrying things)") != c.npos; }),
            0.03);
}

TEST(SceneCaptions, ItemsOfOneClassAreCounted) {
  SceneWords scene = one_bag();
  scene.items = {{kBag, kRed, 0, 0}, {kBag, kBlue, 0, 4}, {kSandal, kGreen, 0, 8}};
  for (const std::string& caption : captions(scene, 200))
    EXPECT_TRUE(std::regex_search(caption, std::regex("\\btwo (bags|handbags|purses), red and blue\\b"))) << caption;
  scene.items = {{kSandal, kRed, 0, 0}, {kSandal, kBlue, 0, 4}, {kSandal, kGreen, 0, 8}};
  for (const std::string& caption : captions(scene, 50))
    EXPECT_NE(caption.find("three sandals, red, blue and green"), std::string::npos) << caption;
}

TEST(SceneCaptions, TrousersComeInPairs) {
  SceneWords scene = one_bag();
  scene.items = {{kTrousers, kRed, 0, 4}};
  for (const std::string& caption : captions(scene, 500))
    if (has_word(caption, "trousers|pants")) EXPECT_TRUE(has_word(caption, "pair of (trousers|pants)")) << caption;
  scene.items.push_back({kTrousers, kBlue, 0, 0});
  for (const std::string& caption : captions(scene, 50))
    EXPECT_TRUE(has_word(caption, "two pairs of (trousers|pants), red and blue")) << caption;
}

TEST(SceneCaptions, CrowdedScenesGoWithoutGlosses) {
  SceneWords scene = one_bag();
  scene.items = {{kBag, kRed, 0, 0}, {kTrousers, kBlue, 0, 4}, {kSandal, kGreen, 0, 8}};
  for (const std::string& caption : captions(scene, 1000)) {
    EXPECT_EQ(caption.find("a container for carrying things"), std::string::npos) << caption;
    EXPECT_EQ(caption.find("a shoe held on by straps"), std::string::npos) << caption;
  }
}

}  // namespace
}  // namespace clipgrad::clip
