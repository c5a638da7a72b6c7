#!/usr/bin/env bash
# Print the path of a Python >= 3.12 interpreter, or explain why there is none and exit 1.
# Order: $PYTHON, then python3.13 / python3.12 on PATH that actually run, then pyenv's installed versions.
set -u

is_ok() {  # is_ok CMD...: the interpreter runs and is >= 3.12
  "$@" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}

resolve() {  # print the real executable behind CMD... (pyenv shims are not stable paths)
  "$@" -c 'import sys; print(sys.executable)'
}

if [ -n "${PYTHON:-}" ]; then
  if is_ok "$PYTHON"; then resolve "$PYTHON"; exit 0; fi
  echo "PYTHON=$PYTHON does not run or is older than 3.12." >&2
  exit 1
fi

for cmd in python3.13 python3.12; do
  if command -v "$cmd" >/dev/null 2>&1 && is_ok "$cmd"; then resolve "$cmd"; exit 0; fi
done

if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for version in $(pyenv versions --bare 2>/dev/null | sort -t. -k1,1nr -k2,2nr -k3,3nr); do
    for candidate in "$root/versions/$version/bin/python3"; do
      if [ -x "$candidate" ] && is_ok "$candidate"; then resolve "$candidate"; exit 0; fi
    done
  done
fi

{
  echo "ww_bayes needs Python >= 3.12 (pymc 6 and arviz 1 do not install on older Pythons), and none was found."
  echo "Tried: \$PYTHON, python3.13, python3.12 on PATH, and pyenv's installed versions."
  echo "Install one (for example 'pyenv install 3.12') or point PYTHON at it: make demo PYTHON=/path/to/python3.12"
} >&2
exit 1
