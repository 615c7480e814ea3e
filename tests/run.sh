#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, unit, integration (against moto's
# server, installed into .venv and started here), property and snapshot tests, doc tests.
# Snapshots are never written here (INSTA_UPDATE=no): review changes with `cargo insta review`.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export INSTA_UPDATE=no
export RUST_BACKTRACE=1

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
for comp in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$comp"; then
    rustup component add "$comp"
  fi
done
cargo --version

step "cargo fmt --check"
cargo fmt --all -- --check

step "no import circles between files (the checker checked first on a tree with known circles)"
scripts/import_cycles.sh --self-test
scripts/import_cycles.sh

step "no function over 120 and no file over 800 lines of code (the checker checked first on a known tree)"
python3 scripts/sizes.py --self-test
python3 scripts/sizes.py

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

if [ -x tests/run_moto.sh ]; then
  step "moto server (local virtualenv)"
  eval "$(tests/run_moto.sh start)"
  trap 'tests/run_moto.sh stop' EXIT
fi

step "cargo test"
log=$(mktemp)
status=0
{ cargo test --workspace --doc --locked && cargo test --workspace --all-targets --locked; } 2>&1 | tee "$log" || status=$?
# One closing line over every test binary, so the total is what a reader (or CI) sees last.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
