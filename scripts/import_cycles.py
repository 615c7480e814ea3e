#!/usr/bin/env python3
"""Import circles between the files of every crate of the workspace.

A file depends on another when its production code names an item of that file: in a `use`
declaration (brace lists, `self`, `super`, `crate`, renames and globs included) or in a path
written in the code (`crate::a::f()`, `super::X`, `child::run()`, `alias::f()`). Declaring a child
module (`mod child;`) is not a use of it; a `mod.rs` is a file like any other, so a parent that
calls or re-exports its child while the child imports from the parent is a circle. Test code
(`#[cfg(test)]` items and the files they declare) is left out: tests may reach anywhere.

The crates are `src/` (the root crate: `lib.rs` and `main.rs` each start a module tree) and
`crates/*/src`. Files are found by following `mod` declarations from each crate root, so a file
no module declares is not read.

Exit 0 when there is no circle, 1 when there is one (each is printed with its files and, for each
step, the line that makes it), 2 on a usage error.

Usage: import_cycles.sh [--root DIR] [--verbose] | --self-test
"""

import argparse
import os
import re
import shutil
import signal
import sys
import tempfile

IDENT = r"(?:r#)?[A-Za-z_][A-Za-z0-9_]*"


def blank(text, start, end):
    """Replace text[start:end] with spaces, newlines kept (line numbers stay right)."""
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def strip_comments_and_literals(text):
    """Comments removed, string and character literals emptied; lines kept."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        two = text[i : i + 2]
        if two == "//":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif two == "/*":
            depth, j = 1, i + 2
            while j < n and depth:
                if text[j : j + 2] == "/*":
                    depth, j = depth + 1, j + 2
                elif text[j : j + 2] == "*/":
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:]) and not re.match(r"[A-Za-z0-9_]", text[i - 1 : i] or " "):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            close = '"' + hashes
            j = text.find(close, i + 2 + len(hashes))
            j = n if j < 0 else j + len(close)
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2 : j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2 : j]))
            i = j
        elif c == "'":
            # A character literal ('a', '\n', '\u{1F600}'), not a lifetime ('a).
            m = re.match(r"'(?:\\(?:u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'])'", text[i:])
            if m:
                out.append("' '" + " " * (len(m.group(0)) - 3))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def item_end(code, start):
    """End of the item starting at `start`: after its `;` or its closing brace."""
    depth, i = 0, start
    while i < len(code):
        c = code[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0 and c == "}":
                # `struct S { .. }`, `mod m { .. }`, `fn f() { .. }` end here; `x = { .. };` too.
                rest = code[i + 1 :].lstrip(" \t")
                return i + 1 + (1 if rest.startswith(";") else 0)
        elif c == ";" and depth == 0:
            return i + 1
        i += 1
    return len(code)


ATTR = re.compile(r"#\[[^\]]*\]")
CFG_TEST = re.compile(r"#\[\s*cfg\s*\(\s*(?:all\s*\(\s*)?test\b")


def drop_test_items(code):
    """Every item under `#[cfg(test)]` blanked; returns the code and the test module names."""
    test_mods = set()
    while True:
        m = CFG_TEST.search(code)
        if not m:
            return code, test_mods
        j = m.start()
        # Skip this attribute and any that follow, to the item itself.
        while True:
            a = ATTR.match(code, j)
            if not a:
                break
            j = a.end()
            while j < len(code) and code[j].isspace():
                j += 1
        mm = re.match(r"(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", code[j:])
        if mm:
            test_mods.add(mm.group(1).removeprefix("r#"))
        code = blank(code, m.start(), item_end(code, j))


MOD_DECL = re.compile(
    r"((?:#\[[^\]]*\]\s*)*)(?<![A-Za-z0-9_])(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;"
)
USE_DECL = re.compile(r"(?<![A-Za-z0-9_#:])use\s")


def parse_use_tree(src):
    """The leaves of a use tree: (path segments, name bound or None for a glob)."""
    toks = re.findall(IDENT + r"|::|\{|\}|,|\*", src)
    pos = 0

    def tree(prefix):
        nonlocal pos
        path = list(prefix)
        while pos < len(toks):
            t = toks[pos]
            if t == "::":
                pos += 1
            elif t == "{":
                pos += 1
                leaves = []
                while pos < len(toks) and toks[pos] != "}":
                    if toks[pos] == ",":
                        pos += 1
                        continue
                    leaves += tree(path)
                pos += 1
                return leaves
            elif t == "*":
                pos += 1
                return [(path, None)]
            elif t in (",", "}"):
                break
            elif t == "as":
                pos += 1
                name = toks[pos] if pos < len(toks) else "_"
                pos += 1
                target = path[:-1] if path and path[-1] == "self" else path
                return [(target, name)]
            else:
                path.append(t.removeprefix("r#"))
                pos += 1
        if path and path[-1] == "self":
            path = path[:-1]
        return [(path, path[-1] if path else None)]

    return tree([])


class Crate:
    def __init__(self, name, src_dir):
        self.name = name
        self.src = src_dir
        self.files = {}  # module path (tuple) -> file path
        self.by_file = {}  # file path -> module path


def module_files(crate, root_file):
    """Follow `mod` declarations from a crate root; fill crate.files."""
    todo = [(root_file, ())]
    while todo:
        path, mod_path = todo.pop()
        if path in crate.by_file:
            continue
        crate.files[mod_path] = path
        crate.by_file[path] = mod_path
        code, test_mods = drop_test_items(strip_comments_and_literals(read(path)))
        base = os.path.dirname(path)
        stem = os.path.basename(path)[:-3]
        own_dir = base if stem in ("mod", "lib", "main") or not mod_path else os.path.join(base, stem)
        for m in MOD_DECL.finditer(code):
            name = m.group(2).removeprefix("r#")
            if name in test_mods:
                continue
            explicit = re.search(r'#\[\s*path\s*=\s*"([^"]*)"', read(path)[m.start() : m.end()])
            if explicit:
                candidates = [os.path.join(base, explicit.group(1))]
            else:
                candidates = [os.path.join(own_dir, name + ".rs"), os.path.join(own_dir, name, "mod.rs")]
            for c in candidates:
                if os.path.isfile(c):
                    todo.append((c, mod_path + (name,)))
                    break


_cache = {}


def read(path):
    if path not in _cache:
        with open(path, encoding="utf-8") as f:
            _cache[path] = f.read()
    return _cache[path]


def line_of(text, index):
    return text.count("\n", 0, index) + 1


EXTERNAL = "(another crate)"


class Parsed:
    """One file's `use` leaves, its re-exports and the code left after its `use` declarations."""

    def __init__(self, crate, path):
        self.crate, self.path = crate, path
        self.mod_path = crate.by_file[path]
        code, _ = drop_test_items(strip_comments_and_literals(read(path)))
        self.children = {
            m.group(2).removeprefix("r#")
            for m in MOD_DECL.finditer(code)
            if self.mod_path + (m.group(2).removeprefix("r#"),) in crate.files
        }
        self.aliases = {}  # name bound by `use` -> path from the crate root
        self.uses = []  # (path from the root or None, bound name, is re-export, line, text)
        self.reexports = {}  # name -> path from the root, or EXTERNAL
        for m in USE_DECL.finditer(code):
            end = code.find(";", m.end())
            end = len(code) if end < 0 else end
            text = code[m.end() : end]
            is_pub = re.search(r"(?<![A-Za-z0-9_])pub(?:\s*\([^)]*\))?\s*$", code[: m.start()])
            line = line_of(code, m.start())
            for segs, name in parse_use_tree(text):
                abs_segs = self.absolute(segs)
                if name and name != "_" and abs_segs is not None:
                    self.aliases[name] = abs_segs
                if is_pub and name and name != "_":
                    self.reexports[name] = EXTERNAL if abs_segs is None else abs_segs
                self.uses.append((abs_segs, name, bool(is_pub), line, " ".join(text.split())))
            code = blank(code, m.start(), end + 1)
        self.code = code

    def absolute(self, segs):
        """The path from the crate root, or None when it leaves the crate."""
        if not segs:
            return None
        head, rest = segs[0], list(segs[1:])
        if head == "crate":
            return rest
        if head == "self":
            return list(self.mod_path) + rest
        if head == "super":
            base = list(self.mod_path)
            while segs and segs[0] == "super":
                if not base:
                    return None
                base.pop()
                segs = segs[1:]
            return base + list(segs)
        if head in self.children:
            return list(self.mod_path) + list(segs)
        if head in self.aliases:
            return self.aliases[head] + rest
        return None


def resolve(crate, parsed, abs_segs, depth=0):
    """The files a path from the crate root goes through: the file where the path ends, and, when
    that names a re-export, the files the name is forwarded to (empty when it leaves the crate)."""
    for k in range(len(abs_segs), -1, -1):
        f = crate.files.get(tuple(abs_segs[:k]))
        if not f:
            continue
        if k < len(abs_segs) and depth < 16:
            forwarded = parsed[f].reexports.get(abs_segs[k])
            if forwarded == EXTERNAL:
                return []
            if forwarded is not None and forwarded != abs_segs[: k + 1]:
                return [f] + resolve(crate, parsed, forwarded + abs_segs[k + 1 :], depth + 1)
        return [f]
    return []


def edges_of(crate, parsed, path, reexports_are_uses=False):
    """(target file, line, the path as written) for every item of another file this one names.

    A `pub use` re-export forwards a name: who names it through the re-exporting file depends on
    that file and on the file that defines the name; the re-exporting file itself depends on the
    defining file only where its own code uses the name (a glob re-export, whose names are not
    known here, counts as a use), unless `reexports_are_uses`."""
    me = parsed[path]
    out = []
    for abs_segs, name, is_pub, line, text in me.uses:
        if abs_segs is None:
            continue
        if is_pub and name is not None and not reexports_are_uses:
            used = re.search(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])", me.code)
            if not used:
                continue
        for t in resolve(crate, parsed, abs_segs):
            if t != path:
                out.append((t, line, ("pub use " if is_pub else "use ") + text))
    for m in re.finditer(r"(?<![A-Za-z0-9_:#])(" + IDENT + r"(?:\s*::\s*" + IDENT + r")+)", me.code):
        segs = [s.strip().removeprefix("r#") for s in m.group(1).split("::")]
        abs_segs = me.absolute(segs)
        if abs_segs is None:
            continue
        for t in resolve(crate, parsed, abs_segs):
            if t != path:
                out.append((t, line_of(me.code, m.start()), "::".join(segs)))
    return out


def crates_of(root):
    found = []
    top = os.path.join(root, "src")
    if os.path.isdir(top):
        found.append(("(root)", top))
    cdir = os.path.join(root, "crates")
    if os.path.isdir(cdir):
        for name in sorted(os.listdir(cdir)):
            src = os.path.join(cdir, name, "src")
            if os.path.isdir(src):
                found.append((name, src))
    crates = []
    for name, src in found:
        for root_file in ("lib.rs", "main.rs"):
            p = os.path.join(src, root_file)
            if os.path.isfile(p):
                c = Crate(f"{name} {root_file}", src)
                module_files(c, p)
                crates.append(c)
    return crates


def strongly_connected(nodes, graph):
    """Tarjan's algorithm, iterative."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def shortest_cycle(start, graph, within):
    """The shortest circle through `start` inside one component."""
    prev, queue = {start: None}, [start]
    for v in queue:
        for w in sorted(graph.get(v, ())):
            if w not in within:
                continue
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return None


def check(root, verbose=False, out=sys.stdout, reexports_are_uses=False):
    """Print the circles under `root`; return how many components hold one."""
    root = os.path.abspath(root)
    _cache.clear()
    rel = lambda p: os.path.relpath(p, root)  # noqa: E731
    graph, evidence, nfiles = {}, {}, 0
    crates = crates_of(root)
    if not crates:
        print(f"no crate found under {root} (looked for src/ and crates/*/src)", file=out)
        return -1
    for crate in crates:
        parsed = {path: Parsed(crate, path) for path in crate.by_file}
        for path in sorted(crate.by_file):
            nfiles += 1
            graph.setdefault(path, set())
            for t, line, text in edges_of(crate, parsed, path, reexports_are_uses):
                graph[path].add(t)
                evidence.setdefault((path, t), (line, text))
    if verbose:
        for a in sorted(graph):
            for b in sorted(graph[a]):
                line, text = evidence[(a, b)]
                print(f"{rel(a)} -> {rel(b)}  ({rel(a)}:{line}: {text})", file=out)
    circles = [c for c in strongly_connected(sorted(graph), graph) if len(c) > 1]
    print(
        f"{nfiles} files in {len(crates)} crate trees ({', '.join(c.name for c in crates)})",
        file=out,
    )
    if not circles:
        print("no import circles between files", file=out)
        return 0
    for comp in circles:
        within = set(comp)
        print(f"import circle among {len(comp)} files: {', '.join(rel(f) for f in comp)}", file=out)
        shown = set()
        for f in comp:
            cyc = shortest_cycle(f, graph, within)
            if not cyc:
                continue
            key = frozenset(zip(cyc, cyc[1:]))
            if key in shown:
                continue
            shown.add(key)
            print("  " + " -> ".join(rel(x) for x in cyc), file=out)
            for a, b in zip(cyc, cyc[1:]):
                line, text = evidence[(a, b)]
                print(f"      {rel(a)}:{line}: {text}", file=out)
    return len(circles)


def self_test():
    """A tree with one known circle (through a brace import, `super::` and a call into a child)
    and the look-alikes that are not circles: a child importing its parent that never uses it,
    test code, comments and strings."""
    files = {
        "src/lib.rs": "pub mod a;\npub mod b;\npub mod p;\npub mod r;\n",
        # a -> b/c (brace import, nested path)
        "src/a.rs": "use crate::{b::c::{self, helper}, p};\npub fn fa() { c::g(); }\n",
        "src/b/mod.rs": "pub mod c;\npub fn fb() {}\n",
        # b/c -> a (through super::super); b/c.rs does not touch b/mod.rs's items
        "src/b/c.rs": "pub fn g() { super::super::a::fa(); }\npub fn helper() {}\n",
        # p/mod.rs declares its child and re-exports from it but never uses it; the child imports
        # the parent: no circle. Comments, strings and tests do not count.
        "src/p/mod.rs": "pub mod kid;\npub use kid::k;\npub struct Shared;\n// kid::k() in a comment\n"
        'pub const S: &str = "kid::k";\n#[cfg(test)]\nmod tests {\n    use super::kid::k;\n}\n',
        "src/p/kid.rs": "use super::Shared;\npub fn k() -> Shared { Shared }\n",
        # r/mod.rs dispatches to its child, which imports a name r/mod.rs re-exports: a circle
        # through the parent file even though the name is defined elsewhere.
        "src/r/mod.rs": "mod run;\npub use crate::b::fb as helper;\npub fn go() { run::go() }\n",
        "src/r/run.rs": "use crate::r::helper;\npub fn go() { helper() }\n",
        # a second crate: its parent dispatches to the child that imports it back
        "crates/x/src/lib.rs": "mod cmd;\npub fn run() { cmd::go() }\npub fn shared() {}\n",
        "crates/x/src/cmd/mod.rs": "pub fn go() { crate::shared() }\n",
    }
    tmp = tempfile.mkdtemp(prefix="import-cycles-")
    try:
        for rel_path, text in files.items():
            p = os.path.join(tmp, rel_path)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w", encoding="utf-8") as f:
                f.write(text)
        import io

        buf = io.StringIO()
        n = check(tmp, out=buf)
        report = buf.getvalue()
        expected = [
            "import circle among 2 files: src/a.rs, src/b/c.rs",
            "src/a.rs:1: use crate::{b::c::{self, helper}, p}",
            "src/b/c.rs:1: super::super::a::fa",
            "import circle among 2 files: crates/x/src/cmd/mod.rs, crates/x/src/lib.rs",
            "import circle among 2 files: src/r/mod.rs, src/r/run.rs",
            "src/r/run.rs:1: use crate::r::helper",
        ]
        problems = [f"missing: {e}" for e in expected if e not in report]
        if n != 3:
            problems.append(f"expected 3 circles, found {n}")
        if "p/kid.rs" in report or "p/mod.rs" in report:
            problems.append("a child importing a parent that does not use it was reported")
        # Without the calls back, no circle at all.
        with open(os.path.join(tmp, "src/b/c.rs"), "w", encoding="utf-8") as f:
            f.write("pub fn g() {}\npub fn helper() {}\n")
        with open(os.path.join(tmp, "crates/x/src/cmd/mod.rs"), "w", encoding="utf-8") as f:
            f.write("pub fn go() {}\n")
        with open(os.path.join(tmp, "src/r/run.rs"), "w", encoding="utf-8") as f:
            f.write("use crate::b::fb;\npub fn go() { fb() }\n")
        buf2 = io.StringIO()
        if check(tmp, out=buf2) != 0:
            problems.append("circles reported after they were removed:\n" + buf2.getvalue())
        if problems:
            print("self-test FAILED:\n  " + "\n  ".join(problems) + "\nreport was:\n" + report)
            return 1
        print("self-test passed: known circles (a brace import, super::super, a call into a child "
              "module, a name imported back through its parent) are found, look-alikes are not")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under `| head`
    ap = argparse.ArgumentParser(description="Find import circles between the files of every crate.")
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."),
                    help="the workspace to check (default: this script's workspace)")
    ap.add_argument("--verbose", action="store_true", help="print every dependency between files")
    ap.add_argument("--reexports-are-uses", action="store_true",
                    help="count a `pub use` of another file's item as a use even where unused")
    ap.add_argument("--self-test", action="store_true", help="check the checker on a known tree")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    n = check(args.root, verbose=args.verbose, reexports_are_uses=args.reexports_are_uses)
    return 0 if n == 0 else (2 if n < 0 else 1)


if __name__ == "__main__":
    sys.exit(main())
