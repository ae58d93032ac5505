#!/usr/bin/env bash
# Runs the unit test binary as nobody (uid/gid 65534), to show that the tests
# it selects need no privilege. Skips (77) when nobody cannot reach the binary.
set -euo pipefail
binary=$1
shift
if ! setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$binary"; then
  echo "skipped: $binary is not reachable by uid 65534"
  exit 77
fi
cd /tmp
exec setpriv --reuid=65534 --regid=65534 --clear-groups "$binary" "$@"
