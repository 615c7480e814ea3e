#!/usr/bin/env bash
# Import circles between the files of every crate (src/ and crates/*/src): `use` declarations
# (brace lists, self, super, crate) and paths written in the code, a mod.rs counting as a file.
# Prints each circle with its files and the lines that make it; exit 0 when there is none.
# Usage: scripts/import_cycles.sh [--root DIR] [--verbose] [--reexports-are-uses] | --self-test
# (the rules are in scripts/import_cycles.py).
set -euo pipefail
exec python3 "$(dirname "$0")/import_cycles.py" "$@"
