#!/usr/bin/env bash
# Import circles between the modules of src/: reads every `crate::MODULE` (top level) and
# `crate::PART::MODULE` (inside commands/ and sources/) reference and reports any cycle.
# Exit 0 when there is none. Usage: scripts/import_cycles.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python3 - <<'PY'
import os, re, sys

def module_of(path):
    rel = os.path.relpath(path, "src")[:-3]
    parts = rel.split(os.sep)
    if parts[-1] == "mod":
        parts = parts[:-1]
    return parts

edges = {}
for root, _, files in os.walk("src"):
    for f in files:
        if not f.endswith(".rs"):
            continue
        p = os.path.join(root, f)
        m = module_of(p)
        if not m:
            continue
        text = open(p, encoding="utf-8").read()
        # Test modules may reach anywhere; only production code counts.
        text = text.split("#[cfg(test)]")[0]
        # Comments and doc links name modules without importing them.
        text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("//"))
        for level in (1, 2):
            if len(m) < level:
                continue
            me = "::".join(m[:level])
            for ref in re.findall(r"crate::((?:[a-z_]+::)*[a-z_]+)", text):
                r = ref.split("::")[:level]
                if len(r) < level or r[:level - 1] != m[:level - 1]:
                    continue
                other = "::".join(r)
                if other != me:
                    edges.setdefault(me, set()).add(other)

def cycle_from(start):
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for nxt in edges.get(node, ()):
            if nxt == start:
                return path + [start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None

found = set()
for n in sorted(edges):
    c = cycle_from(n)
    if c:
        found.add(" -> ".join(c))
top = sorted({n for n in edges if "::" not in n} | {t for v in edges.values() for t in v if "::" not in t})
print(f"top-level modules of src/: {len(top)} ({', '.join(top)})")
if found:
    print("import circles:")
    for c in sorted(found):
        print("  " + c)
    sys.exit(1)
print("no import circles")
PY
