#!/usr/bin/env python3
"""Fails when the modules directly under src/controller/ import each other in a circle.

Each top-level module (a file `src/controller/x.rs` or a folder `src/controller/x/`) is a node; a reference from
code in one to another (`use super::x`, `crate::controller::x::...`, `super::super::x` from a sub-module) is an
edge. References inside one module (between its own files) are not counted: a folder is one unit. Prints every
circle found, shortest first, and exits 1 if there is any.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "src" / "controller"


def module_of(path: pathlib.Path) -> list[str]:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts.pop()
    return parts


def top_modules() -> set[str]:
    out = set()
    for p in ROOT.iterdir():
        if p.suffix == ".rs" and p.stem != "mod":
            out.add(p.stem)
        elif p.is_dir():
            out.add(p.name)
    return out


# Strip comments and string literals so paths in docs do not count.
COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
STRING = re.compile(r'"(?:\\.|[^"\\])*"')
PATH = re.compile(r"\b((?:crate::controller|(?:super::)+|self::)(?:[A-Za-z_][A-Za-z0-9_]*::?)*)")
USE_GROUP = re.compile(r"\buse\s+((?:crate::controller|super|self)[^;]*);", re.S)


def referenced(text: str, here: list[str]) -> set[str]:
    """Top-level modules that `text` (the code of module `here`) refers to."""
    text = STRING.sub('""', COMMENT.sub("", text))
    paths = []
    for group in USE_GROUP.findall(text):
        # Expand `a::{b, c::{d}}` one level deep per brace: enough to find the first segment after the base.
        base = group.split("{", 1)[0]
        inner = group[len(base):]
        if inner:
            for item in re.split(r"[,{}\s]+", inner):
                if item and item != "self":
                    paths.append(base + item)
        paths.append(base.rstrip(":"))
    paths += PATH.findall(text)
    out = set()
    for p in paths:
        segs = [s for s in p.split("::") if s]
        if not segs:
            continue
        if segs[0] == "crate":
            if len(segs) < 3:
                continue
            target = segs[2]
        else:
            cur = list(here)
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    cur = cur[:-1]
                segs = segs[1:]
            full = cur + segs
            if not full:
                continue
            target = full[0]
        out.add(target)
    return out


def main() -> int:
    tops = top_modules()
    edges: dict[str, set[str]] = {t: set() for t in tops}
    for path in ROOT.rglob("*.rs"):
        here = module_of(path)
        if not here:
            continue  # src/controller/mod.rs declares the modules; it is not one of them
        src = here[0]
        for target in referenced(path.read_text(), here):
            if target in tops and target != src:
                edges[src].add(target)
    cycles = []
    for start in sorted(tops):
        # Shortest path from each successor back to start.
        for nxt in sorted(edges[start]):
            seen = {nxt: [start, nxt]}
            queue = [nxt]
            while queue:
                node = queue.pop(0)
                if node == start:
                    break
                for n in sorted(edges[node]):
                    if n not in seen:
                        seen[n] = seen[node] + [n]
                        queue.append(n)
            if start in seen:
                cyc = seen[start]
                key = frozenset(cyc)
                if all(frozenset(c) != key for c in cycles):
                    cycles.append(cyc)
    cycles.sort(key=len)
    for c in cycles:
        print("import circle in src/controller: " + " -> ".join(c))
    if cycles:
        print(f"{len(cycles)} circle(s); a module may only use modules below it (see docs/architecture.md)")
        return 1
    print(f"src/controller: {len(tops)} modules, no import circles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
