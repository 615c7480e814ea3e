#!/usr/bin/env bash
# How long `forcemfa plan` takes over a mixed infrastructure-as-code tree: N files (default 1,000)
# made from the IaC fixtures (CloudFormation YAML and JSON, Terraform heredoc + jsonencode,
# templatefile templates, a computed policy), each copy with its own account id and resource names,
# spread over folders of 50. Generated in a temporary folder, removed afterwards.
#
#   scripts/bench_iac.sh [N]            # release build (default)
#   PROFILE=dev scripts/bench_iac.sh    # the debug build, no release compile
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
profile="${PROFILE:-release}"
if [ -n "${BIN:-}" ]; then
  bin="$BIN" # an already built binary (no compile)
elif [ "$profile" = release ]; then
  cargo build --release --quiet
  bin=./target/release/forcemfa
else
  cargo build --quiet
  bin=./target/debug/forcemfa
fi
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
sources=(tests/fixtures/iac/mixed/* tests/fixtures/iac/computed/*)
i=0
while [ "$i" -lt "$n" ]; do
  for f in "${sources[@]}"; do
    [ "$i" -lt "$n" ] || break
    sub="$dir/d$((i / 50))"
    mkdir -p "$sub"
    acct=$(printf '%012d' "$i")
    base=$(basename "$f")
    # Unique names per copy; accounts made concrete where the fixture uses `*` or a variable.
    sed -e "s/ForceMfaPolicy/ForceMfaPolicy$i/g" -e "s/force_mfa_/force_mfa_${i}_/g" \
        -e "s/MfaGroup/MfaGroup$i/g" -e "s/not-a-policy/not-a-policy-$acct/g" \
        "$f" > "$sub/$i-$base"
    i=$((i + 1))
  done
done
policies=$("$bin" scan --format json "$dir" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["changes"])+len(d["unchanged"])+len(d["skipped"]))')
echo "files: $n ($policies embedded policies) in $dir, $profile build"
for fmt in text json; do
  start=$(date +%s.%N)
  /usr/bin/time -f "peak RSS %M KiB" "$bin" plan --format "$fmt" "$dir" > /dev/null 2> "$dir/.time" || true
  end=$(date +%s.%N)
  printf 'plan --format %-5s %6.2f s, %s\n' "$fmt" "$(echo "$end - $start" | bc)" "$(tail -1 "$dir/.time")"
done
