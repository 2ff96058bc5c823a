#!/usr/bin/env python3
"""The workspace's declared minimum Rust version must be true.

Checks, from `cargo metadata`: every workspace crate inherits the workspace's `rust-version`,
and no dependency in the build (for this host) declares a newer `rust-version` than it. Our own
code's use of newer std APIs is what clippy's `incompatible_msrv` lint catches (it reads the
same `rust-version`, and `.ci/run` runs clippy with -D warnings). Only one toolchain can be
installed on the build machines, so the declared version itself is not compiled with.
"""
import json
import subprocess
import sys


def version(v):
    parts = [int(p) for p in v.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


host = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
triple = next(l.split(": ", 1)[1] for l in host.splitlines() if l.startswith("host: "))
meta = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--filter-platform", triple],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
)
members = set(meta["workspace_members"])
used = {n["id"] for n in meta["resolve"]["nodes"]}
ours = [p for p in meta["packages"] if p["id"] in members]
declared = {p["rust_version"] for p in ours}
problems = []
if len(declared) != 1 or None in declared:
    problems.append(f"workspace crates declare rust-version {sorted(map(str, declared))}: every one must inherit the workspace's")
msrv = next(iter(declared)) if len(declared) == 1 else None
if msrv:
    for p in meta["packages"]:
        rv = p.get("rust_version")
        if p["id"] in used and rv and version(rv) > version(msrv):
            problems.append(f"{p['name']} {p['version']} needs Rust {rv}, above the declared {msrv}")
for line in problems:
    print(f"msrv: {line}")
if problems:
    sys.exit(1)
print(f"msrv: {msrv}: {len(ours)} workspace crates inherit it; no dependency needs newer")
