#!/usr/bin/env bash
# Formats every C++ and CUDA source with .clang-format (clang-format 14,
# Debian's clang-format package), except generated tables and test data:
#   bash tools/format.sh          format in place
#   bash tools/format.sh --check  list the files that are not formatted, exit 1 if any
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.cu' '*.cuh' |
  grep -v -e '^tests/fixtures/' -e '^clip/text/ftfy/tables/' -e '^clip/text/unicode_tables.cpp$' \
          -e '^clip/text/html_entities.cpp$' -e '^tests/io/image_reference_values.h$')
if [ "${1:-}" = "--check" ]; then
  unformatted=0
  for file in "${files[@]}"; do
    if ! clang-format --dry-run --Werror "$file" >/dev/null 2>&1; then echo "$file"; unformatted=1; fi
  done
  exit $unformatted
fi
clang-format -i "${files[@]}"
