#!/usr/bin/env bash
# How long `forcemfa plan` takes over many policy files (issue: "a plan over 1,000 policy files
# should stay interactive"). Generates N copies of the published generations (each with its own
# account id, so nothing is cached by accident), then times the release binary.
#
#   scripts/bench_plan.sh [N]      # default 1000
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
cargo build --release --quiet
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
i=0
while [ "$i" -lt "$n" ]; do
  for f in tests/fixtures/policies/*.json; do
    [ "$i" -lt "$n" ] || break
    acct=$(printf '%012d' "$i")
    sed "s/arn:aws:iam::\*:/arn:aws:iam::$acct:/g" "$f" > "$dir/p$i.json"
    i=$((i + 1))
  done
done
echo "files: $n in $dir"
for fmt in text json; do
  start=$(date +%s.%N)
  /usr/bin/time -f "peak RSS %M KiB" ./target/release/forcemfa plan --format "$fmt" "$dir" > /dev/null 2> "$dir/.time" || true
  end=$(date +%s.%N)
  printf 'plan --format %-5s %6.2f s, %s\n' "$fmt" "$(echo "$end - $start" | bc)" "$(tail -1 "$dir/.time")"
done
