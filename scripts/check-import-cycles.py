#!/usr/bin/env python3
"""Fails when the files of a Rust crate import each other in a circle of more than two files.

Usage: scripts/check-import-cycles.py [--with-tests] [--edges] DIR [DIR ...]
       (e.g. src media/src monitor/src signaling/src; --edges also prints every file's imports)

Each DIR is the source root of one crate (holding lib.rs and/or main.rs). The script builds a graph whose nodes
are the crate's `.rs` files and whose edges are the imports between them:

- `use` declarations (`use crate::a::B;`, `use super::{x, y::Z};`, `pub use child::Item;`, globs, `self`, `as`);
- paths in code that start with `crate::`, `super::` or `self::`, with a declared child module (`mod a;` then
  `a::f()`), or with a name a `use` brought in (`use crate::h264;` then `h264::MAX_FPS`).

A path is mapped to a file by walking the module tree on disk (`a::b` → `a/b.rs` or `a/b/mod.rs`; a segment with
no file of its own is an item of the file reached so far). An item that file only re-exports (`pub use x::Item;`,
or a private `use` seen through `super::`) is followed to the file that defines it, so a facade such as `lib.rs`
re-exporting every module does not tie the whole crate into one circle. `mod a;` declarations are structure, not
imports, and `#[path]` attributes are not followed. Items under `#[cfg(test)]` (the usual `mod tests { use super::*; ... }`) are skipped unless
`--with-tests` is given.

It then computes the strongly connected components (Tarjan) and prints every component of more than two files,
exiting 1; otherwise it prints "no import circle of more than two files in <dirs>" and exits 0. A circle of two
files (a module and its parent, say) is tolerated.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field

MAX_FILES_IN_A_CIRCLE = 2
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
KEYWORDS_NOT_PATHS = {"Self"}


# ----------------------------------------------------------------------------------------------------------------
# Lexing: identifiers, `::` and punctuation; comments, strings and char literals are dropped.


def tokenize(src: str) -> list[str]:
    tokens: list[str] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
        elif src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', src[i:i + 260]):
            m = re.match(r'r(#*)"', src[i:])
            end = src.find('"' + m.group(1), i + len(m.group(0)))
            i = n if end < 0 else end + 1 + len(m.group(1))
        elif c == "b" and i + 1 < n and src[i + 1] in "\"'":
            i += 1  # byte string / byte char: lexed by the branches below
        elif c == '"':
            i += 1
            while i < n and src[i] != '"':
                i += 2 if src[i] == "\\" else 1
            i += 1
        elif c == "'":
            # A char literal ('a', '\n', '\u{1F600}') or a lifetime ('a): a lifetime has no closing quote.
            m = re.match(r"'(\\u\{[0-9A-Fa-f]+\}|\\.|[^\\'])'", src[i:i + 12])
            if m:
                i += len(m.group(0))
            else:
                i += 1
                while i < n and (src[i].isalnum() or src[i] == "_"):
                    i += 1
        elif c.isalpha() or c == "_":
            m = IDENT.match(src, i)
            tokens.append(m.group(0))
            i = m.end()
        elif c.isdigit():
            m = re.compile(r"[0-9][0-9A-Za-z_.]*").match(src, i)
            i = m.end()
        elif src.startswith("::", i):
            tokens.append("::")
            i += 2
        else:
            tokens.append(c)
            i += 1
    return tokens


# ----------------------------------------------------------------------------------------------------------------
# Parsing one file: use declarations, paths, declared and inline modules.


@dataclass
class Scope:
    """One module inside a file: the file's own module or an inline `mod x { ... }`."""

    path: tuple[str, ...]  # absolute module path
    bindings: dict[str, tuple[str, ...] | None] = field(default_factory=dict)  # name -> absolute path (None: external)
    globs: list[tuple[str, ...]] = field(default_factory=list)
    children: set[str] = field(default_factory=set)  # declared child modules (`mod a;` and inline)
    uses: list[tuple[str, ...]] = field(default_factory=list)  # absolute paths imported
    paths: list[tuple[str, ...]] = field(default_factory=list)  # raw paths seen in code


@dataclass
class Parsed:
    scopes: dict[tuple[str, ...], Scope]
    test_children: set[str]  # `#[cfg(test)] mod x;` declared at the file's top level


def is_test_cfg(attr: list[str]) -> bool:
    return "cfg" in attr and "test" in attr and "not" not in attr


def skip_item(tokens: list[str], i: int) -> int:
    """Index after the item starting at `i`: up to a `;` at depth 0 or through its first `{ ... }` block."""
    depth = 0
    while i < len(tokens):
        t = tokens[i]
        if t in "([":
            depth += 1
        elif t in ")]":
            depth -= 1
        elif t == ";" and depth == 0:
            return i + 1
        elif t == "{" and depth == 0:
            return skip_block(tokens, i)
        i += 1
    return i


def skip_block(tokens: list[str], i: int) -> int:
    """`tokens[i]` is `{`: index after its matching `}`."""
    depth = 0
    while i < len(tokens):
        if tokens[i] == "{":
            depth += 1
        elif tokens[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def parse_use_tree(tokens: list[str], i: int, prefix: list[str], out: list[tuple[list[str], str | None]]) -> int:
    """Parses one use tree at `i`; appends (path, bound name or '*') to `out`. Returns the index after it."""
    path = list(prefix)
    if i < len(tokens) and tokens[i] == "::":  # `use ::extern_crate::...`
        path.append("::")
        i += 1
    while i < len(tokens):
        t = tokens[i]
        if t == "{":
            i += 1
            while i < len(tokens) and tokens[i] != "}":
                i = parse_use_tree(tokens, i, path, out)
                if i < len(tokens) and tokens[i] == ",":
                    i += 1
            return i + 1
        if t == "*":
            out.append((path, "*"))
            return i + 1
        if IDENT.fullmatch(t):
            path.append(t)
            i += 1
            if i < len(tokens) and tokens[i] == "::":
                i += 1
                continue
            name = t
            if i + 1 < len(tokens) and tokens[i] == "as":
                name = tokens[i + 1]
                i += 2
            if t == "self":
                path.pop()
                if name == "self":
                    name = path[-1] if path else "self"
            out.append((path, name))
            return i
        return i
    return i


def parse_file(text: str, module: tuple[str, ...], with_tests: bool) -> Parsed:
    tokens = tokenize(text)
    scopes = {module: Scope(module)}
    test_children: set[str] = set()
    # Stack of (scope, brace depth at which it closes).
    stack: list[tuple[Scope, int]] = [(scopes[module], -1)]
    depth = 0
    test_next = False
    i = 0
    while i < len(tokens):
        t = tokens[i]
        scope = stack[-1][0]
        if t == "#" and i + 1 < len(tokens) and tokens[i + 1] in ("[", "!"):
            j = i + 1 if tokens[i + 1] == "[" else i + 2
            k = j
            bracket = 0
            while k < len(tokens):
                if tokens[k] == "[":
                    bracket += 1
                elif tokens[k] == "]":
                    bracket -= 1
                    if bracket == 0:
                        break
                k += 1
            if tokens[i + 1] == "[" and is_test_cfg(tokens[j:k]):
                test_next = True
            i = k + 1
            continue
        if test_next:
            test_next = False
            # `#[cfg(test)] mod x;` at top level: a test-only file.
            if t == "mod" and i + 2 < len(tokens) and tokens[i + 2] == ";" and len(stack) == 1:
                test_children.add(tokens[i + 1])
            if not with_tests:
                # Skip visibility and the item.
                i = skip_item(tokens, i)
                continue
        if t == "{":
            depth += 1
        elif t == "}":
            depth -= 1
            if len(stack) > 1 and depth == stack[-1][1]:
                stack.pop()
        elif t == "mod" and i + 2 < len(tokens) and IDENT.fullmatch(tokens[i + 1]):
            name = tokens[i + 1]
            scope.children.add(name)
            if tokens[i + 2] == "{":
                inner = scopes.setdefault(scope.path + (name,), Scope(scope.path + (name,)))
                stack.append((inner, depth))
                depth += 1
                i += 3
                continue
            i += 2
            continue
        elif t == "use" and (i == 0 or tokens[i - 1] != "::"):
            out: list[tuple[list[str], str | None]] = []
            j = parse_use_tree(tokens, i + 1, [], out)
            for path, name in out:
                raw = tuple(path)
                scope.uses.append(raw)
                if name == "*":
                    scope.globs.append(raw)
                elif name:
                    scope.bindings[name] = raw  # made absolute later
            while j < len(tokens) and tokens[j] != ";":
                j += 1
            i = j + 1
            continue
        elif IDENT.fullmatch(t) and t not in KEYWORDS_NOT_PATHS and i + 1 < len(tokens) and tokens[i + 1] == "::":
            if i > 0 and tokens[i - 1] == "::":
                i += 1
                continue
            path = [t]
            j = i + 1
            while j + 1 < len(tokens) and tokens[j] == "::" and IDENT.fullmatch(tokens[j + 1]):
                path.append(tokens[j + 1])
                j += 2
            scope.paths.append(tuple(path))
            i = j
            continue
        i += 1
    return Parsed(scopes, test_children)


# ----------------------------------------------------------------------------------------------------------------
# The crate: files, module paths, resolution.


class Crate:
    def __init__(self, root: str, with_tests: bool):
        self.root = root
        self.with_tests = with_tests
        self.files: dict[tuple[str, ...], list[str]] = {}  # module path -> files (lib.rs and main.rs share ())
        self.parsed: dict[str, Parsed] = {}
        self.module_of: dict[str, tuple[str, ...]] = {}
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel = os.path.relpath(dirpath, root)
            parts = () if rel == "." else tuple(rel.split(os.sep))
            if parts[:1] == ("bin",):
                continue  # separate binary crates
            for f in sorted(filenames):
                if not f.endswith(".rs"):
                    continue
                if not parts and f in ("lib.rs", "main.rs"):
                    module = ()
                elif f == "mod.rs":
                    module = parts
                else:
                    module = parts + (f[:-3],)
                path = os.path.join(dirpath, f)
                self.files.setdefault(module, []).append(path)
                self.module_of[path] = module
        for path, module in self.module_of.items():
            with open(path, encoding="utf-8") as fh:
                self.parsed[path] = parse_file(fh.read(), module, with_tests)
        if not with_tests:
            self.drop_test_only_files()

    def drop_test_only_files(self) -> None:
        test_modules = set()
        for path, parsed in self.parsed.items():
            for child in parsed.test_children:
                test_modules.add(self.module_of[path] + (child,))
        for path, module in list(self.module_of.items()):
            if any(module[: len(t)] == t for t in test_modules):
                del self.module_of[path]
                del self.parsed[path]
                self.files[module].remove(path)

    def module_files(self, module: tuple[str, ...]) -> list[str]:
        return self.files.get(module, [])

    def scope(self, file: str, module: tuple[str, ...]) -> Scope | None:
        return self.parsed[file].scopes.get(module)

    def absolute(self, raw: tuple[str, ...], scope: Scope, file: str, seen=None) -> tuple[str, ...] | None:
        """The absolute module path of a path written in `scope` of `file`; None when it leaves the crate."""
        if not raw or raw[0] == "::":
            return None
        here = list(scope.path)
        first, rest = raw[0], list(raw[1:])
        if first == "crate":
            return tuple(rest)
        if first in ("self", "super"):
            parts = list(raw)
            while parts and parts[0] in ("self", "super"):
                if parts.pop(0) == "super":
                    if not here:
                        return None
                    here.pop()
            return tuple(here + parts)
        if first in scope.children:
            return tuple(here) + raw
        bound = scope.bindings.get(first)
        if bound is not None and bound != raw:
            seen = seen or set()
            if (file, scope.path, first) in seen:
                return None
            seen.add((file, scope.path, first))
            base = self.absolute(bound, scope, file, seen)
            return None if base is None else base + tuple(rest)
        return None  # std, an extern crate, a type's associated item

    def resolve(self, path: tuple[str, ...], depth: int = 0) -> set[str]:
        """The files an absolute path depends on (re-exports followed to the defining file)."""
        module: tuple[str, ...] = ()
        i = 0
        while i < len(path) and self.module_files(module + (path[i],)):
            module += (path[i],)
            i += 1
        files = self.module_files(module)
        if i == len(path) or depth > 16:
            return set(files)
        # `path[i]` is an item (or an inline module) of `module`: follow a `use` that bound it there.
        name, rest = path[i], path[i + 1:]
        out: set[str] = set()
        for f in files:
            scope = self.scope(f, module)
            bound = scope.bindings.get(name) if scope else None
            if bound is None:
                out.add(f)
                continue
            target = self.absolute(bound, scope, f)
            if target is None:
                continue  # a re-exported external item: no file of this crate
            out |= self.resolve(target + rest, depth + 1)
        return out

    def graph(self) -> dict[str, set[str]]:
        edges: dict[str, set[str]] = {f: set() for f in self.parsed}
        for file, parsed in self.parsed.items():
            for scope in parsed.scopes.values():
                for raw in scope.uses + scope.paths:
                    target = self.absolute(raw, scope, file)
                    if target is None:
                        continue
                    for dep in self.resolve(target):
                        if dep != file and dep in edges:
                            edges[file].add(dep)
        return edges


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == node:
                        break
                components.append(sorted(component))
    return components


def main(argv: list[str]) -> int:
    flags = {"--with-tests", "--edges"}
    with_tests = "--with-tests" in argv
    show_edges = "--edges" in argv
    dirs = [a for a in argv if a not in flags]
    if not dirs or any(a.startswith("-") for a in dirs):
        print("\n".join(__doc__.strip().splitlines()[2:4]), file=sys.stderr)
        return 2
    failed = False
    for d in dirs:
        if not os.path.isdir(d):
            print(f"{d}: not a directory", file=sys.stderr)
            return 2
        crate = Crate(d, with_tests)
        edges = crate.graph()
        if show_edges:
            for f in sorted(edges):
                deps = sorted(os.path.relpath(x, d) for x in edges[f])
                print(f"{os.path.relpath(f, d)} -> {', '.join(deps) or '(nothing)'}")
        for component in strongly_connected(edges):
            if len(component) <= MAX_FILES_IN_A_CIRCLE:
                continue
            failed = True
            members = set(component)
            print(f"import circle of {len(component)} files in {d}:")
            for f in component:
                deps = sorted(os.path.relpath(x, d) for x in edges[f] & members)
                print(f"  {os.path.relpath(f, d)} -> {', '.join(deps)}")
    if failed:
        return 1
    print(f"no import circle of more than two files in {' '.join(dirs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
