#!/usr/bin/env python3
"""Size measures of the production code of every crate (src/ and crates/*/src).

- No function over FN_LIMIT lines; no file over FILE_LIMIT lines.
- A line counts when it holds code: blank lines and lines holding only a comment do not (as
  clippy's `too_many_lines` counts); the lines of a string literal do.
- Test code does not count: items under `#[cfg(test)]` (a `mod tests { .. }`, a test helper)
  and the files such a `mod` declares (`#[cfg(test)] mod tests;`).
- A function runs from the line of its `fn` to its closing brace, by brace matching with
  comments, strings and character literals set aside; a function nested in another counts in
  both.

What exceeds a limit is printed, one line each, and the exit status is 1, unless the file or
function is in ALLOWED below with the reason it is clearer whole (docs/architecture.md says so
too). An ALLOWED entry that no longer exceeds its limit is an error as well: remove it.

Usage: sizes.py [--root DIR] [--top N] | --self-test
"""

import argparse
import os
import re
import shutil
import signal
import sys
import tempfile

FN_LIMIT = 120
FILE_LIMIT = 800

# "path" for a file, "path::fn_name" for a function (every function of that name in the file),
# each with the one-line reason splitting it would make it less clear.
ALLOWED = {}

IDENT = r"(?:r#)?[A-Za-z_][A-Za-z0-9_]*"
CFG_TEST = re.compile(r"#\[\s*cfg\s*\(\s*(?:all\s*\(\s*)?test\b")
ATTR = re.compile(r"#\[[^\]]*\]")
FN = re.compile(r"(?<![A-Za-z0-9_])fn\s+(" + IDENT + r")")


def mask(text):
    """Two views of `text`, same length and lines: `braces` with comments and the contents of
    string and character literals blanked (for matching brackets), and `lines` with only the
    comments blanked (for telling code lines from blank and comment lines)."""
    braces, lines = [], []
    i, n = 0, len(text)

    def keep_newlines(s, fill):
        return re.sub(r"[^\n]", fill, s)

    while i < n:
        c, two = text[i], text[i : i + 2]
        if two == "//":
            j = text.find("\n", i)
            j = n if j < 0 else j
            braces.append(" " * (j - i))
            lines.append(" " * (j - i))
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
            braces.append(keep_newlines(text[i:j], " "))
            lines.append(keep_newlines(text[i:j], " "))
            i = j
        elif re.match(r'b?r#*"', text[i:]) and not re.match(r"[A-Za-z0-9_]", text[i - 1 : i] or " "):
            m = re.match(r'(b?r)(#*)"', text[i:])
            close = '"' + m.group(2)
            j = text.find(close, i + len(m.group(0)))
            j = n if j < 0 else j + len(close)
            braces.append(keep_newlines(text[i:j], "s"))
            lines.append(text[i:j])
            i = j
        elif c == '"' or (two == 'b"' and not re.match(r"[A-Za-z0-9_]", text[i - 1 : i] or " ")):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            braces.append(keep_newlines(text[i:j], "s"))
            lines.append(text[i:j])
            i = j
        elif c == "'":
            # A character literal ('a', '\n', '\u{1F600}', '{'), not a lifetime ('a).
            m = re.match(r"'(?:\\(?:u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'])'", text[i:])
            if m:
                braces.append("c" * len(m.group(0)))
                lines.append(m.group(0))
                i += len(m.group(0))
            else:
                braces.append(c)
                lines.append(c)
                i += 1
        else:
            braces.append(c)
            lines.append(c)
            i += 1
    return "".join(braces), "".join(lines)


def block_end(code, start):
    """Index just past the item starting at `start` in the masked code: its `;` (outside
    parentheses and brackets: `[u8; 4]` is a type) or its closing brace; None when unbalanced."""
    depth, i, n = 0, start, len(code)
    while i < n:
        c = code[i]
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == ";" and depth == 0:
            return i + 1
        elif c == "{" and depth == 0:
            level, j = 0, i
            while j < n:
                if code[j] == "{":
                    level += 1
                elif code[j] == "}":
                    level -= 1
                    if level == 0:
                        return j + 1
                j += 1
            return None
        i += 1
    return None


def drop_test_items(braces, lines):
    """Both views with every item under `#[cfg(test)]` blanked; and the test modules declared
    (`#[cfg(test)] mod name;`)."""
    test_mods = set()
    pos = 0
    while True:
        m = CFG_TEST.search(braces, pos)
        if not m:
            return braces, lines, test_mods
        j = m.start()
        while True:
            a = ATTR.match(braces, j)
            if not a:
                break
            j = a.end()
            while j < len(braces) and braces[j].isspace():
                j += 1
        mm = re.match(r"(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", braces[j:])
        if mm:
            test_mods.add(mm.group(1).removeprefix("r#"))
        end = block_end(braces, j) or len(braces)
        gap = re.sub(r"[^\n]", " ", braces[m.start() : end])
        braces = braces[: m.start()] + gap + braces[end:]
        lines = lines[: m.start()] + gap + lines[end:]
        pos = m.start() + 1


def code_lines(lines_view, first, last):
    """Lines first..=last (0-based) of the comment-blanked view that hold code."""
    rows = lines_view.split("\n")[first : last + 1]
    return sum(1 for r in rows if r.strip())


def measure(text):
    """(code lines of the file, [(fn name, 1-based line, code lines)]) of its production code;
    and the test modules it declares."""
    braces, lines = mask(text)
    braces, lines, test_mods = drop_test_items(braces, lines)
    total = code_lines(lines, 0, lines.count("\n"))
    fns = []
    for m in FN.finditer(braces):
        end = block_end(braces, m.end())
        if end is None or braces[end - 1] != "}":
            continue  # a declaration without a body (in a trait), or unbalanced text
        first = braces.count("\n", 0, m.start())
        last = braces.count("\n", 0, end - 1)
        fns.append((m.group(1).removeprefix("r#"), first + 1, code_lines(lines, first, last)))
    return total, fns, test_mods


def rust_files(root):
    """Every .rs file of src/ and crates/*/src, relative to root, sorted."""
    tops = [os.path.join(root, "src")]
    crates = os.path.join(root, "crates")
    if os.path.isdir(crates):
        tops += [os.path.join(crates, c, "src") for c in sorted(os.listdir(crates))]
    out = []
    for top in tops:
        for d, _, names in os.walk(top):
            out += [os.path.relpath(os.path.join(d, f), root) for f in names if f.endswith(".rs")]
    return sorted(out)


def test_files(path, test_mods):
    """The files (and folders) the test modules declared by `path` live in."""
    d, base = os.path.split(path)
    if base not in ("mod.rs", "lib.rs", "main.rs"):
        d = os.path.join(d, base[: -len(".rs")])
    out = set()
    for name in test_mods:
        out |= {os.path.join(d, name + ".rs"), os.path.join(d, name) + os.sep}
    return out


def check(root, top=0, out=sys.stdout):
    """Print what exceeds the limits (and stale ALLOWED entries); the number of problems."""
    measured, tests = {}, set()
    for path in rust_files(root):
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            total, fns, test_mods = measure(f.read())
        measured[path] = (total, fns)
        tests |= test_files(path, test_mods)

    def is_test(path):
        return path in tests or any(t.endswith(os.sep) and path.startswith(t) for t in tests)

    problems, allowed_hit, rows, n_files = 0, set(), [], 0
    for path, (total, fns) in measured.items():
        if is_test(path):
            continue
        n_files += 1
        rows.append((total, path))
        if total > FILE_LIMIT:
            if path in ALLOWED:
                allowed_hit.add(path)
            else:
                problems += 1
                print(f"{path}: {total} lines of code (limit {FILE_LIMIT})", file=out)
        for name, line, n in fns:
            rows.append((n, f"{path}:{line} fn {name}"))
            if n > FN_LIMIT:
                key = f"{path}::{name}"
                if key in ALLOWED:
                    allowed_hit.add(key)
                else:
                    problems += 1
                    print(f"{path}:{line}: fn {name}: {n} lines of code (limit {FN_LIMIT})", file=out)
    for key in sorted(set(ALLOWED) - allowed_hit):
        problems += 1
        print(f"{key}: allowed to exceed a limit but does not (any more): remove it from ALLOWED",
              file=out)
    for n, what in sorted(rows, reverse=True)[:top]:
        print(f"{n:6} {what}", file=out)
    if problems == 0:
        print(f"{len(rows) - n_files} functions in {n_files} files within the limits "
              f"(function {FN_LIMIT}, file {FILE_LIMIT} lines of code; {len(ALLOWED)} allowed)",
              file=out)
    return problems


def self_test():
    """A tree with known offenders and look-alikes: braces in strings, comments and character
    literals, a `[u8; 4]` in a signature, test modules inline and in their own file."""
    global FN_LIMIT, FILE_LIMIT
    body = "    let x = 1;\n" * 5
    files = {
        # 1 + 2 + 5 + 1 = 9 lines of code in `long`: over a limit of 8; 10 in the file.
        "src/lib.rs": "mod a;\n#[cfg(test)]\nmod tests;\n\nfn long(q: [u8; 4]) -> usize {\n"
        "    // a comment line does not count\n\n    let s = \"}}}\";\n    let c = '}';\n"
        + body + "}\n",
        # A string that spans lines counts its lines; braces inside it and in a raw string or a
        # block comment do not end the function: 1 + 4 + 1 + 5 + 1 = 12 lines, the file's too.
        "src/a.rs": "pub fn spans() {\n    let t = \"{\n{\n{\n\";\n    let r = r#\"}\"#;\n"
        "    /* } */\n" + body + "}\n"
        "#[cfg(test)]\nmod tests {\n    fn huge() {\n" + body * 4 + "    }\n}\n",
        "src/tests.rs": "fn test_helper() {\n" + body * 4 + "}\n",
        "crates/x/src/lib.rs": "trait T {\n    fn declared(&self);\n}\npub fn short() {\n"
        + body[:30] + "}\n",
    }
    tmp = tempfile.mkdtemp(prefix="sizes-")
    saved = (FN_LIMIT, FILE_LIMIT, dict(ALLOWED))
    try:
        for rel_path, text in files.items():
            p = os.path.join(tmp, rel_path)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w", encoding="utf-8") as f:
                f.write(text)
        import io

        FN_LIMIT, FILE_LIMIT = 8, 11
        buf = io.StringIO()
        n = check(tmp, out=buf)
        report = buf.getvalue()
        expected = [
            "src/lib.rs:5: fn long: 9 lines of code (limit 8)",
            "src/a.rs:1: fn spans: 12 lines of code (limit 8)",
            "src/a.rs: 12 lines of code (limit 11)",
        ]
        problems = [f"missing: {e}" for e in expected if e not in report]
        if n != 3:
            problems.append(f"expected 3 offenders, found {n}")
        for wrong in ("huge", "test_helper", "tests.rs", "declared", "short"):
            if wrong in report:
                problems.append(f"reported what is within the limits or test code: {wrong}")
        # Allowed offenders pass; an allowed entry within the limits is an error.
        ALLOWED.clear()
        ALLOWED.update({"src/a.rs": "t", "src/lib.rs::long": "t", "src/a.rs::spans": "t"})
        if check(tmp, out=io.StringIO()) != 0:
            problems.append("allowed offenders reported")
        ALLOWED["crates/x/src/lib.rs::short"] = "t"
        buf2 = io.StringIO()
        if check(tmp, out=buf2) != 1 or "remove it from ALLOWED" not in buf2.getvalue():
            problems.append("a stale allowed entry was not reported")
        if problems:
            print("self-test FAILED:\n  " + "\n  ".join(problems) + "\nreport was:\n" + report)
            return 1
        print("self-test passed: long functions and files are found, braces in strings, "
              "comments and character literals, trait declarations and test code are not")
        return 0
    finally:
        FN_LIMIT, FILE_LIMIT = saved[0], saved[1]
        ALLOWED.clear()
        ALLOWED.update(saved[2])
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under `| head`
    ap = argparse.ArgumentParser(description="Functions and files over the size limits.")
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."),
                    help="the workspace to check (default: this script's workspace)")
    ap.add_argument("--top", type=int, default=0, metavar="N",
                    help="also print the N largest functions and files")
    ap.add_argument("--self-test", action="store_true", help="check the checker on a known tree")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    return 0 if check(args.root, top=args.top) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
