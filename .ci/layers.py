#!/usr/bin/env python3
"""Check that colonyd's top-level modules only import downward.

Usage (from the repository root, or give --root):

    python3 .ci/layers.py              # check; exit 1 on any upward import
    python3 .ci/layers.py --graph      # also print the module graph and its cycles
    python3 .ci/layers.py --order 'protocol → crypto → store, channels → ...'

Layer order
-----------
Taken from the first of:
  1. --order TEXT
  2. ARCHITECTURE.md: a line
         Layers (lowest first): protocol → crypto → store → channels, fanout → ...
     (leading "- "/"* ", "**" and backticks are tolerated; "->" works as well as "→"),
     or a fenced block whose info string is `layers`, one layer per line, lowest first:
         ```layers
         protocol
         crypto
         channels, fanout
         ```
  3. DEFAULT_LAYERS below.
Names separated by "," form one layer.

Rules
-----
* A module may import modules on lower layers only.
* Modules on the same layer may NOT import each other (a group declares them independent;
  that is what makes "the order is respected" imply "the graph is acyclic"). Pass
  --allow-same-layer to relax this; cycles inside a layer are then still reported by --graph.
* Every top-level module found under src/ must be placed; an unplaced module is an error.
  Names in the order that do not exist (yet) are only warned about.
* src/lib.rs and src/main.rs are the crate root and may import anything.
* src/foo.rs, src/foo/mod.rs and src/foo/**.rs all belong to module `foo`; src/bin/ is skipped.

What counts as an import
------------------------
Every `crate::<module>` path anywhere in the code: `use` items (also grouped and nested forms,
`use crate::{a, b::{c, d}}`, over several lines), inline paths (`crate::workflows::f(..)`),
types in signatures, `$crate::` in macros. `pub(in crate::x)` is a visibility, not an import.
`super::` paths are resolved against the file's module path plus any inline `mod x { .. }`
blocks, so only a `super::` that climbs out of the top-level module counts (e.g. `super::super::x`
in src/foo/bar.rs, or `super::x` in src/foo.rs).
Comments (`//`, `///`, `//!`, `/* */`), string, raw-string and char literals are blanked out
before scanning. `#[cfg(test)] mod tests` blocks are checked like the rest of the code (tests
must respect the layers too; their imports are tagged [test] in the output); --skip-tests
ignores inline modules whose `#[cfg(..)]` mentions `test`.
"""

import argparse
import os
import re
import sys
from collections import defaultdict

# Used when ARCHITECTURE.md declares no order. Lowest first; "," = same layer.
DEFAULT_LAYERS = (
    "protocol, notify, peer → crypto → store → channels, fanout, metrics → events → scheduler"
    " → workflows → lifecycle → auth, state → handlers, pubsub → transport → config"
    " → server, embedded, client → cli"
)

LAYER_LINE = re.compile(r"^\s*(?:[-*]\s+)?(?:\*\*)?Layers \(lowest first\):(?:\*\*)?\s*(.+?)\s*$")
FENCE_OPEN = re.compile(r"^\s*```+\s*layers\s*$")
FENCE_CLOSE = re.compile(r"^\s*```+\s*$")


# ---------------------------------------------------------------- layer order

def parse_order_text(text):
    layers = []
    for group in re.split(r"→|->", text):
        names = [n.strip().strip("`*").strip() for n in group.split(",")]
        names = [n for n in names if n]
        if names:
            layers.append(names)
    return layers


def order_from_architecture(path):
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError:
        return None
    for i, line in enumerate(lines):
        m = LAYER_LINE.match(line)
        if m:
            return parse_order_text(m.group(1)), f"{path}:{i + 1}"
        if FENCE_OPEN.match(line):
            layers = []
            for j in range(i + 1, len(lines)):
                if FENCE_CLOSE.match(lines[j]):
                    break
                body = lines[j].split("#", 1)[0].strip()
                if body:
                    layers.append(parse_order_text(body.replace("→", ",").replace("->", ","))[0])
            return layers, f"{path}:{i + 1}"
    return None


# ------------------------------------------------------- comment/string strip

def strip_rust(src):
    """Blank comments, strings and char literals (newlines kept, so lines stay put)."""
    out = list(src)
    n = len(src)
    i = 0

    def blank(a, b):
        for k in range(a, min(b, n)):
            if out[k] != "\n":
                out[k] = " "

    def ident_char(c):
        return c.isalnum() or c == "_"

    while i < n:
        c = src[i]
        if c == "/" and i + 1 < n and src[i + 1] == "/":
            j = src.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif c == "/" and i + 1 < n and src[i + 1] == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif c in "rb" and (i == 0 or not ident_char(src[i - 1])):
            m = re.compile(r"b?r(#*)\"").match(src, i)
            if m:
                end = src.find('"' + m.group(1), m.end())
                end = n if end < 0 else end + 1 + len(m.group(1))
                blank(i, end)
                i = end
            elif c == "b" and i + 1 < n and src[i + 1] in "\"'":
                i += 1  # b"..." / b'.': handled as a plain literal next round
            else:
                i += 1
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            blank(i, j + 1)
            i = j + 1
        elif c == "'":
            # char literal ('x', '\n', '\u{1F600}') vs lifetime/label ('a)
            if i + 1 < n and src[i + 1] == "\\":
                j = src.find("'", i + 2)
                j = n if j < 0 else j
                blank(i, j + 1)
                i = j + 1
            elif i + 2 < n and src[i + 2] == "'":
                blank(i, i + 3)
                i += 3
            else:
                i += 1
        else:
            i += 1
    return "".join(out)


TOKEN = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_]*|::|\S")


def tokenize(text):
    toks = []
    for ln, line in enumerate(text.split("\n"), 1):
        for m in TOKEN.finditer(line):
            toks.append((m.group(0), ln))
    return toks


# ------------------------------------------------------------------- scanning

def is_ident(t):
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", t) is not None


def render(tokens):
    s = ""
    for t in tokens:
        if s and is_ident(t) and (is_ident(s[-1]) or s[-1] == ","):
            s += " "
        s += t
        if t == ",":
            pass
    return s.replace(",", ", ").replace(",  ", ", ")


def parse_path(toks, i):
    """toks[i] is the token after `crate ::` (or after the last `super ::` that reaches the
    root). Returns [(first_segment, item_text, line)], one per used path."""
    if i >= len(toks):
        return []
    t, ln = toks[i]
    if is_ident(t):
        j = i + 1
        while j + 1 < len(toks) and toks[j][0] == "::" and (is_ident(toks[j + 1][0]) or toks[j + 1][0] in "{*"):
            if toks[j + 1][0] == "{":
                k, depth = j + 1, 0
                while k < len(toks):
                    depth += {"{": 1, "}": -1}.get(toks[k][0], 0)
                    k += 1
                    if depth == 0:
                        break
                j = k
                break
            j += 2
        text = render([x for x, _ in toks[i:j]])
        return [(t, text, ln)]
    if t == "{":
        uses, depth, start, k = [], 0, i + 1, i
        while k < len(toks):
            tk = toks[k][0]
            if tk == "{":
                depth += 1
            elif tk == "}":
                depth -= 1
            if (tk == "," and depth == 1) or depth == 0:
                item = toks[start:k]
                if item and is_ident(item[0][0]) and item[0][0] != "self":
                    uses.append((item[0][0], render([x for x, _ in item]), item[0][1]))
                start = k + 1
                if depth == 0:
                    break
            k += 1
        return uses
    return []


def file_module_path(rel):
    """src-relative path → (top-level module or None for the root, module path list)."""
    parts = rel.replace(os.sep, "/").split("/")
    if len(parts) == 1 and parts[0] in ("lib.rs", "main.rs"):
        return None, []
    parts[-1] = parts[-1][:-3]
    if parts[-1] == "mod":
        parts.pop()
    return parts[0], parts


def scan_file(path, rel, skip_tests):
    top, modpath = file_module_path(rel)
    text = strip_rust(open(path, encoding="utf-8").read())
    toks = tokenize(text)
    uses = []  # (target, line, item, in a #[cfg(test)] module)
    depth = 0
    inline = []  # (name, depth inside its braces, is_test)
    for i, (t, ln) in enumerate(toks):
        if t == "{":
            depth += 1
            continue
        if t == "}":
            if inline and inline[-1][1] == depth:
                inline.pop()
            depth -= 1
            continue
        if t == "mod" and i + 2 < len(toks) and is_ident(toks[i + 1][0]) and toks[i + 2][0] == "{":
            inline.append((toks[i + 1][0], depth + 1, is_test_attr(toks, i)))
            continue
        in_test = any(m[2] for m in inline)
        if skip_tests and in_test:
            continue
        prev = toks[i - 1][0] if i else ""
        nxt = toks[i + 1][0] if i + 1 < len(toks) else ""
        if nxt != "::" or prev == "::":
            continue
        if t in ("crate", "$crate"):
            if prev == "in":
                continue  # pub(in crate::x)
            for first, item, line in parse_path(toks, i + 2):
                uses.append((first, line, item, in_test))
        elif t == "super":
            here = modpath + [m[0] for m in inline]
            j, ups = i, 0
            while j + 1 < len(toks) and toks[j][0] == "super" and toks[j + 1][0] == "::":
                ups, j = ups + 1, j + 2
            if ups > len(here):
                continue
            dest = here[: len(here) - ups]
            if dest:
                first = dest[0]
                if first != top:
                    uses.append((first, ln, "::".join(dest[1:] + [toks[j][0]]), in_test))
            else:
                for first, item, line in parse_path(toks, j):
                    uses.append((first, line, item, in_test))
    return top, uses


def is_test_attr(toks, i):
    """Does an attribute right before `mod` (at toks[i]) look like #[cfg(..test..)]?"""
    j = i - 1
    if j >= 0 and toks[j][0] == ")":  # pub(crate) mod
        while j >= 0 and toks[j][0] != "(":
            j -= 1
        j -= 1
    if j >= 0 and toks[j][0] == "pub":
        j -= 1
    while j >= 0 and toks[j][0] == "]":
        k, depth = j, 0
        while k >= 0:
            depth += {"]": 1, "[": -1}.get(toks[k][0], 0)
            if depth == 0:
                break
            k -= 1
        attr = [t for t, _ in toks[k:j + 1]]
        if "cfg" in attr and "test" in attr and "not" not in attr[: attr.index("test")][-2:]:
            return True
        j = k - 2 if k >= 1 and toks[k - 1][0] == "#" else k - 1
    return False


def collect(src_dir, skip_tests):
    modules = set()
    for name in os.listdir(src_dir):
        p = os.path.join(src_dir, name)
        if name == "bin":
            continue
        if os.path.isdir(p):
            modules.add(name)
        elif name.endswith(".rs") and name not in ("lib.rs", "main.rs"):
            modules.add(name[:-3])
    edges = defaultdict(list)  # (from, to) -> [(file, line, item, test)]
    for dirpath, dirnames, filenames in os.walk(src_dir):
        dirnames[:] = sorted(d for d in dirnames if not (dirpath == src_dir and d == "bin"))
        for f in sorted(filenames):
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, src_dir)
            top, uses = scan_file(path, rel, skip_tests)
            if top is None:
                continue
            for target, line, item, test in uses:
                if target in modules and target != top:
                    edges[(top, target)].append((os.path.relpath(path), line, item, test))
    return modules, edges


# ---------------------------------------------------------------------- graph

def sccs(nodes, adj):
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(adj.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def print_graph(modules, edges, layer_of):
    adj = defaultdict(set)
    for a, b in edges:
        adj[a].add(b)
    print("Module graph (module → modules it uses):")
    for m in sorted(modules, key=lambda m: (layer_of.get(m, 1 << 30), m)):
        print(f"  {m} → {', '.join(sorted(adj[m])) or '(nothing)'}")
    cycles = [c for c in sccs(modules, adj) if len(c) > 1]
    cycles.sort(key=lambda c: (-len(c), c))
    print()
    if not cycles:
        print("Cycles: none")
        return
    print(f"Cycles (strongly connected components of size > 1): {len(cycles)}")
    for n, comp in enumerate(cycles, 1):
        print(f"  {n}. {{{', '.join(comp)}}}")
        cs = set(comp)
        for (a, b), sites in sorted(edges.items()):
            if a in cs and b in cs:
                print(f"     {a} → {b}:")
                for f, line, item, test in sorted(sites, key=lambda s: (s[0], s[1])):
                    print(f"       {f}:{line}  {item}" + ("  [test]" if test else ""))


# ----------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=None, help="repository root (default: the script's parent dir)")
    ap.add_argument("--order", help="layer order, e.g. 'protocol → crypto → store, channels'")
    ap.add_argument("--graph", action="store_true", help="print the module graph and its cycles")
    ap.add_argument("--allow-same-layer", action="store_true",
                    help="let modules on the same layer import each other")
    ap.add_argument("--skip-tests", action="store_true", help="ignore #[cfg(test)] inline modules")
    args = ap.parse_args()

    root = args.root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src_dir = os.path.join(root, "src")
    if not os.path.isdir(src_dir):
        print(f"error: no src/ under {root}", file=sys.stderr)
        return 2
    os.chdir(root)

    if args.order:
        layers, origin = parse_order_text(args.order), "--order"
    else:
        found = order_from_architecture(os.path.join(root, "ARCHITECTURE.md"))
        if found:
            layers, origin = found
        else:
            layers, origin = parse_order_text(DEFAULT_LAYERS), "DEFAULT_LAYERS in .ci/layers.py"
    layer_of = {}
    for n, group in enumerate(layers):
        for m in group:
            if m in layer_of:
                print(f"error: {m} appears twice in the layer order ({origin})", file=sys.stderr)
                return 2
            layer_of[m] = n

    modules, edges = collect(src_dir, args.skip_tests)

    if args.graph:
        print_graph(modules, edges, layer_of)
        print()

    print(f"Layer order ({origin}), lowest first:")
    print("  " + " → ".join(", ".join(g) for g in layers))
    for m in sorted(set(layer_of) - modules):
        print(f"warning: {m} is in the layer order but not under src/", file=sys.stderr)

    problems = 0
    for m in sorted(modules - set(layer_of)):
        print(f"error: module {m} is not placed in the layer order")
        problems += 1
    violations = []
    for (a, b), sites in edges.items():
        if a not in layer_of or b not in layer_of:
            continue
        la, lb = layer_of[a], layer_of[b]
        if la < lb or (la == lb and not args.allow_same_layer):
            for f, line, item, test in sites:
                violations.append((f, line, a, b, la, lb, item, test))
    violations.sort()
    for f, line, a, b, la, lb, item, test in violations:
        kind = "same layer" if la == lb else f"layer {la} → {lb}"
        print(f"{f}:{line}: {a} → {b} ({kind}): crate::{item}" + (" [test]" if test else ""))
    problems += len(violations)
    pairs = len({(v[2], v[3]) for v in violations})
    if problems:
        print(f"{len(violations)} upward import(s) over {pairs} module pair(s)"
              + (f", {problems - len(violations)} unplaced module(s)" if problems > len(violations) else ""))
        return 1
    print("ok: every module imports only from lower layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
