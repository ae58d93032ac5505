#!/usr/bin/env python3
"""Checks that the library's folders depend on each other one way only.

Each lib/<folder>/README.md has two lines:
  Uses: util, format        (the folders its files may include; "nothing" for none)
  Implements: strata/x.h    (the public headers whose code lives in the folder)
A file in lib/<folder>/ may include "<folder>/...", "<used>/...", and the public
headers its folder or a used folder implements. A public header may include the
public headers of its own folder and of the folders that folder uses. tools/ and
fusefs/ may include public headers only. Exits 1 naming every violation.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def read_folders():
    uses, owner = {}, {}
    for readme in sorted((ROOT / "lib").glob("*/README.md")):
        folder = readme.parent.name
        text = readme.read_text()
        used = re.search(r"^Uses:\s*(.*)$", text, re.M)
        implements = re.search(r"^Implements:\s*(.*)$", text, re.M)
        if not used or not implements:
            sys.exit(f"{readme}: needs a 'Uses:' and an 'Implements:' line")
        names = [n.strip() for n in used.group(1).split(",") if n.strip()]
        uses[folder] = set() if names == ["nothing"] else set(names)
        for header in (h.strip() for h in implements.group(1).split(",")):
            if header in owner:
                sys.exit(f"{header} is implemented by both {owner[header]} and {folder}")
            owner[header] = folder
    for folder, used in uses.items():
        for u in used - set(uses):
            sys.exit(f"lib/{folder}/README.md uses {u}, which is no folder")
    return uses, owner


def transitive(uses):
    """Folders reachable through Uses; a folder reaching itself is a cycle."""
    closure = {}
    for start in uses:
        seen, todo = set(), list(uses[start])
        while todo:
            f = todo.pop()
            if f not in seen:
                seen.add(f)
                todo.extend(uses[f])
        closure[start] = seen
    return closure


def main():
    uses, owner = read_folders()
    closure = transitive(uses)
    problems = [f"lib/{f}: its Uses lines form a cycle" for f in uses if f in closure[f]]
    public = {f"strata/{p.name}" for p in (ROOT / "include/strata").glob("*.h")}
    for header in sorted(public - set(owner) - {"strata/strata.h"}):
        problems.append(f"include/{header}: no lib/*/README.md says it implements it")

    def allowed(folder, inc):
        top = inc.split("/", 1)[0]
        if top == "strata":
            return owner.get(inc) in {folder} | uses[folder]
        return top == folder or top in uses[folder]

    for path in sorted((ROOT / "lib").glob("*/*")):
        if path.suffix not in (".h", ".cc"):
            continue
        folder = path.parent.name
        for inc in INCLUDE.findall(path.read_text()):
            if not allowed(folder, inc):
                problems.append(f"{path.relative_to(ROOT)}: includes {inc}, but {folder}/ may not use it")
    for path in sorted((ROOT / "include/strata").glob("*.h")):
        folder = owner.get(f"strata/{path.name}")
        if folder is None:
            continue
        for inc in INCLUDE.findall(path.read_text()):
            if not allowed(folder, inc):
                problems.append(f"{path.relative_to(ROOT)}: includes {inc}, but {folder}/ may not use it")
    for top in ("tools", "fusefs"):
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix not in (".h", ".cc"):
                continue
            for inc in INCLUDE.findall(path.read_text()):
                if "/" in inc and not inc.startswith("strata/"):
                    problems.append(f"{path.relative_to(ROOT)}: includes {inc}; {top}/ sees include/strata/ only")
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print(f"layers: {len(uses)} folders, one way")


if __name__ == "__main__":
    main()
