#!/usr/bin/env bash
# Usage: scripts/compare_outputs.sh OLD_BINARY NEW_BINARY   (from the repository root)
# Compares the output (stdout, stderr, exit code) of plan/scan/explain over examples, corpus and
# fixtures between two builds (the commit before a refactor and the one after, say). Prints DIFF
# lines and exits 1 when any run differs; sources that are absent (../shared/corpus on a fresh
# clone) are skipped.
#   git worktree add /tmp/before REV && (cd /tmp/before && cargo build) &&
#   cargo build && scripts/compare_outputs.sh /tmp/before/target/debug/forcemfa target/debug/forcemfa
set -u
old="${1:?usage: scripts/compare_outputs.sh OLD_BINARY NEW_BINARY}"; new="${2:?usage: scripts/compare_outputs.sh OLD_BINARY NEW_BINARY}"
out=$(mktemp -d)
n=0; bad=0
run() { # name args...
  local name="$1"; shift
  for b in old new; do
    local bin=$old; [ $b = new ] && bin=$new
    (NO_COLOR=1 "$bin" "$@" >"$out/$b.out" 2>"$out/$b.err"; echo "exit $?" >>"$out/$b.err")
  done
  n=$((n+1))
  if ! cmp -s "$out/old.out" "$out/new.out" || ! cmp -s "$out/old.err" "$out/new.err"; then
    bad=$((bad+1)); echo "DIFF: $*"; diff "$out/old.out" "$out/new.out" | head -5; diff "$out/old.err" "$out/new.err" | head -5
  fi
}
srcs="docs/examples ../shared/corpus/real ../shared/corpus/community ../shared/corpus/iac-real tests/fixtures/policies tests/fixtures/iac tests/fixtures/variants"
for s in $srcs; do
  [ -e "$s" ] || continue
  for f in text json markdown; do
    run "plan" plan --format $f "$s"
    run "plan-v" plan -v --format $f "$s"
    run "scan" scan --format $f "$s"
  done
  run "scan-sarif" scan --format sarif "$s"
done
for f in docs/examples/*.json ../shared/corpus/real/*.json; do
  [ -f "$f" ] || continue
  run explain explain "$f"
  run explain-json explain --format json "$f"
done
run migrations migrations list
echo "compared $n runs, $bad differ"
rm -rf "$out"
[ "$bad" -eq 0 ]
