#!/usr/bin/env bash
# End-to-end test of `strata mount`: a three-layer image mounted through FUSE,
# compared entry by entry with kernel overlayfs over the same layers.
source "$(dirname "$0")/lib.sh"
[ -c /dev/fuse ] || { echo "FAIL: /dev/fuse is missing"; exit 1; }

mnt=$WORK/mnt
ref=$WORK/ref
mkdir -p "$mnt" "$ref"
cleanup_mounts() {
  umount "$mnt" 2>/dev/null || true
  umount "$ref" 2>/dev/null || true
}
trap 'cleanup_mounts; rm -rf "$WORK"' EXIT

source "$(dirname "$0")/layers.sh"
make_stack_image
make_kernel_lowers
mount -t overlay overlay -o "lowerdir=$WORK/k2:$WORK/k1:$WORK/k0" "$ref"

expect_ok "strata mount" "$STRATA" mount stack:2 "$mnt"
expect_eq "mounted" "$(findmnt -n -o FSTYPE "$mnt")" "fuse.strata"

# One known difference (docs/ARCHITECTURE.md): a hardlink whose other name an upper
# layer deleted. overlayfs reports the lower inode's link count, strata the names
# that remain, so the one line that differs is compared on its own below.
expect_eq "tree matches kernel overlayfs" "$(listing "$mnt" times | grep -v passwd.link)" \
  "$(listing "$ref" times | grep -v passwd.link)"
expect_eq "link count: names that remain" "$(stat -c %h "$mnt/etc/passwd.link")" 1
expect_eq "link count: overlayfs keeps the lower inode's" "$(stat -c %h "$ref/etc/passwd.link")" 2
expect_eq "hardlinks share an inode" "$(stat -c %i "$mnt/bin/tool")" "$(stat -c %i "$mnt/bin/tool.hard")"
expect_eq "hardlinks count each other" "$(stat -c %h "$mnt/bin/tool.hard")" 2
expect_eq "contents match" "$(cd "$mnt" && find . -type f -exec md5sum {} + | sort)" \
  "$(cd "$ref" && find . -type f -exec md5sum {} + | sort)"
expect_eq "xattrs match" "$(cd "$mnt" && getfattr -R -d -m user. . 2>/dev/null)" \
  "$(cd "$ref" && getfattr -R -d -m user. . 2>/dev/null)"

# Semantics spelled out, so a failure says which one broke.
expect_eq "upper file wins" "$(cat "$mnt/etc/hostname")" "layer1"
expect_eq "whiteout hides" "$(test -e "$mnt/etc/passwd" && echo present || echo gone)" "gone"
expect_eq "hardlink survives its target's whiteout" "$(cat "$mnt/etc/passwd.link")" "root:x:0:0"
expect_eq "opaque dir hides lower entries" "$(ls "$mnt/data")" "fresh"
expect_eq "whiteout of a directory" "$(test -e "$mnt/newdir" && echo present || echo gone)" "gone"
expect_eq "dirs merge" "$(ls "$mnt/keep/inner" | tr '\n' ' ')" "f g "
expect_eq "file replaces dir" "$(cat "$mnt/replace-me")" "was a dir"
expect_eq "setuid kept" "$(stat -c %a "$mnt/bin/tool")" "4755"
expect_eq "symlink" "$(readlink "$mnt/bin/alias")" "tool"
expect_eq "equal content is not a hardlink" "$(stat -c %h "$mnt/data" >/dev/null; ls "$mnt/data" | wc -l)" "1"
expect_eq "ls -a shows . and .." "$(ls -a "$mnt/keep" | head -2 | tr '\n' ' ')" ". .. "

# Errors are overlayfs's errnos.
expect_eq "write is EROFS" "$(touch "$mnt/new" 2>&1 | grep -c 'Read-only file system')" 1
expect_eq "mkdir is EROFS" "$(mkdir "$mnt/d" 2>&1 | grep -c 'Read-only file system')" 1
expect_eq "missing is ENOENT" "$(cat "$mnt/nope" 2>&1 | grep -c 'No such file')" 1
expect_eq "under a file is ENOTDIR" "$(cat "$mnt/etc/hostname/x" 2>&1 | grep -c 'Not a directory')" 1

# Bad requests get one line and no mount.
expect_error "unknown image" "no such image" "$STRATA" mount ghost "$WORK/mnt2"
touch "$WORK/file"
expect_error "mount point not a dir" "not a directory" "$STRATA" mount stack:2 "$WORK/file"

# umount, and a clean unmount on SIGTERM.
expect_ok "strata umount" "$STRATA" umount "$mnt"
expect_eq "unmounted" "$(findmnt -n "$mnt" | wc -l)" 0
"$STRATA" mount stack:1 "$mnt"
pid=$(pgrep -f "strata-fuse .*$mnt" | head -n1)
# An idle mount wakes no thread (the watchdog sleeps until a request comes):
# its threads' context switches over two idle seconds, after a burst of work.
switches() { cat /proc/"$pid"/task/*/status | awk '/^(non)?voluntary_ctxt_switches/ {n += $2} END {print n}'; }
find "$mnt" >/dev/null && sleep 0.5
before=$(switches) && sleep 2 && after=$(switches)
expect_eq "an idle daemon sleeps (context switches in 2 s, at most 2)" "$((after - before <= 2))" 1
expect_eq "and answers the next request" "$(cat "$mnt/etc/hostname")" "layer1"
kill -TERM "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
expect_eq "SIGTERM unmounts" "$(findmnt -n "$mnt" | wc -l)" 0

# --passthrough: the same tree, its files read through the store's files.
expect_ok "strata mount --passthrough" "$STRATA" mount --passthrough stack:2 "$mnt"
expect_eq "the daemon was asked for passthrough" "$(pgrep -af "strata-fuse .*$mnt" | grep -c -- '-o passthrough')" 1
expect_eq "passthrough: contents match kernel overlayfs" "$(cd "$mnt" && find . -type f -exec md5sum {} + | sort)" \
  "$(cd "$ref" && find . -type f -exec md5sum {} + | sort)"
"$STRATA" umount "$mnt"
expect_eq "stack:1 still shows etc/passwd as gone" "$(ls "$WORK/k1/etc" | grep -c passwd)" 1
umount "$ref"

# --- mount(8)'s helper form and an fstab line; creation modes whatever the daemon's umask ---
# mount.fuse3 finds the program on the system's PATH, as it finds fuse-overlayfs.
helper=/usr/local/sbin/strata-fuse
[ -e "$helper" ] || { ln -s "$(dirname "$STRATA")/strata-fuse" "$helper" && made_helper=1; }
# mount -t fuse3.strata-fuse: mount(8) runs /sbin/mount.fuse3.strata-fuse, a link to it.
sbin_helper=/sbin/mount.fuse3.strata-fuse
[ -e "$sbin_helper" ] || { ln -s "$(dirname "$STRATA")/strata-fuse" "$sbin_helper" && made_sbin_helper=1; }
trap 'cleanup_mounts; umount "$WORK/kw" 2>/dev/null; [ -n "${made_helper:-}" ] && rm -f "$helper"
  [ -n "${made_sbin_helper:-}" ] && rm -f "$sbin_helper"; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/up" "$WORK/wk" "$WORK/kup" "$WORK/kwk" "$WORK/kw"
(umask 077 && mount -t fuse.strata-fuse stack:2 "$mnt" -o "root=$STRATA_ROOT,upperdir=$WORK/up,workdir=$WORK/wk,nosuid,allow_other")
expect_eq "mount -t fuse.strata-fuse" "$(findmnt -n -o FSTYPE,OPTIONS "$mnt" | grep -c '^fuse.strata .*nosuid')" 1
mount -t overlay overlay -o "lowerdir=$WORK/k2:$WORK/k1:$WORK/k0,upperdir=$WORK/kup,workdir=$WORK/kwk" "$WORK/kw"
# The same creations as plain syscalls under umask 0 and 022, in both; modes, owners compared.
creations() {
  python3 - "$1" <<'PY'
import os, sys
d = sys.argv[1]
for umask in (0, 0o22):
    os.umask(umask)
    p = os.path.join(d, "u%o" % umask)
    os.mkdir(p, 0o777)
    os.close(os.open(p + "/f0620", os.O_CREAT | os.O_WRONLY, 0o620))
    os.close(os.open(p + "/suid", os.O_CREAT | os.O_WRONLY, 0o4777))
    os.mkdir(p + "/sticky", 0o1777)
    os.mkdir(p + "/sgid", 0o2775)
    os.chown(p + "/sgid", 0, 1234)
    os.mkdir(p + "/sgid/sub", 0o755)
    os.close(os.open(p + "/sgid/file", os.O_CREAT | os.O_WRONLY, 0o666))
    os.mkfifo(p + "/fifo", 0o666)
for top in ("u0", "u22"):
    for root, dirs, files in sorted(os.walk(os.path.join(d, top))):
        for path in [root] + [os.path.join(root, n) for n in sorted(dirs + files)]:
            st = os.lstat(path)
            print(path[len(d):], oct(st.st_mode), st.st_uid, st.st_gid)
PY
}
expect_eq "creation modes as kernel overlayfs makes them" "$(creations "$mnt")" "$(creations "$WORK/kw")"
expect_eq "with setuid kept" "$(stat -c %a "$mnt/u22/suid")" 4755
# POSIX ACLs: set through the mount, inherited from a default ACL (which the
# umask does not cut), and enforced by the kernel, as on overlayfs.
for m in "$mnt" "$WORK/kw"; do
  echo secret >"$m/acl-file" && chmod 600 "$m/acl-file" && setfacl -m u:4321:r "$m/acl-file"
  mkdir "$m/acl-dir" && setfacl -d -m u:4321:rwx "$m/acl-dir"
  (umask 022 && touch "$m/acl-dir/inherits" && mkdir "$m/acl-dir/sub")
done
expect_eq "ACLs as on overlayfs" "$(cd "$mnt" && getfacl -p acl-file acl-dir acl-dir/inherits acl-dir/sub 2>&1)" \
  "$(cd "$WORK/kw" && getfacl -p acl-file acl-dir acl-dir/inherits acl-dir/sub 2>&1)"
chmod 755 "$WORK"  # for the users below to reach the mounts
expect_eq "an ACL grants what the mode does not" \
  "$(setpriv --reuid=4321 --regid=4321 --clear-groups cat "$mnt/acl-file" 2>&1)" secret
expect_eq "and only to whom it names" \
  "$(setpriv --reuid=4322 --regid=4322 --clear-groups cat "$mnt/acl-file" 2>&1 >/dev/null | grep -c 'Permission denied')" 1
chmod 700 "$WORK"
umount "$WORK/kw"
umount "$mnt"
printf 'stack:2 %s fuse.strata-fuse root=%s,upperdir=%s,workdir=%s,noauto 0 0\n' \
  "$mnt" "$STRATA_ROOT" "$WORK/up" "$WORK/wk" >"$WORK/fstab"
expect_ok "mount by an fstab line" mount --fstab "$WORK/fstab" "$mnt"
expect_eq "the upper layer is there again" "$(stat -c %a "$mnt/u0/f0620")" 620
umount "$mnt"
expect_ok "mount -t fuse3.strata-fuse (the helper link)" \
  mount -t fuse3.strata-fuse stack:2 "$mnt" -o "root=$STRATA_ROOT,upperdir=$WORK/up,workdir=$WORK/wk"
expect_eq "the same upper layer" "$(stat -c %a "$mnt/u0/f0620")" 620
umount "$mnt"
# The fuse-overlayfs form through mount(8): SOURCE a placeholder, the layers in -o.
mkdir -p "$WORK/up2" "$WORK/wk2" "$WORK/kup2" "$WORK/kwk2"
(umask 077 && mount -t fuse.strata-fuse overlay "$mnt" \
  -o "lowerdir=$WORK/k2:$WORK/k1:$WORK/k0,upperdir=$WORK/up2,workdir=$WORK/wk2")
expect_eq "mount -t fuse.strata-fuse overlay -o lowerdir=..." "$(findmnt -n -o FSTYPE "$mnt")" "fuse.strata"
mount -t overlay overlay -o "lowerdir=$WORK/k2:$WORK/k1:$WORK/k0,upperdir=$WORK/kup2,workdir=$WORK/kwk2" "$WORK/kw"
expect_eq "lowerdir form: creation modes as kernel overlayfs makes them" "$(creations "$mnt")" "$(creations "$WORK/kw")"
umount "$WORK/kw"
umount "$mnt"
finish
