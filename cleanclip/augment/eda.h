// EDA, "Easy Data Augmentation" (Wei & Zou 2019; jasonwei20/eda_nlp code/eda.py),
// as CleanCLIP's utils/eda.py calls it for its in-modal text views:
// `eda(caption, alpha_sr=0.1, alpha_ri=0.1, alpha_rs=0.1, p_rd=0.1, num_aug=1)[0]`.
//
// What it does, as the reference does it:
// - cleaning (get_only_chars): drop apostrophes (' and U+2019), hyphens, tabs and
//   newlines become spaces, lowercase, every character other than a-z and space
//   becomes a space, runs of spaces collapse, one leading space goes;
// - the words are the cleaned caption split on spaces; n = max(1, int(0.1 * words));
// - synonym replacement: the distinct words that are not stop words, in random
//   order; each one with WordNet synonyms has all its occurrences replaced by a
//   random synonym, until n words were tried that had synonyms;
// - random insertion, n times: draw random words until one has synonyms (the
//   tenth draw ends the attempt, even if it found some), insert one of them at a
//   random position in [0, len - 1] (never after the last word);
// - random swap, n times: two random positions swap; while they are equal the
//   second is redrawn, and the fourth redraw ends it unswapped;
// - random deletion: each word goes with probability 0.1; if none is left, one
//   random word is kept; a one-word caption is never changed;
// - the result is joined with spaces and cleaned again.
// With num_aug = 1 the reference computes one sentence per operation, shuffles
// the four and keeps the first: each operation is chosen with probability 1/4.
//
// Deviations from the reference, on purpose (none changes the distribution):
// - Randomness comes from our seeded Generator (the trainer seeds one per (seed,
//   epoch, row, view): clip::view_seed), so a caption's view is reproducible, and by default a new
//   view is drawn each epoch; the reference ran EDA once when the dataset was
//   built (--fixed-text-aug draws with epoch 0 every epoch).
// - The operation is drawn first (below(4)) and only it runs; the reference
//   runs all four and discards three.
// - Where the reference's order came from a Python set (the words to replace,
//   the synonyms), we use first-occurrence order and sorted synonyms before
//   drawing; a uniform shuffle or choice gives the same distribution. Random
//   insertion took `synonyms[0]` of that set, i.e. a synonym fixed by the Python
//   process's string hashing; we draw one uniformly instead.
// - A caption with no letters gives "" instead of the reference's IndexError /
//   ValueError.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cleanclip/augment/wordnet.h"
#include "tensor/random.h"

namespace clipgrad::cleanclip {

enum class EdaOperation { kSynonymReplacement, kRandomInsertion, kRandomSwap, kRandomDeletion };

struct EdaOptions {
  double alpha_sr = 0.1;  // fraction of words replaced by synonyms
  double alpha_ri = 0.1;  // fraction of words inserted
  double alpha_rs = 0.1;  // fraction of words swapped
  double p_rd = 0.1;      // probability that a word is deleted
};

// EDA's get_only_chars (UTF-8 in; a-z and spaces out).
std::string eda_clean(std::string_view text);
// EDA's stop-word list (its 128 entries, the empty string included); never replaced.
const std::vector<std::string>& eda_stop_words();
bool is_eda_stop_word(std::string_view word);
// The cleaned caption's words: split on ' ', empty strings dropped.
std::vector<std::string> eda_words(std::string_view cleaned);

// The four operations on a word list, as in eda.py (see above). Their results
// may hold multi-word synonyms or empty strings; eda_augment joins and cleans.
std::vector<std::string> eda_synonym_replacement(const std::vector<std::string>& words, int n, const WordNet& wordnet,
                                                 Generator& generator);
std::vector<std::string> eda_random_insertion(const std::vector<std::string>& words, int n, const WordNet& wordnet,
                                              Generator& generator);
std::vector<std::string> eda_random_swap(const std::vector<std::string>& words, int n, Generator& generator);
std::vector<std::string> eda_random_deletion(const std::vector<std::string>& words, double p, Generator& generator);

// One augmented caption: one of the four operations, chosen uniformly.
std::string eda_augment(std::string_view caption, const WordNet& wordnet, Generator& generator,
                        const EdaOptions& options = {});
// The same with the operation given (tests, ablations).
std::string eda_augment_with(std::string_view caption, EdaOperation operation, const WordNet& wordnet,
                             Generator& generator, const EdaOptions& options = {});

}  // namespace clipgrad::cleanclip
