#!/usr/bin/env bash
# Batch benchmark (docs/performance.md): requests per account for `plan`, and wall time and peak
# memory of `plan` over N accounts × P policies through a proxy adding DELAY_MS per request, at
# several concurrencies. Uses its own moto server (not the tests'), stopped at the end.
#
#   scripts/bench_batch.sh                      # 50 accounts × 10 policies, 100 ms, c = 1 8 32
#   ACCOUNTS=10 CONCURRENCY="1 8" scripts/bench_batch.sh
#   FORCEMFA=target/release/forcemfa scripts/bench_batch.sh
#   RUNS=5 CONCURRENCY=32 FORCEMFA=target/release/forcemfa scripts/bench_batch.sh
#
# With RUNS > 1 each concurrency is timed RUNS times (min / median / max). The per-account critical
# path is the longest chain of requests that wait for one another (AssumeRole, then the longest of:
# the GetAccountAuthorizationDetails pages and the ListPolicyTags after them; the credential report
# requests; the MFA device pages), from the request counts of the first run; the physical limit of
# a run is GetCallerIdentity plus one critical path per round of CONCURRENCY accounts.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
ACCOUNTS="${ACCOUNTS:-50}"
POLICIES="${POLICIES:-10}"
DELAY_MS="${DELAY_MS:-100}"
CONCURRENCY="${CONCURRENCY:-1 8 32}"
RUNS="${RUNS:-1}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
FORCEMFA="${FORCEMFA:-$target_dir/debug/forcemfa}"
py="$root/.venv/bin/python"
[[ -x "$py" ]] || { eval "$(tests/run_moto.sh start)" >/dev/null; tests/run_moto.sh stop; }
[[ -x "$FORCEMFA" ]] || cargo build --quiet
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
"$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
pids+=($!)
moto="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -fsS -o /dev/null "$moto/moto-api/" 2>/dev/null && break; sleep 0.2; done

echo "seeding $ACCOUNTS accounts × $POLICIES policies" >&2
"$py" - "$moto" "$ACCOUNTS" "$POLICIES" "$work/accounts.toml" <<'PY'
import boto3, sys
ep, n, p, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
kw = dict(endpoint_url=ep, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
org = boto3.client("organizations", **kw)
org.create_organization(FeatureSet="ALL")
sts = boto3.client("sts", **kw)
legacy = open("tests/fixtures/policies/2015-blog-force-mfa.json").read()
current = open("tests/fixtures/policies/current-docs-mfa-only.json").read()
noguard = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}'
# Per account: 30% legacy (change), 40% current (unchanged), 30% without guard (skipped).
docs = [legacy if i % 10 < 3 else current if i % 10 < 7 else noguard for i in range(p)]
with open(out, "w") as f:
    f.write('[defaults]\nsession_name = "forcemfa-bench"\n')
    for a in range(n):
        aid = org.create_account(Email=f"bench{a}@example.com", AccountName=f"bench{a}")["CreateAccountStatus"]["AccountId"]
        c = sts.assume_role(RoleArn=f"arn:aws:iam::{aid}:role/OrganizationAccountAccessRole", RoleSessionName="seed")["Credentials"]
        iam = boto3.client("iam", endpoint_url=ep, region_name="us-east-1", aws_access_key_id=c["AccessKeyId"],
                           aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
        for i, d in enumerate(docs):
            iam.create_policy(PolicyName=f"p{i}", PolicyDocument=d)
        f.write(f'\n[[account]]\nid = "{aid}"\nname = "bench{a}"\n')
PY

# Sets proxy (URL) and proxy_pid. Not run in $( ) so that the pid reaches the cleanup list.
start_proxy() { # delay_ms
    : >"$work/proxy.out"
    "$py" tests/moto/faultproxy.py --upstream "$moto" --delay-ms "$1" >"$work/proxy.out" 2>"$work/proxy.err" &
    proxy_pid=$!
    pids+=("$proxy_pid")
    for _ in $(seq 100); do grep -q '^PORT' "$work/proxy.out" 2>/dev/null && break; sleep 0.1; done
    proxy="http://127.0.0.1:$(sed -n 's/^PORT //p' "$work/proxy.out")"
}

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing NO_COLOR=1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

echo "== requests per account (plan, no delay)"
start_proxy 0
"$FORCEMFA" plan --accounts "$work/accounts.toml" --endpoint-url "$proxy" --region us-east-1 -q >/dev/null || true
curl -fsS "$proxy/__stats" >"$work/stats.json"
"$py" - "$work/stats.json" "$ACCOUNTS" "$DELAY_MS" $CONCURRENCY >"$work/critical" <<'PY'
import json, sys, collections, math
s = json.load(open(sys.argv[1]))["requests"]
n, delay, cs = int(sys.argv[2]), int(sys.argv[3]), [int(c) for c in sys.argv[4:]]
per = collections.defaultdict(dict)
for k, v in s.items():
    acct, action = k.split(" ")
    per[acct][action] = v
accts = [a for a in per if a != "base"]
actions = sorted({x for a in accts for x in per[a]})
for x in actions:
    vals = [per[a].get(x, 0) for a in accts]
    print(f"  {x:<34} min {min(vals)}  max {max(vals)}  per account")
print(f"  total per account: {sum(sum(per[a].values()) for a in accts) / len(accts):.1f} ({len(accts)} accounts)")
base = dict(per.get("base", {}))
print(f"  with the operator credentials (once per run): {base}")
def chain(r):
    gaad = r.get("GetAccountAuthorizationDetails", 0) + (1 if r.get("ListPolicyTags", 0) else 0)
    report = r.get("GenerateCredentialReport", 0) + r.get("GetCredentialReport", 0)
    return r.get("AssumeRole", 0) + max(gaad, report, r.get("ListVirtualMFADevices", 0))
longest = max(chain(per[a]) for a in accts)
sequential = max(sum(per[a].values()) for a in accts)
print(f"  per-account critical path: {longest} requests ({sequential} if sent one after another)")
for c in cs:
    limit = (sum(base.values()) + math.ceil(n / c) * longest) * delay / 1000
    print(f"  physical limit at concurrency {c}: {limit:.2f} s (+{delay} ms per request)")
PY
cat "$work/critical"
kill "$proxy_pid" 2>/dev/null || true

start_proxy "$DELAY_MS"
echo "== plan: $ACCOUNTS accounts × $POLICIES policies, +${DELAY_MS} ms per request"
printf '  %-12s %24s %14s %10s\n' concurrency "wall s (min/median/max)" "peak RSS (MB)" "/ limit"
for c in $CONCURRENCY; do
    walls=()
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -v -o "$work/time" "$FORCEMFA" plan --accounts "$work/accounts.toml" \
            --endpoint-url "$proxy" --region us-east-1 --concurrency "$c" -q >"$work/out" 2>&1 || {
            echo "plan failed at concurrency $c:" >&2; cat "$work/out" >&2; exit 1; }
        wall="$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time")"
        rss="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time")"
        walls+=("$(echo "$wall" | awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')")
    done
    stats="$(printf '%s\n' "${walls[@]}" | sort -n | awk '{ v[NR] = $1 } END { printf "%s / %s / %s", v[1], v[int((NR + 1) / 2)], v[NR] }')"
    limit="$(sed -n "s/.*physical limit at concurrency $c: \([0-9.]*\) s.*/\1/p" "$work/critical")"
    median="$(printf '%s\n' "${walls[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
    ratio="$(awk -v m="$median" -v l="$limit" 'BEGIN { if (l > 0) printf "%.2fx", m / l; else print "-" }')"
    printf '  %-12s %24s %14s %10s\n' "$c" "$stats" "$((rss / 1024))" "$ratio"
done
