#!/usr/bin/env bash
# Run every fuzz target (or the ones named) for SECONDS each, on one core, seeded from the
# fixtures. Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     # default 60 s, every target
#
# Corpora live in fuzz/corpus/TARGET (not committed); seeds are copied from tests/fixtures on
# each run. Crashes land in fuzz/artifacts/TARGET. The last line of each run shows its
# execution count ("Done N runs").
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: needs the nightly toolchain and cargo-fuzz: rustup toolchain install nightly && cargo install cargo-fuzz" >&2
  exit 1
fi
secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
seed() {
  local target="$1" dir="fuzz/corpus/$1"
  mkdir -p "$dir"
  case "$target" in
    policy_plan) cp tests/fixtures/policies/*.json tests/fixtures/variants/*.json "$dir"/ 2>/dev/null || true ;;
    accounts) cp tests/fixtures/accounts/* "$dir"/ 2>/dev/null || true ;;
    journal | plan_file) cp tests/fixtures/fuzz/"$target"/* "$dir"/ 2>/dev/null || true ;;
    # The first byte picks the file name (the syntax): 0 YAML, 1 JSON, 2 Terraform, 3 template.
    iac_roundtrip)
      for f in tests/fixtures/iac/*/*; do
        case "$f" in
          *.yaml | *.yml) b=0 ;; *.json) b=1 ;; *.tf) b=2 ;; *.tpl) b=3 ;; *) continue ;;
        esac
        { printf "\\x0$b"; cat "$f"; } > "$dir/$(basename "$f")"
      done ;;
    *) ;;
  esac
}
for t in "${targets[@]}"; do
  seed "$t"
  echo "== $t ($secs s)"
  cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -jobs=1 -workers=1 \
    -max_len=65536 -print_final_stats=1 2>&1 | grep -E "^(Done|stat::number_of_executed_units|==[0-9]+== ERROR|SUMMARY)|panicked" || true
done
