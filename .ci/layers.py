#!/usr/bin/env python3
"""The layer order of src/ (README, "Where things live"): a module may name
(`crate::NAME`) only modules before it in ORDER. Prints each reference that
points up and exits 1 if there is one. A new top-level module (src/NAME.rs or
src/NAME/) must be given its place in ORDER.

usage: .ci/layers.py [SRC_DIR]
"""
import os
import re
import sys

# Bottom first: internal plumbing, then the layers of DESIGN.md.
ORDER = [
    "sync", "signal", "timer", "wake", "delegate", "journal",
    "id", "reason", "wait", "receipt", "message", "error", "codec",
    "queue", "overflow", "stats", "dead_letter",
    "mailbox", "port", "topic", "office", "select",
]

src = sys.argv[1] if len(sys.argv) > 1 else "src"
modules = {}
for entry in sorted(os.listdir(src)):
    path = os.path.join(src, entry)
    # A module may be both src/NAME.rs and src/NAME/ (its submodules):
    # every file of either belongs to it.
    if entry.endswith(".rs") and entry != "lib.rs":
        modules.setdefault(entry[:-3], []).append(path)
    elif os.path.isdir(path):
        modules.setdefault(entry, []).extend(
            os.path.join(root, name)
            for root, _, names in os.walk(path)
            for name in names
            if name.endswith(".rs")
        )

bad = 0
for module, files in sorted(modules.items()):
    if module not in ORDER:
        print(f"unknown module {module}: give it its place in .ci/layers.py")
        bad += 1
        continue
    for path in files:
        code = "".join(l for l in open(path, encoding="utf-8") if not l.strip().startswith("//"))
        targets = set(re.findall(r"\bcrate::(\w+)", code))
        for group in re.findall(r"\bcrate::\{([^}]*)\}", code, re.S):
            targets |= set(re.findall(r"(?:^|,)\s*(\w+)", group))
        for target in sorted(targets):
            if target in modules and target != module and ORDER.index(target) > ORDER.index(module):
                print(f"{path}: {module} names {target}, a layer above it")
                bad += 1

print(f"{bad} references point up" if bad else "layers point one way")
sys.exit(1 if bad else 0)
