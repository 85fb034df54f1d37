#!/usr/bin/env bash
# The layout rules of docs/ARCHITECTURE.md, checked on the source tree (run by ctest):
#   1. arrows point down: a file includes only project headers of its own
#      layer or of the layers below it (the table below);
#   2. no source folder holds more than 12 source files (translation units:
#      .cpp, .cc, .cu) or 3,000 lines (headers included);
#   3. a line budget, as tinygrad keeps one: the core (tensor/, autograd/ and
#      nn/ without the kernel folders tensor/cpu/ and tensor/cuda/) stays
#      under 4,600 lines (4,500 until bf16: dtype conversion on every
#      device and the autocast of linear layers), and all the sources under 39,000 (clip/text's
#      generated Unicode tables counted apart);
#   4. no host accessor on a device tensor under tensor/cuda/: Tensor::data<T>()
#      throws for a CUDA tensor, so kernel files use device_data<T>().
# Prints every violation and exits non-zero if there is one.
set -euo pipefail
root="${1:?usage: check_layout.sh SOURCE_ROOT}"
cd "$root"

# folder (a prefix of a file's path) -> the folders its includes may name
allowed_for() {
  case "$1" in
    cuda/*)             echo "cuda tensor" ;;
    tensor/cpu/*)       echo "tensor/cpu tensor/ops tensor" ;;
    tensor/cuda/*)      echo "tensor/cuda tensor/ops tensor cuda" ;;
    tensor/ops/*)       echo "tensor/ops tensor/cpu tensor/cuda tensor cuda" ;;
    tensor/*)           echo "tensor cuda" ;;
    io/*)               echo "io tensor" ;;
    autograd/*)         echo "autograd tensor" ;;
    nn/*)               echo "nn autograd tensor" ;;
    distributed/*)      echo "distributed autograd tensor cuda" ;;
    clip/text/*)        echo "clip/text tensor" ;;
    clip/model/*)       echo "clip/model nn autograd tensor" ;;
    clip/checkpoint/*)  echo "clip/checkpoint clip/model io nn autograd tensor" ;;
    clip/data/*)        echo "clip/data io tensor" ;;
    clip/train/*)       echo "clip/train clip/checkpoint clip/data clip/model clip/text io distributed nn autograd tensor" ;;
    clip/eval/*)        echo "clip io distributed nn autograd tensor" ;;
    cleanclip/*)        echo "cleanclip clip io distributed nn autograd tensor" ;;
    cli/*)              echo "cli cleanclip clip io distributed nn autograd tensor cuda" ;;
    *)                  echo "" ;;
  esac
}

failures=0
source_roots="tensor cuda io autograd nn distributed clip cleanclip cli"
sources=$(find $source_roots -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cc' \) | sort)
for file in $sources; do
  allowed=$(allowed_for "$file")
  while IFS= read -r included; do
    ok=0
    for folder in $allowed; do
      case "$included" in "$folder"/*) ok=1 ;; esac
    done
    # A folder's own subfolders belong to it (tensor/cpu is below tensor/ops's table entry, etc.).
    if [ "$ok" -eq 0 ]; then
      echo "layering: $file includes \"$included\" (allowed: $allowed)"
      failures=$((failures + 1))
    fi
  done < <(sed -n 's/^#include "\([^"]*\/[^"]*\)".*/\1/p' "$file")
done

for folder in $(dirname $sources | sort -u); do
  files=$(find "$folder" -maxdepth 1 -type f \( -name '*.cpp' -o -name '*.cu' -o -name '*.cc' \) | wc -l)
  lines=$(find "$folder" -maxdepth 1 -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cc' \) -print0 |
          xargs -0 cat | wc -l)
  if [ "$files" -gt 12 ] || [ "$lines" -gt 3000 ]; then
    echo "size: $folder/ holds $files source files and $lines lines (at most 12 and 3000)"
    failures=$((failures + 1))
  fi
done

count_lines() { find "$@" -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' -o -name '*.cc' \) -print0 | xargs -0 cat | wc -l; }
core_lines=$(count_lines tensor autograd nn -not -path 'tensor/cpu/*' -not -path 'tensor/cuda/*')
all_lines=$(count_lines $source_roots -not -path 'clip/text/ftfy/tables/*')
table_lines=$(count_lines clip/text/ftfy/tables)
if [ "$core_lines" -gt 4600 ]; then
  echo "budget: the core (tensor/, autograd/, nn/ without kernels) is $core_lines lines (at most 4600)"
  failures=$((failures + 1))
fi
if [ "$all_lines" -gt 39000 ]; then
  echo "budget: the sources are $all_lines lines (at most 39000, generated tables apart)"
  failures=$((failures + 1))
fi

while IFS= read -r line; do
  echo "host access to a device tensor: $line (use device_data<T>())"
  failures=$((failures + 1))
done < <(grep -rnE '\.data<[^>]+>\(\)|->data<[^>]+>\(\)' tensor/cuda || true)

if [ "$failures" -gt 0 ]; then
  echo "$failures layout violation(s)"
  exit 1
fi
echo "layout: $(echo "$sources" | wc -l) files in $(dirname $sources | sort -u | wc -l) folders follow the rules;" \
  "core $core_lines lines of 4600, all $all_lines of 39000 (+ $table_lines of generated tables)"
