#!/usr/bin/env bash
# Every tracked C++ file is formatted as .clang-format says (Debian clang-format 14). Prints the
# files that differ and how to fix them; exit 1 if any. Generated tables opt out with
# "// clang-format off" in the file itself.
#   bash tests/format/check_format.sh            # check (ctest: format_clang_format)
#   bash tests/format/check_format.sh --fix      # reformat in place
set -euo pipefail
cd "$(dirname "$0")/../.."
tool=${CLANG_FORMAT:-clang-format}
if ! command -v "$tool" >/dev/null 2>&1; then
  echo "[format] skipped: $tool not found (Debian: apt-get install clang-format)" >&2
  exit 77
fi
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' '*.cc' 2>/dev/null || true)
if ((${#files[@]} == 0)); then
  # Not a git checkout (a source tarball): check every C++ file under the source folders.
  mapfile -t files < <(find io model stats runner tests bench -name '*.cpp' -o -name '*.hpp')
fi
if [[ ${1:-} == --fix ]]; then
  "$tool" -i "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  [[ -f $f ]] || continue
  if ! "$tool" --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if ((${#bad[@]})); then
  echo "[format] ${#bad[@]} file(s) differ from .clang-format:" >&2
  printf '  %s\n' "${bad[@]}" >&2
  echo "[format] fix: bash tests/format/check_format.sh --fix (or clang-format -i FILE)" >&2
  exit 1
fi
echo "[format] ${#files[@]} files formatted as .clang-format says"
