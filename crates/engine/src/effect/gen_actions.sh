#!/bin/sh
# Regenerates the action lines of iam_sts_actions.txt from the installed AWS SDK crates (the header is kept
# by hand). Usage: sh crates/engine/src/effect/gen_actions.sh > /tmp/actions && diff <(grep -v '^#' crates/engine/src/effect/iam_sts_actions.txt) /tmp/actions
set -eu
REG="${CARGO_HOME:-$HOME/.cargo}/registry/src"
ops() { # $1 = crate dir glob, $2 = service prefix
    for dir in $(ls -d $REG/*/$1 | sort -V | tail -1); do
        for f in "$dir"/src/operation/*.rs; do
            grep -ohE '\.operation_name\("[A-Za-z0-9]+"\)' "$f" | head -1
        done | sed -E "s/.*\(\"(.*)\"\)/$2:\1/"
    done
}
{
    ops 'aws-sdk-iam-*' iam
    ops 'aws-sdk-sts-*' sts
    printf 'iam:PassRole\nsts:TagSession\nsts:SetSourceIdentity\nsts:SetContext\nsts:GetServiceBearerToken\n'
} | LC_ALL=C sort -f -u
