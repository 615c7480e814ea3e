#!/usr/bin/env bash
# How long a huge document takes to be reported over IAM's size limit (issue 12: 20,000
# statements, 2.3 MB, took 138 s because the effect diff ran before the size check).
# Generates a force-MFA policy with N extra Allow statements and times `forcemfa plan` on it.
#
#   scripts/bench_huge.sh [N] [BINARY]   # default 20000, target/release/forcemfa (built)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-20000}"
bin="${2:-target/release/forcemfa}"
if [ "$bin" = target/release/forcemfa ]; then cargo build --release --quiet; fi
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
python3 - "$n" tests/fixtures/policies/2018-docs-listusers.json > "$dir/huge.json" <<'PY'
import json, sys
n, path = int(sys.argv[1]), sys.argv[2]
doc = json.load(open(path))
for i in range(n):
    doc["Statement"].append({"Sid": f"Extra{i}", "Effect": "Allow",
        "Action": [f"s3:GetObject{i}", "s3:ListBucket"],
        "Resource": f"arn:aws:s3:::bucket-{i}/*"})
print(json.dumps(doc, indent=4))
PY
printf 'document: %d extra statements, %d bytes\n' "$n" "$(wc -c < "$dir/huge.json")"
start=$(date +%s.%N)
"$bin" plan --color never "$dir/huge.json" > "$dir/out" 2>&1 || true
end=$(date +%s.%N)
printf 'plan: %.2f s; ' "$(echo "$end - $start" | bc)"
grep -oE 'over the (size )?limit of [0-9]+' "$dir/out" | head -1 || echo "NOT reported over the size limit"
