// The words of the scenes testbed (clip/data/scenes.h): what may name each
// Fashion-MNIST class, read from WordNet (Debian's wordnet-base), and the
// compositional captions of a scene: which items, how many, what colour, how
// large, where, on what background, sometimes named by a synonym, a gloss or a
// hypernym instead of the class name. A caption is a function of the scene's
// whole content, not of one class, so a model must read it, and EDA has real
// text to work on.
#pragma once

#include <string>
#include <vector>

#include "tensor/random.h"

namespace clipgrad::clip {

struct SceneClassWords {
  std::string name;                // the zero-shot class name ("bag"), always among the nouns
  std::vector<std::string> nouns;  // singular nouns naming it: the name, then its synset's lemmas
  std::string gloss;               // WordNet's definition, examples removed
  std::string hypernym;            // the first lemma of its synset's first hypernym ("container")
  bool pair = false;               // named "a pair of <noun>s" (trousers)
};

// The ten classes in Fashion-MNIST's label order, from fixed WordNet 3.0 noun
// synsets (jersey/T-shirt, trouser, pullover, dress, coat, sandal, shirt,
// sneaker, bag/handbag, boot) read from DIR/data.noun. Throws naming the file
// and saying what to install when it is absent.
std::vector<SceneClassWords> scene_class_words(const std::string& wordnet_dir);

// The palette of item and background colours, and the background textures.
struct NamedColour {
  const char* name;
  float rgb[3];
};
const std::vector<NamedColour>& scene_colours();
const std::vector<const char*>& scene_textures();  // "plain", "striped", "checkered", "dotted", "mottled", "wavy"

// What a caption describes; every index points into the tables above.
struct SceneItemWords {
  int label = 0;   // class
  int colour = 0;  // scene_colours()
  int size = 0;    // -1 small, 0 medium (no word), 1 large
  int region = 4;  // 3x3 grid, row-major: 0 top left ... 4 centre ... 8 bottom right
};
struct SceneWords {
  std::vector<SceneItemWords> items;          // in drawing order
  int texture = 0;                            // scene_textures()
  int background = 0, background_second = 0;  // scene_colours()
};

// One caption of the scene; the wording's choices are drawn from `generator`. An item's colour, its
// size and its place are each said with probability `mention`, the background with 0.8 x mention.
// Throws when mention is outside [0, 1].
std::string compose_scene_caption(const SceneWords& scene, const std::vector<SceneClassWords>& words,
                                  Generator& generator, double mention = 0.5);

}  // namespace clipgrad::clip
