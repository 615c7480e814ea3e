#!/usr/bin/env bash
# How long `forcemfa plan` takes over many policy files (issue: "a plan over 1,000 policy files
# should stay under 1.5 s"). Generates N copies of the published generations (each with its own
# account id, so nothing is cached by accident), then times the release binary RUNS times per
# format after one warm-up run, and prints the minimum, median and maximum of the wall time and
# of the CPU time (user + system), and the peak RSS. Quote the median: the machine is shared.
#
#   scripts/bench_plan.sh [N] [RUNS]      # defaults: 1000 files, 5 runs
#   BIN=path/to/forcemfa scripts/bench_plan.sh   # another build (no cargo build then)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
runs="${2:-5}"
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=./target/release/forcemfa
fi
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
scripts/gen_policies.sh "$n" "$dir/policies"
echo "files: $n; binary: $BIN; runs: $runs per format after 1 warm-up; $(nproc) cores"
# min / median / max of the numbers on standard input.
stats() { sort -g | awk '{v[NR]=$1} END {printf "%6.2f %6.2f %6.2f", v[1], v[int((NR+1)/2)], v[NR]}'; }
for fmt in text json; do
  "$BIN" plan --format "$fmt" "$dir/policies" > /dev/null 2>&1
  : > "$dir/times"
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %U %S %M" -o "$dir/one" "$BIN" plan --format "$fmt" "$dir/policies" > /dev/null 2>&1
    cat "$dir/one" >> "$dir/times"
  done
  wall=$(awk '{print $1}' "$dir/times" | stats)
  cpu=$(awk '{print $2 + $3}' "$dir/times" | stats)
  rss=$(awk '{print $4}' "$dir/times" | sort -g | tail -1)
  printf 'plan --format %-5s wall s (min median max) %s | cpu s %s | peak RSS %s KiB\n' "$fmt" "$wall" "$cpu" "$rss"
done
