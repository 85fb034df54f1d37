#!/usr/bin/env python3
"""Lists the C++ and CUDA functions longer than a line budget (80 lines by default).

    python3 tools/long_functions.py [--max-lines N] [--allow FILE:FUNCTION]... [PATH ...]

PATH is a file or a folder (searched for .h, .cpp, .cc, .cu, .cuh); the default is the
source folders of the repository. Prints one line per long function, longest first,
"file:line: name (N lines)", and exits 1 when there is one that --allow does not name.

How it finds functions (a heuristic, no compiler: fast, and good enough for our style):
  1. Comments, string and character literals and preprocessor lines are blanked out
     (newlines kept, so line numbers stay right).
  2. Braces are matched. A '{' met where declarations live (file, namespace, class scope)
     opens a function body when the text before it, since the last ';', '{' or '}', is a
     signature: it ends with ')' (after any const / noexcept / override / -> type), or
     it is a constructor's member-initialiser list. A brace that follows a member name in
     such a list ("value_{0}"), or stands in a default argument ("= {}"), is an initialiser,
     not the body. Namespaces, classes, structs, unions, enums and "= { ... }" initialisers
     are not functions.
  3. A function's length is counted from the first line of its signature (template line
     included) to its closing brace, both included. Lambdas and local classes count as
     part of the function that holds them; member functions defined in a class count
     on their own.
It can be fooled by macros that expand to braces; none of ours do.
"""
import argparse
import os
import re
import sys

SOURCE_SUFFIXES = (".h", ".cpp", ".cc", ".cu", ".cuh")
DEFAULT_FOLDERS = ["tensor", "cuda", "io", "autograd", "nn", "distributed", "clip", "cleanclip", "cli", "dev",
                   "bench", "tests"]
CONTAINER = re.compile(r'^(?:inline\s+)?(?:typedef\s+)?(?:static\s+)?(?:namespace|class|struct|union|enum)\b'
                       r'|^extern\s*"\s*"\s*$')
# What may follow a function's parameter list: cv and ref qualifiers, noexcept, override, a trailing return type.
QUALIFIERS = r"(?:\s*(?:const|volatile|noexcept(?:\s*\([^()]*\))?|override|final|mutable|&&|&|try))*"
TRAILING_RETURN = r"(?:\s*->\s*[\w:<>,\s*&]+?)?"


def is_digit_separator(text, i):
    """Whether the quote at i separates digits (1'000'000) instead of opening a character literal (U'&')."""
    start = i
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "'."):
        start -= 1
    return start < i and text[start].isdigit()


def blank_out(text):
    """The text with comments, literals and preprocessor lines replaced by spaces (newlines kept)."""
    out = []
    i, n = 0, len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start and c == "#":  # a directive, continued by trailing backslashes
            while i < n and (text[i] != "\n" or text[i - 1] == "\\"):
                out.append("\n" if text[i] == "\n" else " ")
                i += 1
            continue
        if c == "/" and text.startswith("//", i):
            while i < n and text[i] != "\n":
                out.append(" ")
                i += 1
            continue
        if c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.extend("\n" if ch == "\n" else " " for ch in text[i:end])
            i = end
            continue
        raw = re.match(r'R"([^(\s]*)\(', text[i:i + 20]) if c == "R" and (i == 0 or not text[i - 1].isalnum()) else None
        if raw:
            end = text.find(")" + raw.group(1) + '"', i)
            end = n if end < 0 else end + len(raw.group(1)) + 2
            out.extend("\n" if ch == "\n" else " " for ch in text[i:end])
            i = end
            continue
        if c in "\"'" and not (c == "'" and is_digit_separator(text, i)):
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(c)
            out.append(" " * (min(j, n) - i - 1))
            if j < n and text[j] == c:
                out.append(c)
                j += 1
            i = j
            continue
        out.append(c)
        if c == "\n":
            at_line_start = True
        elif not c.isspace():
            at_line_start = False
        i += 1
    return "".join(out)


def strip_template(header):
    """The header without leading template<...> clauses."""
    while True:
        match = re.match(r"\s*template\s*<", header)
        if not match:
            return header
        depth, i = 1, match.end()
        while i < len(header) and depth:
            depth += {"<": 1, ">": -1}.get(header[i], 0)
            i += 1
        header = header[i:]


def parameter_list(header):
    """(start, end) of the header's parameter list: its first (...) outside template arguments; None if none.
    An operator's own symbol ("operator()", "operator<") is not read as brackets."""
    masked = re.sub(r"\boperator\s*(?:\(\s*\)|[^\s(]+)|\bdecltype\s*\([^()]*\)", lambda m: "o" * len(m.group(0)),
                    header)
    angle = 0
    for i, c in enumerate(masked):
        if c == "<":
            angle += 1
        elif c == ">" and angle:
            angle -= 1
        elif c == "(" and angle == 0:
            depth = 0
            for j in range(i, len(masked)):
                depth += {"(": 1, ")": -1}.get(masked[j], 0)
                if depth == 0:
                    return i, j + 1
            return None
    return None


def function_name(header):
    header = header.strip()
    span = parameter_list(header)
    if span is None:
        return header[:40]
    if re.match(r"^[A-Z_][A-Z0-9_]*\s*\(", header):  # a test macro: TEST(Suite, Name)
        return header[:span[1]]
    match = re.search(r"((?:[\w~]+(?:<[^()]*?>)?::)*(?:operator\b.*|~?\w+))\s*$", header[:span[0]])
    return match.group(1).strip() if match else header[:span[0]].strip()[-40:]


def classify(header):
    """'container', 'function', 'initialiser' (a member brace-init in a constructor's list) or 'other'."""
    body = strip_template(header).strip()
    if CONTAINER.match(body):
        return "container"
    if body.count("(") > body.count(")"):  # a default argument: f(std::vector<int> values = {})
        return "initialiser"
    span = parameter_list(body)
    if span is None:
        return "other"
    rest = body[span[1]:]
    if re.fullmatch(QUALIFIERS + TRAILING_RETURN + r"\s*", rest):
        return "function"
    if re.match(QUALIFIERS + r"\s*:(?!:)", rest):  # a constructor's member-initialiser list
        return "function" if re.search(r"[)}]$", body) else "initialiser"
    return "other"


def functions_in(path):
    """(name, first line, last line) of every function defined in the file."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        code = blank_out(handle.read())
    line_of = []
    line = 1
    for c in code:
        line_of.append(line)
        line += c == "\n"
    found = []
    stack = []  # (kind, header start index, name)
    header_start = 0
    initialiser_depth = 0
    for i, c in enumerate(code):
        inside_function = any(kind in ("function", "other") for kind, _, _ in stack)
        if c == "{":
            if inside_function:
                stack.append(("block", i, ""))
                continue
            header = code[header_start:i]
            kind = classify(header)
            if kind == "initialiser":
                initialiser_depth += 1
                stack.append(("initialiser", i, ""))
                continue
            first = header_start + (len(header) - len(header.lstrip()))
            stack.append((kind, first, function_name(strip_template(header)) if kind == "function" else ""))
            header_start = i + 1
        elif c == "}":
            if not stack:
                continue
            kind, first, name = stack.pop()
            if kind == "initialiser":
                initialiser_depth -= 1
                continue
            if kind == "function":
                found.append((name, line_of[first], line_of[i]))
            if not any(k in ("function", "other") for k, _, _ in stack):
                header_start = i + 1
        elif c == ";" and not inside_function and initialiser_depth == 0:
            header_start = i + 1
        elif c == ":" and not inside_function and re.search(r"\b(public|private|protected)\s*$", code[header_start:i]):
            header_start = i + 1
    return found


def source_files(paths):
    for path in paths:
        if os.path.isfile(path):
            yield path
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith(("build", ".")))
            for name in sorted(files):
                if name.endswith(SOURCE_SUFFIXES):
                    yield os.path.join(root, name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="files or folders (default: the source folders)")
    parser.add_argument("--max-lines", type=int, default=80)
    parser.add_argument("--allow", action="append", default=[], metavar="FILE:FUNCTION",
                        help="a long function that may stay (listed, but not an error)")
    args = parser.parse_args()
    paths = args.paths or [folder for folder in DEFAULT_FOLDERS if os.path.isdir(folder)]
    long_ones = []
    for path in source_files(paths):
        for name, first, last in functions_in(path):
            if last - first + 1 > args.max_lines:
                long_ones.append((last - first + 1, os.path.normpath(path), first, name))
    failures = 0
    for lines, path, first, name in sorted(long_ones, key=lambda entry: (-entry[0], entry[1], entry[2])):
        allowed = f"{path}:{name}" in args.allow
        failures += not allowed
        print(f"{path}:{first}: {name} ({lines} lines){' (allowed)' if allowed else ''}")
    if failures:
        print(f"{failures} function(s) over {args.max_lines} lines", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
