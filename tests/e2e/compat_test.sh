#!/usr/bin/env bash
# strata-fuse as a drop-in for fuse-overlayfs: its command line over plain
# directories (the way podman's containers/storage calls a mount_program),
# both whiteout styles, fsync=0, squash_to_*, uid/gid mappings, unknown
# options ignored with a warning, and unmounting with fusermount3 -u.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/layers.sh"
[ -c /dev/fuse ] || { echo "FAIL: /dev/fuse is missing"; exit 1; }
FUSE=$(dirname "$STRATA")/strata-fuse
mnt=$WORK/mnt ref=$WORK/ref
mkdir -p "$mnt" "$ref" "$WORK"/{u1,w1,u2,w2}
trap 'for m in "$mnt" "$ref"; do umount "$m" 2>/dev/null; done; rm -rf "$WORK"' EXIT
make_stack_image
make_kernel_lowers
# The middle layer as fuse-overlayfs writes one without CAP_MKNOD: .wh. files.
mkdir -p "$WORK/f1" && tar -C "$WORK/f1" -xpf "$WORK/l1.tar"
expect_eq "fixture has .wh. files" "$(find "$WORK/f1" -name '.wh.*' | wc -l)" 2

expect_ok "--version" "$FUSE" --version
expect_eq "version line" "$(head -c 20 "$WORK/out")" "strata-fuse: version"

# Read-only: lowerdir alone.
expect_ok "read-only mount" "$FUSE" -o "lowerdir=$WORK/k2:$WORK/f1:$WORK/k0" "$mnt"
mount -t overlay overlay -o "lowerdir=$WORK/k2:$WORK/k1:$WORK/k0" "$ref"
expect_eq "lower directories merge as kernel overlayfs does" "$(listing "$mnt" | grep -v passwd.link)" \
  "$(listing "$ref" | grep -v passwd.link)"
expect_eq "contents match" "$(cd "$mnt" && find . -type f -exec md5sum {} + | sort)" \
  "$(cd "$ref" && find . -type f -exec md5sum {} + | sort)"
expect_eq "read-only" "$(touch "$mnt/x" 2>&1 | grep -c 'Read-only')" 1
expect_ok "fusermount3 -u" fusermount3 -u "$mnt"
umount "$ref"

# Writable, with the options podman passes and one it does not know.
"$FUSE" -o "lowerdir=$WORK/k2:$WORK/f1:$WORK/k0,upperdir=$WORK/u1,workdir=$WORK/w1,fsync=0,private,volatile,allow_other,default_permissions,frobnicate=1" \
  "$mnt" 2>"$WORK/warn"
expect_eq "mount is live when the command returns" "$(findmnt -n -o FSTYPE "$mnt")" "fuse.strata"
expect_eq "allow_other, default_permissions" \
  "$(findmnt -n -o OPTIONS "$mnt" | tr , '\n' | grep -c -x -e allow_other -e default_permissions)" 2
chmod 711 "$WORK"  # nobody may pass through to the mount point
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@" 2>&1; }
expect_eq "another user reads through allow_other" "$(as_nobody cat "$mnt/etc/hostname")" "layer1"
expect_eq "and meets the file's permissions" "$(as_nobody sh -c "echo x >>'$mnt/etc/hostname'" | grep -c 'Permission denied')" 1
expect_eq "unknown option: one warning" "$(grep -c "ignoring unknown option 'frobnicate=1'" "$WORK/warn")" 1
mount -t overlay overlay -o "lowerdir=$WORK/k2:$WORK/k1:$WORK/k0,upperdir=$WORK/u2,workdir=$WORK/w2,redirect_dir=on" "$ref"
changes "$mnt"
changes "$ref"
expect_eq "changes match kernel overlayfs" "$(listing "$mnt" | grep -v passwd.link)" \
  "$(listing "$ref" | grep -v passwd.link)"
expect_eq "changed contents match" "$(cd "$mnt" && find . -type f -exec md5sum {} + | sort)" \
  "$(cd "$ref" && find . -type f -exec md5sum {} + | sort)"
expect_eq "whiteouts in the upper are 0/0 devices" "$(stat -c '%F %t:%T' "$WORK/u1/keep")" "character special file 0:0"
fusermount3 -u "$mnt"
umount "$ref"

# -o debug, as fuse-overlayfs takes it: every request logged to stderr.
"$FUSE" -f -o "lowerdir=$WORK/k0,debug" "$mnt" 2>"$WORK/debug" &
for _ in $(seq 50); do [ "$(findmnt -n -o FSTYPE "$mnt")" = fuse.strata ] && break; sleep 0.1; done
stat "$mnt/bin/tool" >/dev/null
fusermount3 -u "$mnt"
wait
expect_eq "-o debug logs requests" "$(grep -q 'opcode: LOOKUP' "$WORK/debug" && echo logged)" logged
expect_eq "-o debug is not unknown" "$(grep -c 'unknown option' "$WORK/debug")" 0

# Ownership presentation.
"$FUSE" -o "lowerdir=$WORK/k0,squash_to_root" "$mnt"
expect_eq "squash_to_root" "$(stat -c %u:%g "$mnt/bin/owned")" "0:0"
fusermount3 -u "$mnt"
"$FUSE" -o "lowerdir=$WORK/k0,squash_to_uid=7,squash_to_gid=8" "$mnt"
expect_eq "squash_to_uid/gid" "$(stat -c %u:%g "$mnt/bin/tool")" "7:8"
fusermount3 -u "$mnt"
rm -rf "$WORK"/u1/* "$WORK"/w1/*
"$FUSE" -o "lowerdir=$WORK/k0,upperdir=$WORK/u1,workdir=$WORK/w1,uidmapping=0:1000:10,gidmapping=0:1000:10" "$mnt"
expect_eq "mapped host 1000 shows as 0" "$(stat -c %u:%g "$mnt/bin/owned")" "0:0"
expect_eq "unmapped host 0 shows as overflow" "$(stat -c %u:%g "$mnt/bin/tool")" "65534:65534"
echo made >"$mnt/made-by-root"
expect_eq "new file: container 0 is host 1000 on disk" "$(stat -c %u:%g "$WORK/u1/made-by-root")" "1000:1000"
chown 5:5 "$mnt/made-by-root"
expect_eq "chown maps too" "$(stat -c %u:%g "$WORK/u1/made-by-root"):$(stat -c %u:%g "$mnt/made-by-root")" "1005:1005:5:5"
fusermount3 -u "$mnt"

# Relative paths, as a shell user types them; SIGTERM while a reader holds a
# file open and another is in the middle of a read still unmounts.
rm -rf "$WORK"/u1/* "$WORK"/w1/*
(cd "$WORK" && "$FUSE" -o "lowerdir=k0,upperdir=u1,workdir=w1" mnt)
expect_eq "relative paths mount" "$(findmnt -n -o FSTYPE "$mnt")" "fuse.strata"
# After the daemon left the shell's directory: lower data, copy-up, xattrs.
expect_eq "relative lowerdir: lower data reads" "$(cat "$mnt/etc/hostname")" "box"
expect_eq "relative lowerdir: a hardlinked lower file reads" "$(cat "$mnt/bin/tool.hard")" "binary"
echo more >>"$mnt/etc/hostname"
expect_eq "relative lowerdir: copy-up keeps the lower data" "$(cat "$WORK/u1/etc/hostname")" "box
more"
setfattr -n user.rel -v 1 "$mnt/etc/hostname"
expect_eq "relative upperdir: xattrs" "$(getfattr --only-values -n user.rel "$WORK/u1/etc/hostname")" 1
pid=$(pgrep -f "strata-fuse -o lowerdir=k0,upperdir=u1" | head -n1)
head -c 50000000 /dev/zero >"$mnt/big"
exec 7<"$mnt/big"
(while :; do cat "$mnt/big" >/dev/null 2>&1 || break; : >"$WORK/reading"; done) &
reader=$!
for _ in $(seq 100); do [ -e "$WORK/reading" ] && break; sleep 0.05; done  # reads are going on
kill -TERM "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
expect_eq "SIGTERM ends the daemon" "$(kill -0 "$pid" 2>/dev/null && echo alive || echo gone)" gone
expect_eq "SIGTERM unmounts a relative mount point" "$(findmnt -n "$mnt" | wc -l)" 0
exec 7<&-
kill "$reader" 2>/dev/null
wait "$reader" 2>/dev/null
expect_eq "written data kept in the upper" "$(stat -c %s "$WORK/u1/big")" 50000000

# An upper directory that already holds hardlinks (a container started again):
# the names found are one file, as on overlayfs.
rm -rf "$WORK"/u1/* "$WORK"/w1/* "$WORK"/u2/* "$WORK"/w2/*
for u in u1 u2; do echo old >"$WORK/$u/h1" && ln "$WORK/$u/h1" "$WORK/$u/h2"; done
"$FUSE" -o "lowerdir=$WORK/k0,upperdir=$WORK/u1,workdir=$WORK/w1" "$mnt"
mount -t overlay overlay -o "lowerdir=$WORK/k0,upperdir=$WORK/u2,workdir=$WORK/w2,redirect_dir=on" "$ref"
found_links() { cat "$1/h1" "$1/h2" && echo more >>"$1/h2" && cat "$1/h1" && rm "$1/h1" && stat -c %h "$1/h2"; }
expect_eq "hardlinks found in the upper are one file, as on overlayfs" "$(found_links "$mnt")" \
  "$(found_links "$ref")"
fusermount3 -u "$mnt"
umount "$ref"

expect_error "bad mapping refused" "bad mapping" "$FUSE" -o "lowerdir=$WORK/k0,uidmapping=0:1000" "$mnt"
expect_error "missing lower refused" "lowerdir .*nope: No such file" "$FUSE" -o "lowerdir=$WORK/nope" "$mnt"
expect_error "missing upper refused" "upperdir .*nope: No such file" "$FUSE" \
  -o "lowerdir=$WORK/k0,upperdir=$WORK/nope,workdir=$WORK/w1" "$mnt"
expect_error "missing mount point refused" "mount point .*nope" "$FUSE" -o "lowerdir=$WORK/k0" "$WORK/nope"
expect_eq "nothing mounted after errors" "$(findmnt -n "$mnt" | wc -l)" 0
finish
