# Shared helpers for the end-to-end tests: a temporary store, assertions,
# and a pass/fail tally. Source it; call `finish` last.
set -u
STRATA=${STRATA:?path to the strata binary}
WORK=$(mktemp -d /tmp/strata-e2e.XXXXXX)
export STRATA_ROOT=$WORK/store
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0

# strata-fuse, with $STRATA_FUSE_EXTRA's arguments first (uring_test.sh runs
# whole suites over io_uring that way).
strata_fuse() { "$(dirname "$STRATA")/strata-fuse" ${STRATA_FUSE_EXTRA:-} "$@"; }

# busybox_rootfs DIR: a root file system of busybox and all its applets, with
# bin/, etc/, root/ and a sticky tmp/ (each test writes its own etc/passwd).
busybox_rootfs() {
  mkdir -p "$1"/{bin,etc,tmp,root}
  cp /bin/busybox "$1/bin/busybox"
  for a in $("$1/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$1/bin/$a"; done
  chmod 1777 "$1/tmp"
}

# podman_private DRIVER [MOUNT_PROGRAM]: podman (and skopeo, buildah) with their
# own storage under $WORK and this sandbox's settings: offline (netns none),
# runc, cgroupfs, and ulimits within the hard limits (without CAP_SYS_RESOURCE
# runc may not raise one; podman's default nofile 1048576 is above them).
podman_private() {
  export CONTAINERS_STORAGE_CONF=$WORK/storage.conf CONTAINERS_CONF=$WORK/containers.conf
  {
    printf '[storage]\ndriver = "%s"\nrunroot = "%s/run"\ngraphroot = "%s/graph"\n' "$1" "$WORK" "$WORK"
    [ -z "${2:-}" ] || printf '[storage.options.overlay]\nmount_program = "%s"\n' "$2"
  } >"$CONTAINERS_STORAGE_CONF"
  cat >"$CONTAINERS_CONF" <<CONF
[containers]
netns = "none"
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
}
podman_() { podman --log-level=error "$@"; }

ok() { passed=$((passed + 1)); }
fail() {
  failed=$((failed + 1))
  echo "FAIL: $*" >&2
}
# expect_eq WHAT ACTUAL EXPECTED
expect_eq() { if [ "$2" = "$3" ]; then ok; else fail "$1: got '$2', want '$3'"; fi; }
# expect_ok WHAT CMD...: the command succeeds
expect_ok() {
  local what=$1
  shift
  if "$@" >"$WORK/out" 2>"$WORK/err"; then ok; else fail "$what: exit $? ($(cat "$WORK/err"))"; fi
}
# expect_error WHAT PATTERN CMD...: fails with exactly one stderr line matching PATTERN
expect_error() {
  local what=$1 pattern=$2
  shift 2
  if "$@" >"$WORK/out" 2>"$WORK/err"; then
    fail "$what: succeeded, should have failed"
    return
  fi
  local lines
  lines=$(wc -l <"$WORK/err")
  if [ "$lines" -ne 1 ]; then fail "$what: $lines lines on stderr: $(cat "$WORK/err")"; return; fi
  if grep -q -- "$pattern" "$WORK/err"; then ok; else fail "$what: stderr '$(cat "$WORK/err")' lacks '$pattern'"; fi
}
# Snapshot of the store's files and catalog, to prove a failure changed nothing.
store_state() {
  (cd "$STRATA_ROOT" && find . \( -name lock -o -name .lock \) -prune -o -name 'catalog.db*' -prune -o -type f -print0 |
    sort -z | xargs -0 -r sha256sum)
  "$STRATA" image ls --json
  "$STRATA" layer ls --json
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
