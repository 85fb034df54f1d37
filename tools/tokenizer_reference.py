#!/usr/bin/env python3
"""OpenAI CLIP's simple_tokenizer.py as the reference for clip/text/tokenizer.cpp.

basic_clean runs ftfy.fix_text first, as OpenAI's does; --no-ftfy skips it,
like `clipgrad tokenize --no-ftfy`. Needs `regex` and `ftfy` (pip install regex ftfy).

    tools/tokenizer_reference.py < texts.txt          # ids per line, like `clipgrad tokenize`
    tools/tokenizer_reference.py --compare BINARY < texts.txt  # diff against the C++ CLI
"""
import argparse
import gzip
import html
import os
import subprocess
import sys
from functools import lru_cache

import regex as re

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_BPE = os.path.join(HERE, "..", "assets", "bpe_simple_vocab_16e6.txt.gz")


@lru_cache()
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def get_pairs(word):
    return {(a, b) for a, b in zip(word, word[1:])}


def basic_clean(text, use_ftfy=True):
    if use_ftfy:
        import ftfy
        text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text))
    return text.strip()


def whitespace_clean(text):
    # `re` is the regex package here, as in OpenAI's file: its \s is Unicode
    # White_Space, which leaves out U+001C..U+001F that str.strip() removes.
    text = re.sub(r"\s+", " ", text)
    return text.strip()


class SimpleTokenizer:
    def __init__(self, bpe_path=DEFAULT_BPE, use_ftfy=True):
        self.use_ftfy = use_ftfy
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        merges = gzip.open(bpe_path).read().decode("utf-8").split("\n")
        merges = merges[1:49152 - 256 - 2 + 1]
        merges = [tuple(merge.split()) for merge in merges]
        vocab = list(bytes_to_unicode().values())
        vocab = vocab + [v + "</w>" for v in vocab]
        for merge in merges:
            vocab.append("".join(merge))
        vocab.extend(["<|startoftext|>", "<|endoftext|>"])
        self.encoder = dict(zip(vocab, range(len(vocab))))
        self.decoder = {v: k for k, v in self.encoder.items()}
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.cache = {"<|startoftext|>": "<|startoftext|>", "<|endoftext|>": "<|endoftext|>"}
        self.pat = re.compile(
            r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
            re.IGNORECASE)

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        pairs = get_pairs(word)
        if not pairs:
            return token + "</w>"
        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                    new_word.extend(word[i:j])
                    i = j
                except ValueError:
                    new_word.extend(word[i:])
                    break
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        word = " ".join(word)
        self.cache[token] = word
        return word

    def encode(self, text):
        bpe_tokens = []
        text = whitespace_clean(basic_clean(text, self.use_ftfy)).lower()
        for token in re.findall(self.pat, text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            bpe_tokens.extend(self.encoder[t] for t in self.bpe(token).split(" "))
        return bpe_tokens

    def decode(self, tokens):
        text = "".join(self.decoder[token] for token in tokens)
        return bytearray([self.byte_decoder[c] for c in text]).decode(
            "utf-8", errors="replace").replace("</w>", " ")

    def tokenize(self, text, context_length=77):
        ids = [49406] + self.encode(text) + [49407]
        if len(ids) > context_length:
            ids = ids[:context_length]
            ids[-1] = 49407
        return ids


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=int, default=77)
    parser.add_argument("--bpe", default=DEFAULT_BPE)
    parser.add_argument("--no-ftfy", action="store_true", help="skip ftfy.fix_text, as `clipgrad tokenize --no-ftfy`")
    parser.add_argument("--compare", metavar="BINARY",
                        help="run `BINARY tokenize` on the same lines and report mismatches")
    args = parser.parse_args()
    tokenizer = SimpleTokenizer(args.bpe, use_ftfy=not args.no_ftfy)
    raw = sys.stdin.buffer.read()
    lines = raw.decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    expected = [" ".join(map(str, tokenizer.tokenize(line, args.context))) for line in lines]
    if not args.compare:
        sys.stdout.write("".join(e + "\n" for e in expected))
        return 0
    result = subprocess.run([args.compare, "tokenize", "--context", str(args.context), "--bpe", args.bpe] +
                            (["--no-ftfy"] if args.no_ftfy else []), input=raw, capture_output=True, check=True)
    got = result.stdout.decode("utf-8").split("\n")[:-1]
    if len(got) != len(expected):
        print(f"line count differs: reference {len(expected)}, binary {len(got)}")
        return 1
    bad = [i for i, (e, g) in enumerate(zip(expected, got)) if e != g]
    for i in bad[:20]:
        print(f"line {i + 1}: {lines[i]!r}\n  reference: {expected[i]}\n  binary:    {got[i]}")
    print(f"{len(lines) - len(bad)}/{len(lines)} lines agree")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
