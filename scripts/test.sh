#!/usr/bin/env bash
# Builds strata and runs every test: unit, end-to-end and install tests with
# warnings as errors, then the unit, CLI and mount tests again under ASan/UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=$(nproc)

# The code is clang-formatted (.clang-format at the root).
if git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files -z '*.cc' '*.h' | xargs -0 clang-format --dry-run -Werror
fi

# The library's folders depend on each other one way (lib/*/README.md), and
# the lock rules annotated in the code hold (clang -Wthread-safety).
python3 scripts/check_layers.py
bash scripts/thread_safety.sh

cmake -S . -B build/ci -DSTRATA_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/ci -j"$jobs"
(cd build/ci && ctest --output-on-failure -j"$jobs")

if [ "${STRATA_SKIP_SANITIZERS:-0}" != 1 ]; then
  cmake -S . -B build/asan -DSTRATA_WERROR=ON -DSTRATA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build build/asan -j"$jobs" --target unit_tests strata_cli strata_fuse strata_monitor
  (cd build/asan && ctest --output-on-failure -R '^(unit|unit_root|unit_unprivileged|e2e_cli|e2e_mount|e2e_overlay|e2e_passthrough|e2e_compat|e2e_fuzz|e2e_uring|e2e_build|e2e_container|e2e_oci|e2e_system|e2e_trust|e2e_lifecycle)$')
fi
