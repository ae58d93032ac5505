#!/bin/bash
# Containers end to end with runc and real mounts: the writable layer across
# starts and after rm, volumes (the seeds' example), bind and read-only bind
# mounts, volume-in-use refusal, diff, commit, and `strata mount CONTAINER`.
source "$(dirname "$0")/lib.sh"
command -v runc >/dev/null || { echo "runc is missing"; exit 1; }

rootfs=$WORK/rootfs
busybox_rootfs "$rootfs"
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/tmp:/bin/sh\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\napp:x:1000:\n' >"$rootfs/etc/group"
tar --numeric-owner -C "$rootfs" -cf "$WORK/busybox.tar" .
expect_ok "import busybox" "$STRATA" import "$WORK/busybox.tar" busybox:latest
S() { "$STRATA" "$@"; }

# --- run: output and exit status ----------------------------------------------------
expect_eq "run prints the output" "$(S run --rm busybox echo hello from a container)" "hello from a container"
S run --rm busybox sh -c 'exit 7' >/dev/null 2>&1
expect_eq "run exits with the command's status" "$?" 7
expect_eq "-e, -w and -u reach the process" \
  "$(S run --rm -e GREETING=hi -w /tmp -u app busybox sh -c 'echo $GREETING $(pwd) $(id -u):$(id -g)')" "hi /tmp 1000:1000"
expect_eq "--rm removed them" "$(S ps -a -q | wc -l)" 0

# --- the writable layer lives until rm ------------------------------------------------
expect_ok "create" S create --name keeper busybox sh -c 'cat /tmp/note 2>/dev/null; echo kept >>/tmp/note; rm -f /etc/group'
expect_eq "ps -a shows it created" "$(S ps -a | grep -c ' Created .*keeper$')" 1
expect_eq "ps without -a hides it" "$(S ps | grep -c keeper)" 0
expect_eq "first start: nothing yet" "$(S start -a keeper)" ""
expect_eq "second start sees the first's write" "$(S start -a keeper)" "kept"
expect_eq "ps -a shows it exited" "$(S ps -a | grep -c 'Exited (0).*keeper$')" 1
expect_eq "ps --json" "$(S ps -a --json | python3 -c 'import json,sys; c=json.load(sys.stdin)[0]; print(c["Name"], c["State"])')" \
  "keeper exited"
expect_eq "diff: A, C and D lines" "$(S diff keeper | tr '\n' ' ')" "C /etc D /etc/group C /tmp A /tmp/note "
expect_eq "diff --json" "$(S diff --json keeper | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" 4
expect_ok "start without -a" S start keeper
expect_eq "it runs detached; wait gives its status" "$(S wait keeper)" 0
expect_eq "its output went to the log" "$(S logs keeper)" "kept
kept"

# strata mount CONTAINER: its tree, writable into its layer.
mkdir -p "$WORK/mnt"
expect_ok "mount the container" S mount --allow-other --passthrough keeper "$WORK/mnt"
expect_eq "with the options asked for" "$(findmnt -n -o OPTIONS "$WORK/mnt" | grep -c allow_other),$(pgrep -af "strata-fuse .*$WORK/mnt" | grep -c -- '-o passthrough')" 1,1
expect_eq "the mount shows its layer" "$(cat "$WORK/mnt/tmp/note")" "kept
kept
kept"
expect_eq "and its deletion" "$(ls "$WORK/mnt/etc")" "passwd"
echo "from the host" >"$WORK/mnt/tmp/host-note"
expect_error "no start while it is mounted" "mounted elsewhere" S start -a keeper
expect_error "no second mount of its layer" "mounted elsewhere" S mount keeper "$WORK/rootfs"
expect_ok "umount" S umount "$WORK/mnt"
expect_eq "a write through the mount is in its layer" "$(S run --rm busybox true; S start -a keeper >/dev/null; S diff keeper | grep -c '^A /tmp/host-note$')" 1

# commit: the layer becomes an image layer.
expect_ok "commit" S commit keeper keeper-image:1
expect_eq "the committed image holds the changes" \
  "$(S run --rm keeper-image:1 sh -c 'cat /tmp/note | wc -l; ls /etc')" "4
passwd"
expect_error "an image in use by a container cannot go" "used by container keeper" S image rm busybox:latest
expect_ok "rm" S rm keeper
expect_eq "rm removed the layer" "$(ls "$STRATA_ROOT/containers" | wc -l)" 0
expect_error "rm of a missing container" "no such container: keeper" S rm keeper
expect_ok "a new container starts clean" S run --name fresh busybox sh -c 'test ! -e /tmp/note'

# --- volumes: the seeds' example ----------------------------------------------------------
for i in 1 2; do
  expect_ok "writer $i" S run --rm -v data_volume:/opt busybox sh -c 'echo $RANDOM$RANDOM >>/opt/number.out'
done
expect_eq "a third container reads both numbers" "$(S run --rm -v data_volume:/opt busybox cat /opt/number.out | grep -c '^[0-9]\+$')" 2
expect_eq "the volume lives under volumes/" "$(wc -l <"$STRATA_ROOT/volumes/data_volume/_data/number.out")" 2
expect_ok "a container keeps a volume in use" S create --name user1 --mount type=volume,source=data_volume,target=/data busybox true
expect_error "volume rm is refused while used" "in use by container" S volume rm data_volume
expect_ok "rm the container" S rm user1
expect_eq "removing a container leaves its volume" "$(S volume ls -q | grep -c '^data_volume$')" 1
expect_ok "then volume rm works" S volume rm data_volume
# An anonymous volume: -v /path. rm -v removes it; run --rm too.
expect_ok "anonymous volume" S create --name anon -v /scratch busybox true
expect_eq "one anonymous volume" "$(S volume ls --json | python3 -c 'import json,sys; print(sum(v["Anonymous"] for v in json.load(sys.stdin)))')" 1
expect_ok "rm -v" S rm -v anon
expect_eq "rm -v removed it" "$(S volume ls -q | wc -l)" 0

# --- bind mounts -------------------------------------------------------------------------
mkdir -p "$WORK/host"
echo "on the host" >"$WORK/host/file"
expect_eq "-v /host:/path reads the host" "$(S run --rm -v "$WORK/host:/data" busybox cat /data/file)" "on the host"
expect_ok "and writes to it" S run --rm -v "$WORK/host:/data" busybox sh -c 'echo back >/data/new'
expect_eq "the write is on the host" "$(cat "$WORK/host/new")" "back"
S run --rm --mount "type=bind,source=$WORK/host,target=/data,readonly" busybox sh -c 'echo x >/data/ro' >/dev/null 2>&1
expect_eq "a read-only bind refuses writes" "$?" 1
expect_eq "nothing was written" "$(test -e "$WORK/host/ro" && echo yes || echo no)" no
expect_eq "-v /host:/path:ro too" "$(S run --rm -v "$WORK/host:/data:ro" busybox sh -c 'touch /data/x 2>&1 | grep -c Read-only')" 1
expect_error "a missing bind source" "does not exist" S run --rm -v /no/such/dir:/data busybox true
expect_error "a bad -v" "bad volume spec" S run --rm -v a:b:c:d busybox true
expect_error "a relative target" "absolute path" S run --rm -v vol:data busybox true
expect_error "a missing image" "no such image: nope" S run --rm nope true
expect_error "a taken name" "already in use" S create --name fresh busybox true

# Nothing left mounted by this test.
expect_eq "no mount left" "$(grep -c "$WORK" /proc/mounts)" 0
finish
