#!/usr/bin/env python3
"""Builds tests/fixtures/ftfy/corpus.jsonl.gz: real text from this machine plus
mojibake and other damage made from it, each with ftfy.fix_text's output and
OpenAI CLIP's token ids (tools/tokenizer_reference.py, ftfy included), for
tests/clip/text/ftfy/. Needs ftfy and regex (pip install ftfy regex).

Sources (sampled with a fixed seed; whatever of them this machine has):
  WordNet glosses (/usr/share/wordnet), Debian changelogs and copyright files
  (/usr/share/doc), X11 Compose tables, docutils' translations, CPython's
  cjkencodings and test sources.
Damage, made from the real lines: UTF-8 mis-decoded as windows-1252 (strict,
with U+FFFD for its holes, and ftfy's sloppy variant), latin-1, macroman and
the other single-byte encodings ftfy tries, twice over, in one word only,
with U+00A0 turned to spaces, with lost bytes as '?'; HTML entities (named,
upper-cased, numeric); curly quotes, ligatures, full width, controls, BOMs,
terminal escapes, line separators; NFD; several lines joined by '\\n'; and
random strings over the characters ftfy's detector looks at.

    python3 tools/ftfy_reference.py            # writes the fixture
    python3 tools/ftfy_reference.py --print    # one JSON record per line on stdout

It also writes tests/fixtures/ftfy/nfc_cases.jsonl.gz: unicodedata.normalize("NFC")
on every code point NFC or NFD changes and on random runs of combining marks.
"""
import argparse
import glob
import gzip
import html
import json
import os
import random
import sys
import unicodedata

import ftfy
import ftfy.bad_codecs  # noqa: F401
from ftfy import badness, chardata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer_reference import SimpleTokenizer  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "ftfy", "corpus.jsonl.gz")
NFC_OUT = os.path.join(ROOT, "tests", "fixtures", "ftfy", "nfc_cases.jsonl.gz")
PY = os.path.dirname(os.__file__)
MAX_LENGTH = 240


def read_lines(path):
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            text = f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError):
        return []
    return [line.strip() for line in text.split("\n") if 0 < len(line.strip()) <= MAX_LENGTH]


def non_ascii(line):
    return any(ord(c) > 127 for c in line)


def sample(rng, items, count):
    items = sorted(set(items))
    return items if len(items) <= count else rng.sample(items, count)


def real_texts(rng):
    texts = []
    glosses = []
    for path in sorted(glob.glob("/usr/share/wordnet/data.*")):
        for line in read_lines(path):
            if " | " in line:
                glosses.append(line.split(" | ", 1)[1])
    texts += [("wordnet", t) for t in sample(rng, glosses, 3000)]
    for kind, pattern, ascii_count, other_count in [
        ("changelog", "/usr/share/doc/*/changelog*", 1500, 4000),
        ("copyright", "/usr/share/doc/*/copyright", 300, 1500),
        ("compose", "/usr/share/X11/locale/*/Compose", 0, 1500),
        ("docutils", os.path.join(PY, "site-packages", "docutils", "*", "languages", "*.py"), 0, 1000),
        ("docutils", os.path.join(PY, "site-packages", "docutils", "*", "*", "languages", "*.py"), 0, 1000),
        ("cjk", os.path.join(PY, "test", "cjkencodings", "*utf8.txt"), 0, 1000),
        ("python-tests", os.path.join(PY, "test", "*.py"), 0, 1000),
    ]:
        lines = [line for path in sorted(glob.glob(pattern)) for line in read_lines(path)]
        texts += [(kind, t) for t in sample(rng, [l for l in lines if not non_ascii(l)], ascii_count)]
        texts += [(kind, t) for t in sample(rng, [l for l in lines if non_ascii(l)], other_count)]
    return texts


def mis_decode(text, encoding, errors="strict"):
    return text.encode("utf-8").decode(encoding, errors)


def damaged_texts(rng, real):
    pool = [t for _, t in real if non_ascii(t)]
    ascii_pool = [t for _, t in real if not non_ascii(t)]
    out = []

    def add(kind, make, count, source=pool):
        for text in rng.sample(source, min(count, len(source))):
            try:
                damaged = make(text)
            except (UnicodeError, ValueError):
                continue
            if damaged is not None:
                out.append((kind, damaged))

    add("mojibake-cp1252", lambda t: mis_decode(t, "windows-1252", "replace"), 2000)
    add("mojibake-sloppy1252", lambda t: mis_decode(t, "sloppy-windows-1252"), 1000)
    add("mojibake-latin1", lambda t: mis_decode(t, "latin-1"), 1500)
    add("mojibake-macroman", lambda t: mis_decode(t, "macroman"), 1500)
    for encoding in ["windows-1250", "windows-1251", "windows-1253", "windows-1254", "windows-1257",
                     "iso-8859-2", "cp437"]:
        add("mojibake-" + encoding, lambda t, e=encoding: mis_decode(t, e, "replace"), 150)
    add("mojibake-twice", lambda t: mis_decode(mis_decode(t, "sloppy-windows-1252"), "sloppy-windows-1252"), 500)
    add("mojibake-nbsp-lost", lambda t: mis_decode(t, "windows-1252", "replace").replace("\xa0", " "), 500)
    add("mojibake-lossy", lambda t: mis_decode(t, "windows-1252", "replace").replace("\ufffd", "?"), 300)

    def one_word(text):
        words = text.split(" ")
        candidates = [i for i, w in enumerate(words) if non_ascii(w)]
        if not candidates:
            return None
        i = rng.choice(candidates)
        words[i] = mis_decode(words[i], rng.choice(["sloppy-windows-1252", "latin-1", "macroman"]))
        return " ".join(words)
    add("mojibake-one-word", one_word, 1000)

    names = {v: k for k, v in html.entities.html5.items() if k.endswith(";") and len(v) == 1}

    def escape(text):
        pieces = []
        for ch in text:
            roll = rng.random()
            if ch in names and roll < 0.5:
                name = names[ch]
                pieces.append("&" + (name.upper() if rng.random() < 0.3 else name))
            elif ord(ch) > 127 and roll < 0.75:
                pieces.append(f"&#{ord(ch)};" if rng.random() < 0.5 else f"&#x{ord(ch):X};")
            elif ch in "&<>\"'" and roll < 0.8:
                pieces.append(html.escape(ch))
            else:
                pieces.append(ch)
        return "".join(pieces)
    add("html", escape, 700)
    add("html-ascii", escape, 300, ascii_pool)

    typography = ["\u2018", "\u2019", "\u201c", "\u201d", "\u02bc", "\ufb01", "\ufb02", "\u0133", "\u01c6",
                  "\ufeff", "\u2028", "\r\n", "\r", "\x85", "\x00", "\x07", "\x7f", "\x1b[31m", "\x1b[0m",
                  "\u3000", "\u200b", "\u206a", "\ufffc", "\x96", "\x92", "\t", "\x0c"]

    def typographic(text):
        chars = list(text)
        for _ in range(rng.randint(1, 4)):
            chars.insert(rng.randint(0, len(chars)), rng.choice(typography))
        if rng.random() < 0.3:  # full-width ASCII
            chars = [chr(ord(c) + 0xFEE0) if "!" <= c <= "~" and rng.random() < 0.5 else c for c in chars]
        if rng.random() < 0.3:
            chars = ["\uff71" if c == "a" else "\uff9e" if c == "e" else c for c in chars]
        return "".join(chars)
    add("typography", typographic, 800, ascii_pool)
    add("typography-utf8", typographic, 400)
    add("nfd", lambda t: unicodedata.normalize("NFD", t) if unicodedata.normalize("NFD", t) != t else None, 600)

    def joined(text):
        others = rng.sample(pool + ascii_pool, rng.randint(1, 3))
        parts = [text] + [mis_decode(o, "sloppy-windows-1252") if rng.random() < 0.4 else o for o in others]
        if rng.random() < 0.3:
            parts.insert(rng.randint(0, len(parts)), "<b>&amp; markup</b>")
        rng.shuffle(parts)
        return "\n".join(parts) + ("\n" if rng.random() < 0.5 else "")
    add("multi-line", joined, 400)

    # Random strings over the characters BADNESS_RE and the UTF-8 detector
    # look at, plus ASCII: the detector's and the decoders' corner cases.
    clue_chars = set()
    for value in list(badness.MOJIBAKE_CATEGORIES.values()) + list(chardata.UTF8_CLUES.values()):
        clue_chars.update(c for c in value if c != "-")
    clue_chars.update(bytes(range(0x80, 0x100)).decode("sloppy-windows-1252"))
    clue_chars.update(bytes(range(0x80, 0x100)).decode("macroman"))
    alphabet = sorted(clue_chars) + list("aeiouAEIOU .,!?&;#<>'\"\n") + ["\xa0", "\ufffd", "\u2019"]
    for _ in range(1500):
        out.append(("random-clues", "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))))
    # Mojibake of random code points (not only letters that real text has).
    for _ in range(500):
        chars = "".join(chr(rng.choice([rng.randint(0xA0, 0x2FF), rng.randint(0x370, 0x52F), rng.randint(0x2000, 0x2BFF),
                                        rng.randint(0x3040, 0x9FFF), rng.randint(0x1F300, 0x1FAFF)]))
                        for _ in range(rng.randint(1, 6)))
        out.append(("random-mojibake", mis_decode("x " + chars + " y", rng.choice(["sloppy-windows-1252", "latin-1",
                                                                                 "macroman", "windows-1251"]),
                                                  "replace")))
    return out


def nfc_cases(rng):
    """unicodedata.normalize("NFC") on every code point it changes, and on
    random runs of starters (Hangul jamo and syllables among them) and
    combining marks of mixed classes."""
    cases = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        if unicodedata.normalize("NFC", chr(cp)) != chr(cp) or unicodedata.normalize("NFD", chr(cp)) != chr(cp):
            cases.append(chr(cp))
    marks = [chr(cp) for cp in range(0x110000) if unicodedata.combining(chr(cp))]
    composable = sorted({c for text in cases for c in unicodedata.normalize("NFD", text)})
    starters = [chr(cp) for cp in list(range(0x41, 0x5B)) + list(range(0x1100, 0x1113)) + list(range(0x1161, 0x1176))
                + list(range(0x11A8, 0x11C3)) + [0xAC00, 0xAC01, 0xB098, 0xD7A3]]
    for _ in range(4000):
        pieces = []
        for _ in range(rng.randint(1, 8)):
            roll = rng.random()
            pieces.append(rng.choice(starters) if roll < 0.35 else rng.choice(marks) if roll < 0.65
                          else rng.choice(composable) if roll < 0.9 else rng.choice(cases))
        cases.append("".join(pieces))
    return [{"text": t, "nfc": unicodedata.normalize("NFC", t)} for t in cases]


def write_gzip_lines(path, records):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with gzip.GzipFile(path, "wb", compresslevel=9, mtime=0) as f:
        f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--print", action="store_true", help="write JSON lines to stdout instead")
    args = parser.parse_args()
    rng = random.Random(20240601)
    real = real_texts(rng)
    texts = real + damaged_texts(rng, real)
    tokenizer = SimpleTokenizer()
    records = []
    seen = set()
    for kind, text in texts:
        if text in seen or not text:
            continue
        seen.add(text)
        fixed = ftfy.fix_text(text)
        record = {"kind": kind, "text": text, "ids": tokenizer.encode(text)}
        if fixed != text:
            record["fixed"] = fixed
        records.append(record)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if args.print:
        sys.stdout.write(lines)
        return 0
    write_gzip_lines(OUT, records)
    nfc = nfc_cases(random.Random(7))
    write_gzip_lines(NFC_OUT, nfc)
    print(f"{len(nfc)} NFC cases -> {NFC_OUT} ({os.path.getsize(NFC_OUT)} bytes)")
    kinds = {}
    for r in records:
        kinds.setdefault(r["kind"], [0, 0])
        kinds[r["kind"]][0] += 1
        kinds[r["kind"]][1] += "fixed" in r
    for kind, (count, changed) in sorted(kinds.items()):
        print(f"{kind:28s} {count:6d} texts, ftfy changes {changed}")
    print(f"{len(records)} texts -> {OUT} ({os.path.getsize(OUT)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
