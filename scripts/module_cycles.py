#!/usr/bin/env python3
"""Fails when the engine's top-level modules import each other in a circle.

The engine (`src/`) is layered one way: plain data at the bottom (`address`, `value`,
`config` with the settings sections), then `state`, `provider` (registry, limits), `spec`,
`secrets`, `plan`, then `rollout`, `policy`, `access`, `render`, `refresh`, `events`,
`apply`, and `engine` on top (docs/decisions.md, "One-way dependencies"). This check reads
every `crate::<module>` path (and `crate::Error`, the root's re-export of `error`) outside comments and unit-test modules (`#[cfg(test)] mod tests`,
`*_tests.rs`) and reports each circle between top-level modules with the files that close it.

Usage: python3 scripts/module_cycles.py [SRC_DIR]   (exit 1 on a circle)
"""
import collections
import os
import re
import sys


def edges(root):
    """(module, module) -> files: which top-level module names which, and where."""
    found = collections.defaultdict(set)
    for folder, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".rs") or name.endswith("_tests.rs"):
                continue
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, root)
            module = relative.split(os.sep)[0].removesuffix(".rs")
            if module in ("lib", "main"):
                continue
            with open(path, encoding="utf-8") as f:
                text = re.split(r"#\[cfg\(test\)\]\s*mod tests", f.read())[0]
            for line in text.splitlines():
                if line.strip().startswith("//"):
                    continue
                for target in re.findall(r"crate::([A-Za-z_][A-Za-z0-9_]*)", line):
                    # The crate root re-exports `error::Error`.
                    target = {"Error": "error"}.get(target, target)
                    if target != module and target[0].islower():
                        found[(module, target)].add(relative)
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
        for w in graph[v]:
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
    for v in list(graph):
        if v not in index:
            visit(v)
    return result


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "src"
    found = edges(root)
    bad = circles(found)
    for component in bad:
        print(f"modules import each other in a circle: {', '.join(component)}", file=sys.stderr)
        for (a, b), files in sorted(found.items()):
            if a in component and b in component:
                print(f"  {a} -> {b}: {', '.join(sorted(files))}", file=sys.stderr)
    if bad:
        print("move the shared data down (see docs/decisions.md, 'One-way dependencies')", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
