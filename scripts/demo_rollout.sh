#!/usr/bin/env bash
# A staged rollout across an organisation, end to end, with no AWS account: moto's Organizations
# and IAM with the CloudTrail event history stand-in in front (tests/run_moto.sh), four member
# accounts whose user `builder` has a legacy `Bool` guard and a nightly job signing with a
# long-term access key. Prints every command and its output (the user guide's walkthrough).
#
#   scripts/demo_rollout.sh            # FORCEMFA=target/debug/forcemfa by default
#
# Two rollouts of 1,50%,rest with a 20-second watch: in the first, the job's
# ec2:DescribeInstances is refused in the canary account right after its wave is published (the
# old guard let long-term keys through): the rollout stops and restores that account. In the
# second (a new plan after the job was given MFA; the plan still names the call refused during
# the canary, which the operator accepts), the only refused call is one the old policies never
# allowed either: every wave goes out.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
FORCEMFA="${FORCEMFA:-target/debug/forcemfa}"
[[ -x "$FORCEMFA" ]] || cargo build -q
FORCEMFA="$(realpath "$FORCEMFA")"
eval "$(tests/run_moto.sh start)"
ep="$FORCEMFA_CLOUDTRAIL_ENDPOINT"
py="$root/.venv/bin/python"
work="$(mktemp -d)"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 NO_COLOR=1
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL
tag="demo-$(date +%s)"

# The organisation and its accounts (boto3 against the same endpoint).
"$py" - "$ep" "$tag" >"$work/accounts.json" <<'PY'
import json, sys, boto3
ep, tag = sys.argv[1], sys.argv[2]
LEGACY = {"Version": "2012-10-17", "Statement": [
  {"Sid": "AllowManageOwnMFA", "Effect": "Allow", "Action": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:GetUser", "iam:ListMFADevices", "iam:ResyncMFADevice"],
   "Resource": ["arn:aws:iam::*:mfa/${aws:username}", "arn:aws:iam::*:user/${aws:username}"]},
  {"Sid": "DenyAllExceptListedIfNoMFA", "Effect": "Deny", "NotAction": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:GetUser", "iam:ListMFADevices", "iam:ListVirtualMFADevices", "iam:ResyncMFADevice", "sts:GetSessionToken"],
   "Resource": "*", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}}]}
READ = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ec2:Describe*", "s3:GetObject"], "Resource": "*"}]}
org = boto3.client("organizations", endpoint_url=ep)
try:
    org.create_organization(FeatureSet="ALL")
except org.exceptions.AlreadyInOrganizationException:
    pass
out = []
for n in range(4):
    a = org.create_account(AccountName=f"{tag}-{n}", Email=f"{tag}-{n}@example.com",
                           Tags=[{"Key": "rollout", "Value": tag}])
    acct = a["CreateAccountStatus"]["AccountId"]
    c = boto3.client("sts", endpoint_url=ep).assume_role(
        RoleArn=f"arn:aws:iam::{acct}:role/OrganizationAccountAccessRole", RoleSessionName="seed")["Credentials"]
    iam = boto3.client("iam", endpoint_url=ep, aws_access_key_id=c["AccessKeyId"],
                       aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
    iam.create_user(UserName="builder")
    for name, doc in (("ForceMFA", LEGACY), ("ReadOnlyJobs", READ)):
        arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
        iam.attach_user_policy(UserName="builder", PolicyArn=arn)
    key = iam.create_access_key(UserName="builder")["AccessKey"]["AccessKeyId"]
    out.append({"account": acct, "key": key})
print(json.dumps(out))
PY

# Delivers a refused call by builder's key to CloudTrail once the journal shows the first wave
# published, as CloudTrail would a few minutes after the job ran.
deliver_after_wave_1() { # lines-to-skip journal event-source event-name error-code
    "$py" - "$ep" "$work/accounts.json" "$@" <<'PY'
import json, sys, time, uuid, datetime, urllib.request
ep, accounts, skip, journal, source, name, code = sys.argv[1:8]
skip = int(skip)
keys = {a["account"]: a["key"] for a in json.load(open(accounts))}
deadline = time.time() + 120
while time.time() < deadline:
    try:
        lines = [json.loads(l) for l in list(open(journal))[skip:] if l.strip()]
    except (FileNotFoundError, ValueError):
        lines = []
    began = [i for i, l in enumerate(lines) if l.get("record") == "rollout" and l["event"]["kind"] == "began"]
    if began:
        last = lines[began[-1]:]
        first = last[0]["event"]["waves"][0][0]
        if any(l.get("account") == first and l.get("outcome") == "applied" for l in last):
            break
    time.sleep(0.2)
else:
    sys.exit("wave 1 was never published")
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
record = {"eventVersion": "1.08", "eventTime": now, "eventSource": source, "eventName": name,
          "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": first,
                           "arn": f"arn:aws:iam::{first}:user/builder", "accessKeyId": keys[first], "userName": "builder"},
          "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15 nightly-inventory",
          "errorCode": code, "errorMessage": "You are not authorized to perform this operation.",
          "requestParameters": None, "responseElements": None, "eventID": str(uuid.uuid4()),
          "readOnly": True, "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": first}
body = json.dumps({"account": first, "region": "us-east-1", "records": [record]}).encode()
urllib.request.urlopen(urllib.request.Request(ep + "/__cloudtrail/events", data=body,
                       headers={"Content-Type": "application/json"})).read()
PY
}

show() { echo; echo "\$ forcemfa $*"; "$FORCEMFA" "$@" --endpoint-url "$ep" 2>&1 && echo "(exit 0)" || echo "(exit $?)"; }

cd "$work"
# Only the rollouts this script starts are watched for in the journal.
: >journal.jsonl
show plan --org --tag "rollout=$tag" --out plan.json --quiet
# The records of earlier runs are skipped: counted before the run starts.
n="$(wc -l <journal.jsonl)"
deliver_after_wave_1 "$n" journal.jsonl ec2.amazonaws.com DescribeInstances Client.UnauthorizedOperation &
show apply --plan plan.json --yes --journal journal.jsonl --waves 1,50%,rest --watch 20s
wait
show apply --plan plan.json --yes --journal journal.jsonl --resume
show plan --org --tag "rollout=$tag" --out plan2.json
n="$(wc -l <journal.jsonl)"
deliver_after_wave_1 "$n" journal.jsonl iam.amazonaws.com CreateUser AccessDenied &
show apply --plan plan2.json --yes --accept-impact --journal journal.jsonl --waves 1,50%,rest --watch 20s
wait
show rollback --journal journal.jsonl --yes
rm -rf "$work"
