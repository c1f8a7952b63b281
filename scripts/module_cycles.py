#!/usr/bin/env python3
"""Fails when the engine's top-level modules import each other in a circle.

The engine (`src/`) is layered one way (docs/decisions.md, "One-way dependencies"); `--order`
prints the layers as the code has them, bottom first. This check reads every path into the
crate — `crate::a::…`, `crate::{a::…, b}`, `crate::Error` (the root's re-export of `error`),
and `super::…` chains that reach the crate root — outside comments, string literals and test
code (`#[cfg(test)]` items and the files they declare, `tests.rs`, `*_tests.rs`), and reports
each circle between top-level modules with the files that close it.

Usage: python3 scripts/module_cycles.py [SRC_DIR]     exit 1 on a circle
       python3 scripts/module_cycles.py --order [SRC_DIR]
       python3 scripts/module_cycles.py --self-test
"""
import collections
import os
import re
import sys
import tempfile

# Names the crate root re-exports from a module.
ROOT_REEXPORTS = {"Error": "error"}


def code_only(text):
    """`text` without comments, string and char literals (their quotes kept empty)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not text[i - 1].isalnum()):
            hashes = len(re.match(r"r(#*)", text[i:]).group(1))
            close = '"' + "#" * hashes
            end = text.find(close, i + 2 + hashes)
            i = n if end < 0 else end + len(close)
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and re.match(r"'(\\.[^']*|[^\\'])'", text[i:i + 12]):
            i += len(re.match(r"'(\\.[^']*|[^\\'])'", text[i:i + 12]).group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def without_tests(code):
    """`code` without `#[cfg(test)]` items; the names of test modules declared as files."""
    declared = []
    while True:
        match = re.search(r"#\[cfg\(test\)\]", code)
        if not match:
            return code, declared
        start, i = match.start(), match.end()
        while i < len(code) and code[i] not in "{;":
            i += 1
        item = code[match.end():i]
        file_module = re.search(r"\bmod\s+(\w+)\s*$", item)
        if i < len(code) and code[i] == ";":
            if file_module:
                declared.append(file_module.group(1))
            code = code[:start] + code[i + 1:]
            continue
        depth = 0
        while i < len(code):
            depth += {"{": 1, "}": -1}.get(code[i], 0)
            i += 1
            if depth == 0:
                break
        code = code[:start] + code[i:]


def module_path(relative):
    """`a/b.rs` → [a, b]; `a/mod.rs` → [a]; `a.rs` → [a]."""
    parts = relative[:-3].split(os.sep)
    if parts[-1] == "mod":
        parts.pop()
    return parts


def targets(code, path):
    """Top-level modules a file's code names."""
    found = set()
    for group in re.finditer(r"\bcrate::\{", code):
        depth, i, item = 1, group.end(), ""
        items = []
        while i < len(code) and depth:
            ch = code[i]
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if depth == 1 and ch == ",":
                items.append(item)
                item = ""
            elif depth >= 1:
                item += ch
            i += 1
        items.append(item)
        for entry in items:
            name = re.match(r"\s*([A-Za-z_]\w*)", entry)
            if name:
                found.add(name.group(1))
    for name in re.findall(r"\bcrate::([A-Za-z_]\w*)", code):
        found.add(name)
    for chain in re.finditer(r"(?<![\w:])((?:super::)+)([A-Za-z_]\w*)", code):
        ups = chain.group(1).count("super::")
        if len(path) - ups == 0:
            found.add(chain.group(2))
    found = {ROOT_REEXPORTS.get(name, name) for name in found}
    return {name for name in found if name[0].islower() and name not in ("self", "super")}


def edges(root):
    """(module, module) -> files: which top-level module names which, and where."""
    sources = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".rs"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    sources[os.path.relpath(path, root)] = f.read()
    test_files = set()
    cleaned = {}
    for relative, text in sources.items():
        code, declared = without_tests(code_only(text))
        cleaned[relative] = code
        folder = os.path.dirname(relative)
        if not relative.endswith("mod.rs") and os.path.basename(relative) not in ("lib.rs", "main.rs"):
            folder = os.path.join(folder, os.path.basename(relative)[:-3])
        for module in declared:
            test_files.add(os.path.normpath(os.path.join(folder, module + ".rs")))
            test_files.add(os.path.normpath(os.path.join(folder, module, "mod.rs")))
    found = collections.defaultdict(set)
    for relative, code in cleaned.items():
        base = os.path.basename(relative)
        if relative in test_files or base == "tests.rs" or base.endswith("_tests.rs"):
            continue
        path = module_path(relative)
        if path[0] in ("lib", "main"):
            continue
        for target in targets(code, path):
            if target != path[0]:
                found[(path[0], target)].add(relative)
    return found


def circles(found):
    """Strongly connected components of more than one module (Tarjan)."""
    graph = collections.defaultdict(set)
    for a, b in found:
        graph[a].add(b)
    index, low, stack, on_stack, result = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return result


def layers(found):
    """Modules by layer, bottom first: a module's layer is one above the highest it names."""
    graph = collections.defaultdict(set)
    for a, b in found:
        graph[a].add(b)
    nodes = set(graph) | {b for names in graph.values() for b in names}
    level = {}

    def depth(v):
        if v not in level:
            level[v] = 0
            level[v] = 1 + max((depth(w) for w in graph[v]), default=-1)
        return level[v]

    by_level = collections.defaultdict(list)
    for v in nodes:
        by_level[depth(v)].append(v)
    return [sorted(by_level[k]) for k in sorted(by_level)]


def check(root):
    found = edges(root)
    bad = circles(found)
    for component in bad:
        print(f"modules import each other in a circle: {', '.join(component)}", file=sys.stderr)
        for (a, b), files in sorted(found.items()):
            if a in component and b in component:
                print(f"  {a} -> {b}: {', '.join(sorted(files))}", file=sys.stderr)
    if bad:
        print("move the shared data down (see docs/decisions.md, 'One-way dependencies')",
              file=sys.stderr)
    return not bad


def self_test():
    """Each way of naming a module is seen; comments, strings and tests are not."""
    cases = [
        ("a path", "fn f() { crate::b::g(); }", True),
        ("a grouped import", "use crate::{b::G, c};", True),
        ("a nested group", "use crate::{x::{y, z}, b};", True),
        ("the root's Error", "fn f() -> crate::Error { todo!() }", "error"),
        ("super from a top-level file", "use super::b::G;", True),
        ("a comment", "// crate::b::g\n/* crate::b */ fn f() {}", False),
        ("a string", 'const S: &str = "crate::b::g"; const R: &str = r#"crate::b"#;', False),
        ("a test module", "#[cfg(test)]\nmod tests { use crate::b::G; }\nfn f() {}", False),
        ("a test module file", "#[cfg(test)]\nmod a_tests;\n", False),
        ("code after a test module", "#[cfg(test)]\nmod tests {}\nuse crate::b::G;", True),
    ]
    failed = 0
    for name, code, expect in cases:
        with tempfile.TemporaryDirectory() as root:
            target = expect if isinstance(expect, str) else "b"
            os.makedirs(os.path.join(root, "a"))
            with open(os.path.join(root, "a", "mod.rs"), "w") as f:
                f.write(code)
            with open(os.path.join(root, "a", "a_tests.rs"), "w") as f:
                f.write("use crate::b::G;")
            with open(os.path.join(root, f"{target}.rs"), "w") as f:
                f.write("use crate::a::G;")
            seen = not check_quietly(root)
            if seen != bool(expect):
                failed += 1
                print(f"self-test: {name}: circle {'missed' if expect else 'reported wrongly'}",
                      file=sys.stderr)
    return failed == 0


def check_quietly(root):
    return not circles(edges(root))


def main():
    args = sys.argv[1:]
    if args[:1] == ["--self-test"]:
        sys.exit(0 if self_test() else 1)
    if args[:1] == ["--order"]:
        root = args[1] if len(args) > 1 else "src"
        for layer in layers(edges(root)):
            print(", ".join(layer))
        return
    root = args[0] if args else "src"
    sys.exit(0 if check(root) else 1)


if __name__ == "__main__":
    main()
