#!/usr/bin/env bash
# Prints the path of a Python 3.12 interpreter: python3.12 on PATH, else one installed through pyenv.
set -euo pipefail
candidates=(python3.12)
if command -v pyenv >/dev/null 2>&1; then
  candidates+=("$(pyenv root)"/versions/3.12*/bin/python3.12)
fi
for candidate in "${candidates[@]}"; do
  if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then
    command -v "$candidate" || echo "$candidate"
    exit 0
  fi
done
echo "error: Python 3.12 not found. Install it (e.g. 'pyenv install 3.12') so that python3.12 is on PATH." >&2
exit 1
