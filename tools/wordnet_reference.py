#!/usr/bin/env python3
"""Reference values for tests/cleanclip/augment/wordnet_test.cpp and eda_test.cpp.

Reads Debian's WordNet (/usr/share/wordnet, package wordnet-base) with nltk's own
WordNetCorpusReader, the reader EDA (jasonwei20/eda_nlp code/eda.py) and
CleanCLIP's utils/eda.py call, and writes for a list of words: nltk's
synsets(word) (part of speech and offset, in order), _morphy(word, pos) for each
part of speech, and EDA's get_synonyms(word) (sorted). Also writes EDA's
get_only_chars on a few captions. Needs: pip install nltk.

nltk wants a corpus directory of its own with a `lexnames` file, which Debian
does not ship: the script copies the database files to a temporary directory
and writes the standard 45 lexicographer file names there.

    python3 tools/wordnet_reference.py tests/fixtures/eda/wordnet_cases.json
"""
import json
import os
import re
import shutil
import sys
import tempfile
import warnings

import nltk

WORDNET = "/usr/share/wordnet"
LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
    "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
    "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
    "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
    "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
    "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()

# Words a caption may hold: Fashion-MNIST classes and prompt words, inflections
# that need the exception lists or the detachment rules, adjectives with
# syntactic markers, stop words, words WordNet lacks, capitals, multi-word forms.
WORDS = """
a photo of the t shirt top trouser trousers pullover dress coat sandal sandals shirt sneaker sneakers bag bags
ankle boot boots picture image small large dog dogs cat running ran runs geese mice children women men went was
is are be been better best bigger biggest happier happiest axes leaves flies studies studied boxes churches dishes
wolves knives agreed agreeing quickly well galore happy glad ninth xyzzy zzzz banana bananas car cars wore worn
clothing clothes fashion blue red dark light lying lay lain saw seen seeing found finding making made stopped
hopping hoped hoping dying died ties tied goes going gone did does doing had has having thing things something
grey gray white black striped strapped leather heel heels high low nice beautiful pretty ugly old new young
""".split()


def sample_index_lemmas(every):
    lemmas = []
    for suffix in ["noun", "verb", "adj", "adv"]:
        with open(os.path.join(WORDNET, f"index.{suffix}")) as f:
            lines = [line for line in f if not line.startswith(" ")]
        lemmas += [line.split()[0] for line in lines[::every]]
    return lemmas


def get_only_chars(line):
    # eda.py's cleaning, step by step as its source describes it.
    line = line.replace("\u2019", "").replace("'", "").replace("-", " ").replace("\t", " ").replace("\n", " ")
    line = line.lower()
    clean = "".join(c if c in "qwertyuiopasdfghjklzxcvbnm " else " " for c in line)
    clean = re.sub(" +", " ", clean)
    if clean and clean[0] == " ":
        clean = clean[1:]
    return clean


CAPTIONS = [
    "A photo of a T-shirt.",
    "  Two dogs   running\tin the park\n",
    "It's a man\u2019s coat -- 100% wool!",
    "caf\u00e9 na\u00efve \u00c9cole",
    "KELVIN \u212a and \u0130stanbul",
    "ankle_boot, sneaker; bag?",
    "123 456",
    "",
]


def main():
    out_path = sys.argv[1]
    with tempfile.TemporaryDirectory() as root:
        for name in os.listdir(WORDNET):
            shutil.copy(os.path.join(WORDNET, name), root)
        with open(os.path.join(root, "lexnames"), "w") as f:
            for i, name in enumerate(LEXNAMES):
                f.write(f"{i:02d}\t{name}\t{ {'adj': 3, 'adv': 4, 'noun': 1, 'verb': 2}[name.split('.')[0]] }\n")
        nltk.data.path.append(root)  # nltk >= 3.9 reads only under its data path
        from nltk.corpus.reader.wordnet import WordNetCorpusReader
        WordNetCorpusReader.map_wn = lambda self, version="wordnet": None  # no WordNet 3.0 remapping data here
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wordnet = WordNetCorpusReader(root, None)

        def get_synonyms(word):
            # eda.py's get_synonyms.
            synonyms = set()
            for synset in wordnet.synsets(word):
                for lemma in synset.lemmas():
                    synonym = lemma.name().replace("_", " ").replace("-", " ").lower()
                    synonym = "".join(c for c in synonym if c in " qwertyuiopasdfghjklzxcvbnm")
                    synonyms.add(synonym)
            synonyms.discard(word)
            return sorted(synonyms)

        words = list(dict.fromkeys(WORDS + sample_index_lemmas(997)))
        cases = []
        for word in words:
            cases.append({
                "word": word,
                "synsets": [[s.pos() if s.pos() != "s" else "a", s.offset()] for s in wordnet.synsets(word)],
                "morphy": {pos: wordnet._morphy(word.lower(), pos) for pos in "nvar"},
                "synonyms": get_synonyms(word),
            })
        lemma_count = len(wordnet._lemma_pos_offset_map)
    result = {
        "nltk": nltk.__version__,
        "lemma_count": lemma_count,
        "words": cases,
        "clean": [{"text": text, "clean": get_only_chars(text)} for text in CAPTIONS],
    }
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=0, ensure_ascii=True)
        f.write("\n")
    print(f"{out_path}: {len(cases)} words, {lemma_count} lemmas")


if __name__ == "__main__":
    main()
