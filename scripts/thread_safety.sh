#!/usr/bin/env bash
# Compiles the library and the FUSE daemon with clang's thread-safety analysis
# (-Wthread-safety, -Werror): the lock rules annotated in the code
# (lib/util/thread_annotations.h) are checked here. Syntax only: no objects
# are written, so this takes a fraction of a build.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/thread-safety
CXX=clang++ cmake -S . -B "$build" -DSTRATA_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
python3 - "$build/compile_commands.json" <<'PY' | xargs -0 -n1 -P"$(nproc)" bash -c
import json, shlex, sys
for entry in json.load(open(sys.argv[1])):
    if "/lib/" not in entry["file"] and "/fusefs/" not in entry["file"]:
        continue
    args = shlex.split(entry["command"])
    if "-o" in args:  # drop the output: syntax only
        i = args.index("-o")
        del args[i:i + 2]
    args += ["-fsyntax-only", "-Wthread-safety", "-Wthread-safety-beta", "-Werror", "-Wall", "-Wextra"]
    sys.stdout.write("cd %s && %s\0" % (shlex.quote(entry["directory"]), " ".join(map(shlex.quote, args))))
PY
echo "thread safety: clang -Wthread-safety clean"
