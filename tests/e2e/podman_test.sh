#!/usr/bin/env bash
# strata-fuse as podman's mount_program: containers/storage (overlay driver)
# calls `strata-fuse --version`, mounts each container's rootfs with
# fuse-overlayfs's command line, and unmounts it with fusermount3 -u.
# Offline: the image comes from `podman import` of a busybox rootfs; runc,
# cgroupfs, no network.
source "$(dirname "$0")/lib.sh"
FUSE=$(readlink -f "$(dirname "$STRATA")/strata-fuse")
command -v podman >/dev/null || { echo "FAIL: podman is not installed"; exit 1; }
podman_private overlay "$FUSE"
trap 'podman_ rm -a -f >/dev/null 2>&1; podman_ system reset -f >/dev/null 2>&1; rm -rf "$WORK"' EXIT

rootfs=$WORK/rootfs
mkdir -p "$rootfs"/{bin,etc,tmp,proc,sys,dev}
cp /bin/busybox "$rootfs/bin/busybox"
for a in sh cat echo ls grep; do ln -s busybox "$rootfs/bin/$a"; done
echo "root:x:0:0:root:/root:/bin/sh" >"$rootfs/etc/passwd"
tar --numeric-owner -C "$rootfs" -cf "$WORK/rootfs.tar" .
expect_ok "podman import" podman_ import "$WORK/rootfs.tar" localhost/bb:1

expect_ok "podman run" podman_ run --rm localhost/bb:1 /bin/sh -c 'echo hello from podman'
expect_eq "output" "$(cat "$WORK/out")" "hello from podman"
expect_eq "rootfs is a strata mount" \
  "$(podman_ run --rm localhost/bb:1 /bin/grep -c ' / fuse.strata ' /proc/mounts)" 1

# A container's writes stay in its layer across starts, and whiteouts work:
# on its second start the container prints what its first start wrote.
podman_ run --name c1 localhost/bb:1 /bin/sh -c 'cat /tmp/note 2>/dev/null; echo kept >>/tmp/note; rm -f /etc/passwd' \
  >/dev/null
expect_eq "writes survive a restart" "$(podman_ start -a c1)" "kept"
expect_ok "podman diff" podman_ diff c1
expect_eq "diff shows the change and the deletion" "$(grep -cE '^(A /tmp/note|D /etc/passwd)$' "$WORK/out")" 2
expect_ok "podman rm" podman_ rm c1
# Only this test's mounts: other tests may run at the same time.
expect_eq "no strata mount left" "$(grep -c " $WORK/.* fuse.strata " /proc/mounts)" 0
finish
