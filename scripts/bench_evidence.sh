#!/usr/bin/env bash
# Evidence benchmark (docs/performance.md): CloudTrail event history lookups per affected key and
# wall time per account for `plan`, against its own moto server and CloudTrail stand-in
# (tests/moto/cloudtrail.py, which answers 2 lookups per second per account and Region, 50 events
# a page), both stopped at the end.
#
#   scripts/bench_evidence.sh                        # 10 users with a key, 120 events each, 1 Region
#   USERS=20 EVENTS=300 REGIONS="us-east-1 eu-west-1" scripts/bench_evidence.sh
#   FORCEMFA=target/release/forcemfa scripts/bench_evidence.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
USERS="${USERS:-10}"
EVENTS="${EVENTS:-120}"
REGIONS="${REGIONS:-us-east-1}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
FORCEMFA="${FORCEMFA:-$target_dir/debug/forcemfa}"
py="$root/.venv/bin/python"
[[ -x "$py" ]] || { eval "$(tests/run_moto.sh start)" >/dev/null; tests/run_moto.sh stop; }
[[ -x "$FORCEMFA" ]] || cargo build --quiet
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
port="$(free_port)"
"$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
pids+=($!)
moto="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -fsS -o /dev/null "$moto/moto-api/" 2>/dev/null && break; sleep 0.2; done
fport="$(free_port)"
"$py" tests/moto/cloudtrail.py --upstream "$moto" --port "$fport" >"$work/front.log" 2>&1 &
pids+=($!)
front="http://127.0.0.1:$fport"
for _ in $(seq 100); do curl -fsS -o /dev/null "$front/__cloudtrail/stats" 2>/dev/null && break; sleep 0.1; done

echo "seeding $USERS users with a key and $EVENTS events each in: $REGIONS" >&2
"$py" - "$moto" "$front" "$USERS" "$EVENTS" "$REGIONS" <<'PY'
import boto3, json, sys, time, urllib.request
moto, front, users, events, regions = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5].split()
kw = dict(endpoint_url=moto, region_name="us-east-1", aws_access_key_id="AKIABENCHOPERATOR", aws_secret_access_key="x")
iam = boto3.client("iam", **kw)
account = boto3.client("sts", **kw).get_caller_identity()["Account"]
# A community-style guard written with `Bool`: the upgrade to BoolIfExists refuses key calls.
legacy = json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "DenyAllExceptListedIfNoMFA",
    "Effect": "Deny", "NotAction": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:GetUser",
    "iam:ListMFADevices", "iam:ListVirtualMFADevices", "iam:ResyncMFADevice", "sts:GetSessionToken"],
    "Resource": "*", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}}]})
arn = iam.create_policy(PolicyName="force-mfa", PolicyDocument=legacy)["Policy"]["Arn"]
read = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*"],"Resource":"*"}]}'
iam.create_group(GroupName="devs")
iam.attach_group_policy(GroupName="devs", PolicyArn=arn)
iam.attach_group_policy(GroupName="devs", PolicyArn=iam.create_policy(PolicyName="read", PolicyDocument=read)["Policy"]["Arn"])
def post(path, body):
    req = urllib.request.Request(front + path, data=json.dumps(body).encode(), method="POST")
    urllib.request.urlopen(req).read()
post("/__cloudtrail/keys", {"AKIABENCHOPERATOR": account})
now = time.time()
for u in range(users):
    name = f"user{u:03}"
    iam.create_user(UserName=name)
    iam.add_user_to_group(GroupName="devs", UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    boto3.client("iam", endpoint_url=moto, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                 aws_secret_access_key=key["SecretAccessKey"]).get_user()
    for region in regions:
        recs = []
        for e in range(events):
            t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600 - e * 600))
            recs.append({"eventVersion": "1.08", "eventID": f"{name}-{region}-{e}", "eventTime": t,
                "eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances", "awsRegion": region,
                "eventType": "AwsApiCall", "recipientAccountId": account,
                "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{account}:user/{name}",
                    "accountId": account, "accessKeyId": key["AccessKeyId"], "userName": name}})
        post("/__cloudtrail/events", {"account": account, "region": region, "records": recs})
print(account)
PY

regions_csv="$(echo "$REGIONS" | tr ' ' ',')"
start=$(date +%s.%N)
AWS_ACCESS_KEY_ID=AKIABENCHOPERATOR AWS_SECRET_ACCESS_KEY=x "$FORCEMFA" plan --format json \
    --endpoint-url "$front" --region us-east-1 --evidence-regions "$regions_csv" >"$work/plan.json"
end=$(date +%s.%N)
curl -fsS "$front/__cloudtrail/stats" >"$work/stats.json"
"$py" - "$work/plan.json" "$work/stats.json" "$start" "$end" "$USERS" "$EVENTS" "$REGIONS" <<'PY'
import json, sys
plan, stats = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
wall = float(sys.argv[4]) - float(sys.argv[3])
users, events, regions = int(sys.argv[5]), int(sys.argv[6]), sys.argv[7].split()
ps = [p for c in plan["changes"] for p in (c.get("impact") or {}).get("principals", [])]
ev = [p for p in ps if p.get("evidence", {}).get("source") == "event-history"]
lookups = len(stats["lookups"])
print(f"users with a key: {users}, events per user and Region: {events}, Regions: {len(regions)}")
print(f"principals with evidence: {len(ev)}, loses-access: {sum(p['verdict'] == 'loses-access' for p in ev)}")
print(f"lookups: {lookups} ({stats['pages']} pages, {stats['throttled']} throttled over the rate, "
      f"{stats['unread_pages']} pages unread); per affected key: {lookups / max(users, 1):.1f}")
print(f"most lookups in one second per Region: {stats['max_per_second']}")
print(f"wall time for the account: {wall:.1f} s")
PY
