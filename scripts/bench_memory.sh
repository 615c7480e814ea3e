#!/usr/bin/env bash
# Peak memory of `forcemfa plan` over many policy files: it should stay flat in the number of
# files (the report is printed item by item as planning finishes each file). Generates N files
# as scripts/bench_plan.sh does (copies of the published generations, each with its own account
# id), then runs the binary once per case and prints wall time and peak RSS as
# `/usr/bin/time -f "%e s %M KiB"` reports them, and the size of what was written:
#   text    plan --format text DIR > /dev/null
#   json    plan --format json DIR > FILE
#   out     plan --format text --out PLAN DIR > /dev/null   (the saved plan holds every change)
#
#   scripts/bench_memory.sh [N...]          # defaults: 1000 10000; builds the release binary
#   BIN=path/to/forcemfa scripts/bench_memory.sh 10000   # another build (no cargo build then)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$#" -gt 0 ] || set -- 1000 10000
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=./target/release/forcemfa
fi
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
echo "binary: $BIN; $(nproc) cores"
for n in "$@"; do
  rm -rf "$dir/policies"
  scripts/gen_policies.sh "$n" "$dir/policies"
  for case in text json out; do
    rm -f "$dir/report" "$dir/plan.json"
    args=(plan --format text "$dir/policies")
    case "$case" in
      json) args=(plan --format json "$dir/policies") ;;
      out) args=(plan --format text --out "$dir/plan.json" "$dir/policies") ;;
    esac
    # Exit 0 or 2 (changes pending) is a run; anything else is reported.
    set +e
    /usr/bin/time -f "%e s %M KiB" -o "$dir/time" "$BIN" "${args[@]}" > "$dir/report" 2> "$dir/err"
    code=$?
    set -e
    written=$(wc -c < "$dir/report")
    [ "$case" = out ] && written=$(wc -c < "$dir/plan.json")
    printf '%6d files  %-4s  %s  exit %d  written %d bytes\n' "$n" "$case" "$(tail -1 "$dir/time")" "$code" "$written"
  done
done
