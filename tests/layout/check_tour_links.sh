#!/usr/bin/env bash
# docs/tour.md links to lines of the sources ([path:N](../path#LN)). A link
# followed by ", `name`" (or ", `name`" after its closing parenthesis) must land on a line that holds the name
# (its last part: `Loader::next` -> next); every other link on a line that
# exists and is not blank. Run by ctest (tour_links); prints each stale link.
set -u
root=${1:-.}
tour="$root/docs/tour.md"
status=0
# One link per line of output: path, line number, and the 100 characters after the link.
while IFS=$'\t' read -r path line after; do
  file="$root/$path"
  if [[ ! -f $file ]]; then
    echo "docs/tour.md: $path does not exist"; status=1; continue
  fi
  text=$(sed -n "${line}p" "$file")
  name=$(grep -o '^)\{0,1\},\{0,1\} *`[^`]*`' <<<"$after" | head -1 | sed 's/^[^`]*`\([^`]*\)`$/\1/')
  name=${name##*::}
  name=${name%%(*}
  if [[ -n $name && $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
    [[ $text == *"$name"* ]] || { echo "docs/tour.md: $path:$line does not hold \`$name\`: $text"; status=1; }
  elif [[ -z ${text// /} ]]; then
    echo "docs/tour.md: $path:$line is blank or past the end"; status=1
  fi
done < <(tr '\n' ' ' <"$tour" | grep -o '](\.\./[^)#]*#L[0-9]*)[^[]\{0,100\}' |
  sed 's/^](\.\.\/\([^#]*\)#L\([0-9]*\))\(.*\)$/\1\t\2\t\3/')
exit $status
