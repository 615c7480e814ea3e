#!/usr/bin/env bash
# Writes N policy files into DIR for the benchmarks: copies of the published generations
# (tests/fixtures/policies), each with its own account id in place of `*`.
#
#   scripts/gen_policies.sh N DIR
set -euo pipefail
n="$1"
out="$2"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$out"
i=0
while [ "$i" -lt "$n" ]; do
  for f in "$root"/tests/fixtures/policies/*.json; do
    [ "$i" -lt "$n" ] || break
    acct=$(printf '%012d' "$i")
    sed "s/arn:aws:iam::\*:/arn:aws:iam::$acct:/g" "$f" > "$out/p$i.json"
    i=$((i + 1))
  done
done
