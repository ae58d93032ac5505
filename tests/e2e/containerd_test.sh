#!/usr/bin/env bash
# strata as containerd's snapshotter (issue 18): a real containerd (Debian's,
# its own root, state, socket and config naming the strata proxy plugin)
# imports images into strata's store through strata-snapshotter, runs
# containers on them with runc, lists, measures and removes snapshots, gets
# clear errors for bad requests, survives restarts of both daemons, and its
# garbage collection removes the snapshots and then strata's layers.
# STRATA_SNAPSHOTTER_DRIVER=fuse runs it all over strata-fuse mounts instead
# of the kernel path.
source "$(dirname "$0")/lib.sh"
for tool in containerd ctr containerd-shim-runc-v2 runc umoci; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed"; exit 1; }
done
SNAPSHOTTER=$(dirname "$STRATA")/strata-snapshotter
S() { "$STRATA" "$@"; }
C=$WORK/c
mkdir -p "$C"
SNAP_ROOT=$WORK/snapstore  # the snapshotter's store; images are built in $STRATA_ROOT
cat >"$C/config.toml" <<TOML
version = 2
root = "$C/root"
state = "$C/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$C/containerd.sock"
[ttrpc]
  address = "$C/containerd.sock.ttrpc"
# Garbage collection when asked for (image rm --sync), not in the background:
# snapshots ctr prepares hold no lease, and may otherwise go between two steps.
[plugins."io.containerd.gc.v1.scheduler"]
  pause_threshold = 0.0001
  deletion_threshold = 0
  mutation_threshold = 1000000
  schedule_delay = "0s"
  startup_delay = "100ms"
[proxy_plugins.strata]
  type = "snapshot"
  address = "$C/strata.sock"
TOML
pids=()
start_snapshotter() {
  STRATA_ROOT=$SNAP_ROOT "$SNAPSHOTTER" --driver "${STRATA_SNAPSHOTTER_DRIVER:-auto}" --address "$C/strata.sock" \
    2>>"$C/snapshotter.log" &
  snap_pid=$!
  for _ in $(seq 50); do [ -S "$C/strata.sock" ] && break; sleep 0.1; done
}
start_containerd() {
  containerd --config "$C/config.toml" >>"$C/containerd.log" 2>&1 &
  ctrd_pid=$!
  for _ in $(seq 100); do ctr_ version >/dev/null 2>&1 && break; sleep 0.1; done
}
stop_all() {
  kill "$ctrd_pid" 2>/dev/null && wait "$ctrd_pid" 2>/dev/null
  kill "$snap_pid" 2>/dev/null && wait "$snap_pid" 2>/dev/null
}
cleanup() {
  ctr_ tasks kill -s KILL c1 >/dev/null 2>&1
  stop_all
  pkill -f "containerd-shim-runc-v2 -namespace $NS -id .* -address $C/containerd.sock" 2>/dev/null
  grep -o " $WORK[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
# A namespace of this run's own: runc keeps its state per namespace under
# /run/containerd/runc, shared by every containerd (the FUSE variant runs beside).
NS=e2e$$
ctr_() { ctr --address "$C/containerd.sock" --namespace "$NS" "$@"; }
snaps() { ctr_ snapshots --snapshotter strata "$@"; }
start_snapshotter
start_containerd
expect_ok "containerd lists the strata snapshotter" ctr_ plugins ls
expect_eq "as a proxy plugin that is ok" "$(grep -cE 'io.containerd.snapshotter.v1 +strata .* ok' "$WORK/out")" 1
expect_eq "with the mounts asked for" "$(grep -c "(${STRATA_SNAPSHOTTER_DRIVER:-kernel} mounts)" "$C/snapshotter.log")" 1

# An image strata made (saved), and one it did not (umoci's).
busybox_rootfs "$WORK/rootfs"
echo "root:x:0:0:root:/root:/bin/sh" >"$WORK/rootfs/etc/passwd"
tar -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
S import -q "$WORK/rootfs.tar" bb:1 >/dev/null
mkdir -p "$WORK/ctx" && head -c 300000 /dev/urandom >"$WORK/ctx/payload"
printf 'FROM bb:1\nCOPY payload /srv/payload\nRUN rm /bin/vi\n' >"$WORK/ctx/Dockerfile"
S build -q -t app:1 "$WORK/ctx" >/dev/null
S save -q app:1 -o "$WORK/app.tar"
expect_ok "ctr image import of strata's save" ctr_ image import --snapshotter strata "$WORK/app.tar"
expect_eq "three committed snapshots, one per layer" "$(snaps ls | grep -c ' Committed *$')" 3
layer_count() { STRATA_ROOT=$SNAP_ROOT S layer ls --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
expect_eq "each a strata layer in the snapshotter's store" "$(layer_count)" 3

umoci init --layout "$WORK/uo" && umoci new --image "$WORK/uo:latest" &&
  umoci unpack --image "$WORK/uo:latest" "$WORK/ub" >/dev/null
cp -a "$WORK/rootfs/." "$WORK/ub/rootfs/" && echo "from umoci" >"$WORK/ub/rootfs/who"
umoci repack --image "$WORK/uo:latest" "$WORK/ub" >/dev/null
tar -C "$WORK/uo" -cf "$WORK/uo.tar" .
expect_ok "ctr image import of an image strata did not make" \
  ctr_ image import --snapshotter strata --base-name docker.io/library/uo "$WORK/uo.tar"

# Runs on strata and on overlayfs give the same output.
run_cmd='echo written >/tmp/made; cat /tmp/made; sha256sum /srv/payload | cut -c1-16; ls /bin/vi 2>&1 | head -1; cat /etc/passwd'
for sn in strata overlayfs; do
  ctr_ run --rm --snapshotter $sn docker.io/library/app:1 "run-$sn" sh -c "$run_cmd" >"$WORK/run-$sn.out" 2>&1
done
expect_eq "ctr run on strata: what the command printed" "$(head -2 "$WORK/run-strata.out" | tail -1)" \
  "$(sha256sum "$WORK/ctx/payload" | cut -c1-16)"
expect_eq "the same as on containerd's overlayfs" "$(cat "$WORK/run-strata.out")" "$(cat "$WORK/run-overlayfs.out")"
expect_eq "a whiteout from the build hides the file" "$(grep -c 'No such file' "$WORK/run-strata.out")" 1
expect_eq "umoci's image runs too" "$(ctr_ run --rm --snapshotter strata docker.io/library/uo:latest u1 cat /who)" "from umoci"

# A container that stays: its writable snapshot is active, then committed by nobody; usage counts its writes.
ctr_ run -d --snapshotter strata docker.io/library/app:1 c1 sh -c 'head -c 200000 /dev/urandom >/big; sleep 1000' >/dev/null
expect_eq "its snapshot is active" "$(snaps ls | awk '$1=="c1" {print $3}')" "Active"
written() { snaps usage c1 | awk 'NR==2 {print ($3=="KiB" && $2>=195) || $3=="MiB"}'; }
for _ in $(seq 100); do [ "$(written)" = 1 ] && break; sleep 0.1; done  # the container starts when it starts
expect_eq "usage counts its writes (200 KB)" "$(written)" 1

# Bad requests: clear errors to the engine, the store unchanged.
# The store's files and layers; not snapshots/ (containerd's own background
# work, such as removing a finished container's snapshot, goes on meanwhile).
snap_state() {
  (cd "$SNAP_ROOT" && find . -path ./snapshots -prune -o -name lock -prune -o -name 'catalog.db*' -prune \
    -o -type f -print0 | sort -z | xargs -0 -r sha256sum)
  STRATA_ROOT=$SNAP_ROOT S layer ls --json
}
before=$(snap_state)
top=$(snaps ls | awk '$3=="Committed" {print $1}' | head -1)    # one with a parent
bottom=$(snaps ls | awk -v t="$top" '$1==t {print $2}')          # its parent
expect_error "an unknown parent" "parent snapshot nope does not exist" snaps prepare k1 nope
expect_ok "a view" snaps view v1 "$top"
expect_error "committing a view" "only an active snapshot can be committed" snaps commit name1 v1
expect_ok "removing the view" snaps rm v1
# (containerd refuses this one itself, before asking strata; the unit tests cover strata's refusal)
expect_error "removing a snapshot with children" "child" snaps rm "$bottom"
expect_error "a snapshot that exists" "already exists" snaps prepare c1 "$top"
after=$(snap_state)
[ "$after" = "$before" ] && ok || fail "the store is not as it was: $(diff <(echo "$before") <(echo "$after") | head -5)"
expect_ok "prepare, then remove" snaps prepare k2 "$top"
expect_ok "rm" snaps rm k2
expect_eq "gone" "$(snaps ls | awk '$1=="k2"' | wc -l)" 0
ctr_ tasks kill -s KILL c1 >/dev/null; sleep 0.5; ctr_ tasks rm c1 >/dev/null 2>&1; ctr_ containers rm c1 >/dev/null

# Both daemons restart; the snapshots are still there and run.
stop_all
start_snapshotter
start_containerd
expect_eq "after restarts: the same snapshots" "$(snaps ls | grep -c ' Committed *$')" 4
expect_eq "and containers run" "$(ctr_ run --rm --snapshotter strata docker.io/library/app:1 r2 cat /etc/passwd)" \
  "root:x:0:0:root:/root:/bin/sh"

# containerd's garbage collection removes the snapshots, and strata the layers nothing else uses.
expect_ok "ctr image rm" ctr_ image rm --sync docker.io/library/app:1 docker.io/library/uo:latest
for _ in $(seq 50); do [ "$(snaps ls | awk 'NR>1' | wc -l)" = 0 ] && break; sleep 0.2; done
expect_eq "no snapshot left" "$(snaps ls | awk 'NR>1' | wc -l)" 0
expect_eq "no layer left in strata's store" "$(layer_count)" 0
expect_ok "fsck of the snapshotter's store" env STRATA_ROOT=$SNAP_ROOT "$STRATA" fsck
finish
