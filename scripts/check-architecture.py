#!/usr/bin/env python3
"""The workspace's architecture rules, checked from the source text (fast, no cargo).

usage: scripts/check-architecture.py [REPO_DIR]   check the repository (default: this one)
       scripts/check-architecture.py --self-test  prove that each rule fires, on a synthetic tree

Rules (each violation is printed as `path:line: rule: message`; exit status 1 if any):

  modules   No import cycle between the modules of a workspace crate. A module is
            a file under src/ (`a/b.rs` and `a/b/mod.rs` are `a::b`; lib.rs and
            main.rs are the root). An edge A -> B is a path to B written in A:
            `crate::b::...`, `super::...` and `self::...` (in `use` trees,
            braces included, and anywhere else in code). `super` and `self` are
            resolved from the module they are written in, inline `mod x { }`
            blocks included, so `use super::*` in a file's `mod tests` is the
            file itself. The crate root, and a parent's paths into its own
            children (`mod x;`, `use self::x::Y`), are not edges: containment is
            not a dependency. A child's path to its parent is an edge.
            src/bin/ files are crates of their own.
            The same reading as the review hook's module-cycle check, except
            that `super::Item` counts as an edge to the parent module, and
            paths in strings and comments do not count.
  http      `axum` and `tower_http` are named only under log-server/src/http/.
  rocksdb   The `rocksdb` crate is named only in log-server/src/storage/rocksdb.rs
            (the module `storage::rocksdb` may be named anywhere); likewise
            `tokio_postgres` only in storage/postgres.rs and `object_store`
            only in storage/objects.rs.
  pure      The `tlog`, `compliance` and `gate` crates depend only on the crates
            in PURE_DEPENDENCIES, and their src/ uses no std::fs, std::net,
            std::process, std::thread, std::env, SystemTime::now or Instant::now.
            A pure crate that also ships a binary (gate's src/bin/) may depend
            on BINARY_ONLY_DEPENDENCIES too; src/bin/ may do I/O, and the
            library's src/ outside src/bin/ may not name those crates.

Python 3 standard library only.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
KEYWORDS_NOT_MODULES = {"crate", "super", "self", "Self"}

# Rule `pure`: the only [dependencies] that the pure crates may have.
PURE_CRATES = ("tlog", "compliance", "gate")
PURE_DEPENDENCIES = {
    "tlog",  # compliance may build on tlog, which is pure itself
    "gate",  # compliance records gate::Config (a project's rule configuration)
    "serde",
    "serde_json",
    "serde_json_canonicalizer",
    "sha2",
    "thiserror",
    "base64",
    "ed25519-dalek",
    "rand_core",
    "saphyr-parser",  # gate's YAML reader: pure Rust, events only, no I/O
    "caseless",  # Unicode case folding of principals' names (tables only)
    "unicode-normalization",  # NFKC of principals' names (tables only)
}
# Crates only the binary of a pure crate (its src/bin/) may use.
BINARY_ONLY_DEPENDENCIES = {"anyhow", "clap", "reqwest"}
IMPURE_STD = ("fs", "net", "process", "thread", "env")
IMPURE_CALLS = re.compile(r"\b(SystemTime|Instant)\s*::\s*now\b")

HTTP_CRATES = ("axum", "tower_http")
HTTP_DIR = "log-server/src/http/"
ROCKSDB_FILE = "log-server/src/storage/rocksdb.rs"
# The other backends' client crates, each named in one file only (issue 13).
BACKEND_FILES = {
    "tokio_postgres": "log-server/src/storage/postgres.rs",
    "object_store": "log-server/src/storage/objects.rs",
}


# ---------------------------------------------------------------- lexing


def blank_comments_and_strings(text):
    """The text with comments, string and char literals replaced by spaces.

    Newlines are kept, so offsets and line numbers stay those of the file.
    Handles nested block comments, raw strings (r"..", r#".."#, br#".."#),
    byte strings, escapes, char literals, and lifetimes (`'a`, left as is).
    """
    out = list(text)
    n = len(text)
    i = 0

    def blank(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if c == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif c == "/" and text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif c in "rb" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.compile(r'b?r(#*)"').match(text, i)
            if m:
                end = text.find('"' + m.group(1), m.end())
                end = n if end < 0 else end + 1 + len(m.group(1))
                blank(i, end)
                i = end
            elif text.startswith('b"', i) or text.startswith("b'", i):
                i += 1  # the literal itself is handled from the quote
            else:
                i += 1
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(i, j + 1)
            i = j + 1
        elif c == "'":
            # A char literal ('x', '\n', '\u{..}', '"') or a lifetime ('a).
            m = re.compile(r"'(\\(u\{[0-9a-fA-F]*\}|x[0-9a-fA-F]{2}|.)|[^\\'\n])'").match(text, i)
            if m:
                blank(i, m.end())
                i = m.end()
            else:
                i += 1
        else:
            i += 1
    return "".join(out)


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


USE_RE = re.compile(r"(?<![A-Za-z0-9_])use\s+")
TOKEN_RE = re.compile(r"\s*(::|[{},*;]|" + IDENT + r")")


def use_statements(code):
    """Yield (start, end, [(segments, offset of the last segment)]) per `use` item."""
    for m in USE_RE.finditer(code):
        end = code.find(";", m.end())
        if end < 0:
            continue
        toks, pos = [], m.end()
        while pos < end:
            t = TOKEN_RE.match(code, pos)
            if not t:
                break
            toks.append((t.group(1), t.start(1)))
            pos = t.end()
        paths = []
        _use_tree(toks, 0, [], None, paths)
        yield m.start(), end + 1, paths


def _use_tree(toks, i, prefix, prefix_off, out):
    """Parse one use tree from toks[i]; append its leaf paths to out; return next index."""
    segs, last = list(prefix), prefix_off
    while i < len(toks):
        tok, off = toks[i]
        if tok == "::":
            if not segs:
                segs.append("")  # a leading `::`: a path from the extern prelude
            i += 1
        elif tok == "{":
            i += 1
            while i < len(toks) and toks[i][0] != "}":
                if toks[i][0] == ",":
                    i += 1
                    continue
                i = _use_tree(toks, i, segs, last, out)
            return i + 1
        elif tok == "*":
            out.append((segs, last if last is not None else off))
            return i + 1
        elif tok in (",", "}", ";"):
            break
        elif tok == "as":
            i += 2  # `as name`: the path ends before it
            out.append((segs, last))
            return i
        else:
            if tok == "self" and segs and i > 0 and toks[i - 1][0] in ("{", ","):
                out.append((segs, off))  # `a::{self, ..}` is `a`
                return i + 1
            segs = segs + [tok]
            last = off
            i += 1
    if segs:
        out.append((segs, last))
    return i


PATH_RE = re.compile(r"(?<![A-Za-z0-9_:])(::\s*)?(" + IDENT + r"(?:\s*::\s*" + IDENT + r")*)")


def code_paths(code, use_spans):
    """Yield (segments, offset) for every `a::b::c` path outside the `use` items."""
    masked = list(code)
    for s, e, _ in use_spans:
        for k in range(s, e):
            if masked[k] != "\n":
                masked[k] = " "
    masked = "".join(masked)
    for m in PATH_RE.finditer(masked):
        segs = [x.strip() for x in m.group(2).split("::")]
        if m.group(1):
            segs = [""] + segs
        yield segs, m.start(2)


MOD_BLOCK_RE = re.compile(r"(?<![A-Za-z0-9_])mod\s+(" + IDENT + r")\s*\{")


def inline_modules(code):
    """[(start, end, name)] for every inline `mod name { ... }` block."""
    blocks = []
    for m in MOD_BLOCK_RE.finditer(code):
        depth, j = 1, m.end()
        while j < len(code) and depth:
            if code[j] == "{":
                depth += 1
            elif code[j] == "}":
                depth -= 1
            j += 1
        blocks.append((m.start(), j, m.group(1)))
    return blocks


def module_at(file_module, blocks, offset):
    """The module that the code at offset is in: the file's, plus enclosing inline mods."""
    mod = list(file_module)
    for s, e, name in blocks:  # in source order, so outer blocks come first
        if s <= offset < e:
            mod.append(name)
    return tuple(mod)


# ---------------------------------------------------------------- reading the tree


class Source:
    def __init__(self, root, rel):
        self.rel = rel.replace(os.sep, "/")
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            self.text = f.read()
        self.code = blank_comments_and_strings(self.text)
        self.uses = list(use_statements(self.code))

    def line(self, offset):
        return line_of(self.text, offset)

    def paths(self):
        """Every path written in the file's code: (segments, offset)."""
        for _, _, paths in self.uses:
            yield from paths
        yield from code_paths(self.code, self.uses)


def workspace_members(repo):
    text = open(os.path.join(repo, "Cargo.toml"), encoding="utf-8").read()
    m = re.search(r"^\s*members\s*=\s*\[(.*?)\]", text, re.S | re.M)
    if not m:
        return []
    body = re.sub(r"#[^\n]*", "", m.group(1))
    return [x for x in re.findall(r'"([^"]+)"', body) if os.path.isdir(os.path.join(repo, x, "src"))]


def crate_sources(repo, crate):
    """{module path tuple: Source}, one map per crate root (lib+main together; each bin alone)."""
    src = os.path.join(repo, crate, "src")
    trees = {}
    for dirpath, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            rel_src = os.path.relpath(os.path.join(dirpath, f), src)[:-3].split(os.sep)
            tree = "lib"
            if rel_src[0] == "bin":
                tree = "bin/" + rel_src[1]
                rel_src = rel_src[2:] if len(rel_src) > 2 else []
            if rel_src and rel_src[-1] in ("mod", "lib", "main"):
                rel_src = rel_src[:-1]
            rel = os.path.relpath(os.path.join(dirpath, f), repo)
            trees.setdefault(tree, {})[tuple(rel_src)] = Source(repo, rel)
    return trees


# ---------------------------------------------------------------- rule: modules


def resolve(segs, here, mods):
    """The module a `crate::`/`super::`/`self::` path names (longest known prefix), or None."""
    if segs[0] == "crate":
        base, rest = (), segs[1:]
    elif segs[0] in ("super", "self"):
        base, rest = here, list(segs)
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
        if rest and rest[0] == "self":
            rest = rest[1:]
    else:
        return None
    for i in range(len(rest), -1, -1):
        cand = tuple(base) + tuple(rest[:i])
        if cand in mods:
            return cand
    return None


def module_edges(mods):
    """{module: {target: (Source, offset, path text)}}: the first place each edge is written."""
    edges = {m: {} for m in mods}
    for m, src in mods.items():
        if m == ():
            continue  # the crate root wires modules together; not an edge
        blocks = inline_modules(src.code)
        for segs, off in src.paths():
            if not segs or segs[0] not in ("crate", "super", "self"):
                continue
            here = module_at(m, blocks, off)
            t = resolve(segs, here, mods)
            if t is None or t == () or t == m:
                continue
            if t[: len(m)] == m:
                continue  # a parent naming its own child: containment
            edges[m].setdefault(t, (src, off, "::".join(segs)))
    return edges


def strongly_connected(edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
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
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def shortest_cycle(edges, comp):
    """One shortest cycle inside a strongly connected component, as a module list."""
    members = set(comp)
    best = None
    for start in comp:
        prev, frontier, seen = {}, [start], {start}
        found = None
        while frontier and not found:
            nxt = []
            for v in frontier:
                for w in sorted(edges[v]):
                    if w not in members:
                        continue
                    if w == start:
                        found = v
                        break
                    if w not in seen:
                        seen.add(w)
                        prev[w] = v
                        nxt.append(w)
                if found:
                    break
            frontier = nxt
        if found is not None:
            path = [found]
            while path[-1] != start:
                path.append(prev[path[-1]])
            path.reverse()
            if best is None or len(path) < len(best):
                best = path
    return best


def name(mod):
    return "::".join(mod) or "crate"


def check_modules(repo):
    problems = []
    for crate in workspace_members(repo):
        for tree, mods in sorted(crate_sources(repo, crate).items()):
            edges = module_edges(mods)
            plain = {m: set(t) for m, t in edges.items()}
            for comp in strongly_connected(plain):
                cycle = shortest_cycle(plain, comp)
                label = crate if tree == "lib" else f"{crate} ({tree})"
                head = (
                    f"{label}: import cycle between modules {', '.join(name(m) for m in comp)}"
                    f" (for example {' -> '.join(name(m) for m in cycle + [cycle[0]])});"
                    " the edges inside it:"
                )
                lines = []
                for m in comp:
                    for t in sorted(edges[m]):
                        if t in comp:
                            src, off, text = edges[m][t]
                            lines.append(f"    {src.rel}:{src.line(off)}: {name(m)} -> {name(t)} (`{text}`)")
                first_src, first_off, _ = edges[cycle[0]][cycle[1 % len(cycle)]]
                problems.append((first_src.rel, first_src.line(first_off), "modules", head + "\n" + "\n".join(lines)))
    return problems


# ---------------------------------------------------------------- rules: http, rocksdb


def rust_files(repo, crate):
    src = os.path.join(repo, crate, "src")
    for dirpath, _, files in os.walk(src):
        for f in sorted(files):
            if f.endswith(".rs"):
                yield Source(repo, os.path.relpath(os.path.join(dirpath, f), repo))


def names_crate(src, crate_name):
    """Offsets where the extern crate `crate_name` is named in the file's code.

    A path starting with it (`axum::Router`, `use rocksdb::{DB}`, `::rocksdb::DB`)
    names the crate, unless the file declares a module of that name (`mod rocksdb;`),
    whose bare paths then name the module. `crate::storage::rocksdb` is a module.
    """
    own_module = re.search(r"(?<![A-Za-z0-9_])mod\s+" + crate_name + r"\b", src.code) is not None
    hits = []
    for segs, off in src.paths():
        if not segs:
            continue
        if segs[0] == "" and len(segs) > 1 and segs[1] == crate_name:
            hits.append(off)
        elif segs[0] == crate_name and not own_module:
            hits.append(off)
    for m in re.finditer(r"(?<![A-Za-z0-9_])extern\s+crate\s+" + crate_name + r"\b", src.code):
        hits.append(m.start())
    # A macro or attribute naming the crate without `::` (`#[axum::debug_handler]`
    # is a path and is found above); `axum!` does not exist, so nothing else to find.
    return sorted(set(hits))


def check_http_and_rocksdb(repo):
    problems = []
    if not os.path.isdir(os.path.join(repo, "log-server", "src")):
        return problems
    for src in rust_files(repo, "log-server"):
        if not src.rel.startswith(HTTP_DIR):
            for c in HTTP_CRATES:
                for off in names_crate(src, c):
                    problems.append((src.rel, src.line(off), "http",
                                     f"`{c}` is named outside {HTTP_DIR}: the HTTP layer (routes, "
                                     f"extractors, middleware, serving) lives under {HTTP_DIR}; give the "
                                     "rest of the server plain types and functions"))
        if src.rel != ROCKSDB_FILE:
            for off in names_crate(src, "rocksdb"):
                problems.append((src.rel, src.line(off), "rocksdb",
                                 f"the `rocksdb` crate is named outside {ROCKSDB_FILE}: the rest of the "
                                 "server reaches storage through the traits of `storage`"))
        for c, only in BACKEND_FILES.items():
            if src.rel != only:
                for off in names_crate(src, c):
                    problems.append((src.rel, src.line(off), "rocksdb",
                                     f"the `{c}` crate is named outside {only}: the rest of the "
                                     "server reaches storage through the traits of `storage`"))
    return problems


# ---------------------------------------------------------------- rule: pure


def manifest_dependencies(path):
    """[(name, line)] of the [dependencies] and [target.*.dependencies] of a Cargo.toml."""
    deps, section = [], None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for no, raw in enumerate(lines, 1):
        line = re.sub(r"\s+#.*$", "", raw).strip()
        if not line or line.startswith("#"):
            continue
        h = re.match(r"^\[\s*([^\]]+?)\s*\]$", line)
        if h:
            section = h.group(1).replace('"', "").replace("'", "")
            table = re.match(r"^(?:target\..+\.)?dependencies\.(.+)$", section)
            if table:  # [dependencies.foo]
                deps.append((table.group(1), no))
                section = None
            continue
        if section is not None and re.match(r"^(?:target\..+\.)?dependencies$", section):
            k = re.match(r"^([A-Za-z0-9_-]+)\s*(?:\.|=)", line)
            if k:
                deps.append((k.group(1), no))
    return deps


def impure_std_uses(src):
    """(offset, what) for each std::fs/net/process/thread/env path and each clock read."""
    hits = []
    for segs, off in src.paths():
        s = [x for x in segs if x != ""]
        if len(s) >= 2 and s[0] in ("std", "core") and s[1] in IMPURE_STD:
            hits.append((off, "std::" + s[1]))
    for m in IMPURE_CALLS.finditer(src.code):
        hits.append((m.start(), m.group(1) + "::now"))
    return sorted(set(hits))


def check_pure(repo):
    problems = []
    for crate in PURE_CRATES:
        manifest = os.path.join(repo, crate, "Cargo.toml")
        if not os.path.exists(manifest):
            continue
        rel = os.path.relpath(manifest, repo)
        has_bin = os.path.isdir(os.path.join(repo, crate, "src", "bin"))
        allowed = PURE_DEPENDENCIES | (BINARY_ONLY_DEPENDENCIES if has_bin else set())
        for dep, no in manifest_dependencies(manifest):
            if dep not in allowed:
                problems.append((rel, no, "pure",
                                 f"`{crate}` is a pure crate (no I/O, no clock, no async runtime) and may not "
                                 f"depend on `{dep}`; allowed: {', '.join(sorted(allowed))} "
                                 "(scripts/check-architecture.py, PURE_DEPENDENCIES)"))
        bin_dir = os.path.join(crate, "src", "bin") + os.sep
        for src in rust_files(repo, crate):
            if src.rel.startswith(bin_dir):
                continue  # the binary may do I/O
            for off, what in impure_std_uses(src):
                problems.append((src.rel, src.line(off), "pure",
                                 f"`{crate}` is a pure crate and may not use `{what}`: take the data, "
                                 "the time or the environment as an argument from the caller"))
            for dep in sorted(BINARY_ONLY_DEPENDENCIES):
                for off in names_crate(src, dep):
                    problems.append((src.rel, src.line(off), "pure",
                                     f"`{dep}` is for `{crate}`'s binary (src/bin/) only, not its library"))
    return problems


# ---------------------------------------------------------------- main


def check(repo):
    return check_modules(repo) + check_http_and_rocksdb(repo) + check_pure(repo)


def report(problems, out=sys.stderr):
    for path, line, rule, msg in sorted(problems, key=lambda p: (p[0], p[1], p[2])):
        print(f"{path}:{line}: {rule}: {msg}", file=out)


SELF_TEST_TREE = {
    "Cargo.toml": '[workspace]\nmembers = [\n    "tlog",\n    # pure\n    "compliance",\n    "log-server",\n]\n',
    "tlog/Cargo.toml": '[package]\nname = "tlog"\n\n[dependencies]\nsha2 = { workspace = true }\n'
    "thiserror.workspace = true\n\n[dev-dependencies]\ntokio.workspace = true\n",
    "tlog/src/lib.rs": "//! Uses std::fs in a comment only.\npub mod a;\npub mod b;\n"
    'const S: &str = "std::fs::read and Instant::now() in a string";\n',
    # A child naming its parent, and a parent naming its child: no cycle.
    "tlog/src/a.rs": "pub mod c;\nuse self::c::C;\npub struct A;\n",
    "tlog/src/a/c.rs": "use super::A;\npub struct C;\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
    "tlog/src/b.rs": "use crate::a::c::C;\n",
    "compliance/Cargo.toml": '[package]\nname = "compliance"\n\n[dependencies]\nserde.workspace = true\n'
    'tlog = { path = "../tlog" }\ntokio = { workspace = true }  # not allowed\n\n'
    '[target.\'cfg(unix)\'.dependencies]\nlibc = "0.2"\n\n[dependencies.reqwest]\nversion = "0.12"\n',
    "compliance/src/lib.rs": "use std::{collections::BTreeMap, fs};\n"
    "pub fn now() -> u64 {\n    let _ = std::time::SystemTime::now();\n    0\n}\n"
    "pub fn spawn() { std::thread::spawn(|| ()); }\n",
    "log-server/Cargo.toml": '[package]\nname = "stateanchor-log"\n',
    "log-server/src/main.rs": "mod http;\nmod keys;\nmod log;\nmod storage;\nmod x;\nmod y;\nmod z;\nfn main() {}\n",
    "log-server/src/http/mod.rs": "use axum::Router;\nuse tower_http::trace::TraceLayer;\npub mod routes;\n",
    "log-server/src/http/routes.rs": "pub async fn serve() { axum::serve(todo!(), todo!()).await; }\n",
    "log-server/src/keys.rs": "use axum::http::StatusCode;\n",
    "log-server/src/storage/mod.rs": "pub mod rocksdb;\npub use rocksdb::RocksDb;\n",
    "log-server/src/storage/rocksdb.rs": "use rocksdb::{DB, WriteBatch};\npub struct RocksDb;\n",
    "log-server/src/log.rs": "use crate::storage::{rocksdb::RocksDb, self};\nuse ::rocksdb::Options;\n"
    "fn open() { let _ = rocksdb::DB::open_default(\"x\"); }\n",
    # A three-module cycle: x -> y (use), y -> z (a path in code), z -> x (grouped use).
    "log-server/src/x.rs": "use crate::y::Y;\npub struct X;\n",
    "log-server/src/y.rs": "pub struct Y;\nfn f() -> u8 { crate::z::Z }\n",
    "log-server/src/z.rs": "use crate::{x::X, keys};\npub const Z: u8 = 0;\n",
}

SELF_TEST_EXPECT = {
    # (path, line, rule) that must be reported, and nothing else.
    ("compliance/Cargo.toml", 7, "pure"),  # tokio
    ("compliance/Cargo.toml", 10, "pure"),  # libc under [target.'cfg(unix)'.dependencies]
    ("compliance/Cargo.toml", 12, "pure"),  # [dependencies.reqwest]
    ("compliance/src/lib.rs", 1, "pure"),  # use std::{.., fs}
    ("compliance/src/lib.rs", 3, "pure"),  # SystemTime::now
    ("compliance/src/lib.rs", 6, "pure"),  # std::thread
    ("log-server/src/keys.rs", 1, "http"),
    ("log-server/src/log.rs", 2, "rocksdb"),  # ::rocksdb::Options
    ("log-server/src/log.rs", 3, "rocksdb"),  # rocksdb::DB in code
    ("log-server/src/x.rs", 1, "modules"),  # the x -> y -> z -> x cycle, reported once
}


def self_test():
    tmp = tempfile.mkdtemp(prefix="check-architecture-")
    try:
        for rel, text in SELF_TEST_TREE.items():
            path = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        problems = check(tmp)
        got = {(p, line, rule) for p, line, rule, _ in problems}
        ok = True
        for miss in sorted(SELF_TEST_EXPECT - got):
            print(f"self-test: rule did not fire: {miss}", file=sys.stderr)
            ok = False
        for extra in sorted(got - SELF_TEST_EXPECT):
            print(f"self-test: unexpected report: {extra}", file=sys.stderr)
            ok = False
        cycle = [m for p, _, rule, m in problems if rule == "modules"]
        if not (len(cycle) == 1 and "modules x, y, z" in cycle[0] and "x -> y -> z -> x" in cycle[0]):
            print(f"self-test: the cycle report does not name x, y and z: {cycle}", file=sys.stderr)
            ok = False
        # The command line: exit 1 and a report on the synthetic tree.
        run = subprocess.run([sys.executable, os.path.abspath(__file__), tmp], capture_output=True, text=True)
        if run.returncode != 1 or "log-server/src/keys.rs:1: http:" not in run.stderr:
            print(f"self-test: the command exited {run.returncode}:\n{run.stderr}", file=sys.stderr)
            ok = False
        # Once the violations are fixed, the tree passes.
        for rel in ("log-server/src/keys.rs", "log-server/src/log.rs", "log-server/src/z.rs",
                    "compliance/src/lib.rs"):
            with open(os.path.join(tmp, rel), "w", encoding="utf-8") as f:
                f.write("pub fn f() {}\n")
        with open(os.path.join(tmp, "compliance/Cargo.toml"), "w", encoding="utf-8") as f:
            f.write('[package]\nname = "compliance"\n\n[dependencies]\nserde.workspace = true\n')
        rest = check(tmp)
        if rest:
            report(rest)
            print("self-test: the fixed tree still fails", file=sys.stderr)
            ok = False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("check-architecture self-test: " + ("ok (modules, http, rocksdb, pure each fire)" if ok else "FAILED"))
    return 0 if ok else 1


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print(__doc__, file=sys.stderr)
        return 2
    repo = argv[1] if len(argv) == 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    problems = check(repo)
    if problems:
        report(problems)
        print(f"check-architecture: {len(problems)} violation(s); the rules are in {os.path.relpath(__file__)}",
              file=sys.stderr)
        return 1
    print("check-architecture: ok (module cycles, http, rocksdb, pure crates)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
