#!/usr/bin/env bash
# End-to-end test of the writable union: the same changes made through a
# strata mount and through kernel overlayfs over the same layers must leave
# the same tree; strata's upper directory must mount with kernel overlayfs
# too; fsync'd writes survive SIGKILL of the daemon; many threads at once.
#
# STRATA_FUSE_EXTRA: more strata-fuse arguments for every mount (see lib.sh).
# STRATA_OVERLAY_DRIVER=kernel: strata's kernel path instead (kernel overlayfs
# over the image's metadata tree and the store's blobs, as `strata mount
# --driver kernel` mounts a container); the FUSE daemon's own checks are skipped.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/layers.sh"
[ -c /dev/fuse ] || { echo "FAIL: /dev/fuse is missing"; exit 1; }
mnt=$WORK/mnt ref=$WORK/ref check=$WORK/check
mkdir -p "$mnt" "$ref" "$check" "$WORK"/{u1,w1,u2,w2}
trap 'for m in "$mnt" "$ref" "$check"; do umount "$m" 2>/dev/null; done; rm -rf "$WORK"' EXIT
make_stack_image
make_kernel_lowers
lowers="$WORK/k2:$WORK/k1:$WORK/k0"
driver=${STRATA_OVERLAY_DRIVER:-fuse}
if [ "$driver" = kernel ]; then
  "$STRATA" mount --driver kernel stack:2 "$mnt" && umount "$mnt"  # writes the image's metadata tree
  meta=$STRATA_ROOT/meta/$("$STRATA" image inspect stack:2 | sed -n '/^Layers:/,$p' | tail -1 | tr -d ' ')
fi
# mount_stack UPPER WORK: stack:2 writable on $mnt, through the driver under test.
mount_stack() {
  if [ "$driver" = kernel ]; then
    mount -t overlay strata -o "lowerdir=$meta::$STRATA_ROOT/blobs,upperdir=$1,workdir=$2,metacopy=on,redirect_dir=on" "$mnt"
  else
    strata_fuse --image stack:2 --upper "$1" --work "$2" --allow-other "$mnt"  # others: see setid_bits
  fi
}

expect_ok "writable mount" mount_stack "$WORK/u1" "$WORK/w1"
mount -t overlay overlay -o "lowerdir=$lowers,upperdir=$WORK/u2,workdir=$WORK/w2,redirect_dir=on" "$ref"

changes "$mnt"
changes "$ref"

expect_eq "tree after changes matches kernel overlayfs" "$(listing "$mnt")" "$(listing "$ref")"
expect_eq "contents match" "$(cd "$mnt" && find . -type f -exec md5sum {} + | sort)" \
  "$(cd "$ref" && find . -type f -exec md5sum {} + | sort)"
expect_eq "xattrs match" "$(cd "$mnt" && getfattr -R -d -m user. . 2>/dev/null)" \
  "$(cd "$ref" && getfattr -R -d -m user. . 2>/dev/null)"
expect_eq "utimens" "$(stat -c %Y "$mnt/etc/passwd.link")" 1000000000
expect_eq "recreated dir hides old contents" "$(ls "$mnt/data")" "again"
expect_eq "hardlink to a lower file" "$(stat -c %h "$mnt/bin/alias.hard")" 2

expect_eq "descriptors as on overlayfs" "$(descriptors "$mnt")" "$(descriptors "$ref")"
# Hardlinks made through the mount are one file to every name: data, size and
# link counts seen through one name follow writes and unlinks through another.
hardlinks() {
  cd "$1" || return 1
  echo old >hl1 && ln hl1 hl2 && cat hl2
  echo newer-content >hl1 && cat hl2
  echo appended >>hl2 && cat hl1
  mkdir hld && ln hl2 hld/hl3 && mv hl2 hld/hl4 && rm hl1
  stat -c '%n %s %h' hld/hl3 hld/hl4
  rm hld/hl3 && stat -c '%n %s %h' hld/hl4
  rm -r hld
  cd - >/dev/null
}
expect_eq "hardlinks behave as on overlayfs" "$(hardlinks "$mnt")" "$(hardlinks "$ref")"
expect_eq "hardlinks: one file" "$(hardlinks "$mnt" | sed -n 4p)" "appended"

# Copy-up changes no directory's mtime (overlayfs puts the parent's times back):
# seen after the kernel dropped its cached attributes.
dir_mtimes() { (cd "$1" && stat -c '%n %Y' . srv srv/www); }
mtimes_strata=$(dir_mtimes "$mnt") mtimes_kernel=$(dir_mtimes "$ref")
now=$(date +%s)
while [ "$(date +%s)" = "$now" ]; do sleep 0.05; done  # a change would show in whole seconds
for m in "$mnt" "$ref"; do echo more >>"$m/srv/www/index.html"; done
sync && echo 2 >/proc/sys/vm/drop_caches
expect_eq "copy-up leaves directory mtimes" "$(dir_mtimes "$mnt")" "$mtimes_strata"
expect_eq "copy-up leaves directory mtimes on overlayfs too" "$(dir_mtimes "$ref")" "$mtimes_kernel"

# Directory link counts once copied up: 1 (unknown) for a directory merged with
# a lower one, the count of the upper one for an opaque or upper-only directory.
dir_links() { (cd "$1" && stat -c '%n %h' etc bin keep2 keep2/inner data); }
expect_eq "directory link counts as on overlayfs" "$(dir_links "$mnt")" "$(dir_links "$ref")"
expect_eq "merged directories count 1" "$(dir_links "$mnt" | head -2 | tr '\n' ' ')" "etc 1 bin 1 "

# Copy-up skips a sparse file's holes, as overlayfs's does: size, then whether
# the upper copy takes less than 4 MiB of its 16.
sparse_append() {
  printf x >>"$1/bin/sparse"
  echo "$(stat -c %s "$1/bin/sparse") $(($(stat -c %b "$2/bin/sparse") * 512 < 4 << 20))"
}
sparse_strata=$(sparse_append "$mnt" "$WORK/u1") sparse_kernel=$(sparse_append "$ref" "$WORK/u2")
expect_eq "sparse copy-up on strata" "$sparse_strata" "16777217 1"
expect_eq "sparse copy-up as on overlayfs" "$sparse_strata" "$sparse_kernel"

# O_TMPFILE: an unnamed file, then named by linkat; one never named goes on close.
tmpfile() { python3 - "$1" <<'PY'
import ctypes, os, sys
m = sys.argv[1]
fd = os.open(m + "/etc", os.O_TMPFILE | os.O_RDWR, 0o640)
os.write(fd, b"unnamed")
st = os.fstat(fd)
listed = "named" in os.listdir(m + "/etc")
libc = ctypes.CDLL(None, use_errno=True)  # linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH)
if libc.linkat(fd, b"", -100, (m + "/etc/named").encode(), 0x1000) != 0:
    raise OSError(ctypes.get_errno(), "linkat")
print(os.pread(fd, 16, 0), st.st_nlink, oct(st.st_mode & 0o7777), listed,
      open(m + "/etc/named", "rb").read(), os.stat(m + "/etc/named").st_nlink)
os.close(fd)
os.close(os.open(m + "/etc", os.O_TMPFILE | os.O_WRONLY | os.O_EXCL))
PY
}
expect_eq "O_TMPFILE on strata" "$(tmpfile "$mnt")" "b'unnamed' 0 0o640 False b'unnamed' 1"
rm "$mnt/etc/named"
expect_eq "O_TMPFILE as on overlayfs" "$(tmpfile "$mnt")" "$(tmpfile "$ref")"
# The kernel forgets closed files asynchronously: give it a moment.
if [ "$driver" = kernel ]; then  # what overlayfs keeps in its work/ meanwhile, as it keeps it over plain layers
  expect_eq "the work directory as overlayfs leaves it" "$(ls "$WORK/w1/work" | wc -l)" "$(ls "$WORK/w2/work" | wc -l)"
else
  for _ in $(seq 20); do [ -z "$(ls "$WORK/w1")" ] && break; sleep 0.1; done
  expect_eq "no orphans left in the work directory" "$(ls "$WORK/w1")" ""
fi

# Errors are overlayfs's.
errno_of() { python3 -c "import os,sys,errno
try:
    $1
    print('ok')
except OSError as e:
    print(errno.errorcode[e.errno])"; }
for m in "$mnt" "$ref"; do
  what=$([ "$m" = "$mnt" ] && echo strata || echo kernel)
  expect_eq "$what: rmdir non-empty" "$(errno_of "os.rmdir('$m/keep2')")" ENOTEMPTY
  expect_eq "$what: mkdir existing" "$(errno_of "os.mkdir('$m/etc')")" EEXIST
  expect_eq "$what: unlink a dir" "$(errno_of "os.unlink('$m/etc')")" EISDIR
  expect_eq "$what: rmdir a file" "$(errno_of "os.rmdir('$m/sym')")" ENOTDIR
  expect_eq "$what: missing" "$(errno_of "os.stat('$m/nope')")" ENOENT
  expect_eq "$what: under a file" "$(errno_of "os.stat('$m/sym/x')")" ENOTDIR
  expect_eq "$what: long name" "$(errno_of "open('$m/' + 'n' * 300, 'w')")" ENAMETOOLONG
  expect_eq "$what: excl create" "$(errno_of "os.open('$m/sym', os.O_CREAT | os.O_EXCL)")" EEXIST
  expect_eq "$what: rename dir over file" "$(errno_of "os.rename('$m/data', '$m/sym')")" ENOTDIR
  expect_eq "$what: rename merged dir" "$(errno_of "os.rename('$m/keep2', '$m/keep3')")" ok
  expect_eq "$what: rename lower-merged dir, and back" \
    "$(errno_of "os.rename('$m/bin', '$m/bin2'); os.rename('$m/bin2', '$m/bin')")" ok
done

# Readers see writes made through other descriptors, and a shared writable mmap works.
expect_eq "reader sees another fd's write" "$(python3 - "$mnt/etc/passwd.link" <<'PY'
import os, sys, mmap
path = sys.argv[1]
r = os.open(path, os.O_RDONLY)            # opened while the file is still lower
w = os.open(path, os.O_RDWR)              # copies it up
os.pwrite(w, b"ROOT", 0)
print(os.pread(r, 4, 0).decode(), end=" ")
m = mmap.mmap(w, 0)                       # shared writable mapping
m[0:4] = b"MMAP"
m.flush()
print(os.pread(r, 4, 0).decode())
PY
)" "ROOT MMAP"


# Creating a file: the umask applies, and the creator may write a file it made
# read-only, though no one may open it for writing again (checked as root
# without the capability to override file permissions).
creating() { umask 027; setpriv --bounding-set=-dac_override,-dac_read_search python3 - "$1" <<'PY'
import errno, os, sys
m = sys.argv[1]
fd = os.open(m + "/made-ro", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o444)
wrote = os.write(fd, b"data")
os.close(fd)
try:
    os.open(m + "/made-ro", os.O_WRONLY)
    again = "ok"
except OSError as e:
    again = errno.errorcode[e.errno]
os.close(os.open(m + "/made-rw", os.O_CREAT | os.O_RDWR, 0o666))
print(wrote, again, oct(os.stat(m + "/made-ro").st_mode), oct(os.stat(m + "/made-rw").st_mode))
PY
}
made=$(creating "$mnt" 2>&1)
expect_eq "creating: umask and a read-only new file" "$made" "4 EACCES 0o100440 0o100640"
expect_eq "creating as on overlayfs" "$made" "$(creating "$ref" 2>&1)"

# Set-id bits: a write, a truncate or a fallocate by root without CAP_FSETID
# clears set-user-ID (and set-group-ID on a group-executable file, or on any
# file when the writer is not in its group); a chown
# clears them whoever makes it; full root's write and fallocate keep them. A
# write removes a file capability even for root. (The FUSE daemon clears the
# bits itself: the kernel hands that to it, HANDLE_KILLPRIV_V2.)
setid_bits() {
  python3 - "$1" <<'PY'
import ctypes, os, sys
m = sys.argv[1] + "/setid"
os.mkdir(m)
for name, mode in [("w-suid", 0o4777), ("w-sgid-gx", 0o2775), ("w-sgid", 0o2765), ("t-suid", 0o6777),
                   ("f-suid", 0o4777), ("c-suid", 0o6777), ("root-w", 0o6777), ("root-f", 0o6777), ("cap", 0o755),
                   ("w-sgid-other", 0o2767)]:
    fd = os.open(f"{m}/{name}", os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, b"x" * 10)
    os.fchmod(fd, mode)
    os.close(fd)
# A version 2 capability: cap_net_bind_service, permitted and effective.
os.setxattr(f"{m}/cap", "security.capability", bytes([1, 0, 0, 2, 0, 4] + [0] * 14))
for name in ["root-w", "cap"]:
    fd = os.open(f"{m}/{name}", os.O_WRONLY); os.write(fd, b"y"); os.close(fd)
fd = os.open(f"{m}/root-f", os.O_WRONLY); os.posix_fallocate(fd, 0, 8192); os.close(fd)
PY
  setpriv --bounding-set=-fsetid python3 - "$1" <<'PY'
import os, sys
m = sys.argv[1] + "/setid"
for name in ["w-suid", "w-sgid-gx", "w-sgid"]:
    fd = os.open(f"{m}/{name}", os.O_WRONLY); os.pwrite(fd, b"z" * 4096, 0); os.close(fd)
os.truncate(f"{m}/t-suid", 3)
fd = os.open(f"{m}/f-suid", os.O_WRONLY); os.posix_fallocate(fd, 0, 8192); os.close(fd)
os.chown(f"{m}/c-suid", 0, 0)
PY
  # Not in the file's group: setgid goes without group execute too.
  setpriv --regid=1234 --clear-groups --bounding-set=-fsetid \
    python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY); os.write(fd, b"z"); os.close(fd)' \
    "$1/setid/w-sgid-other"
  (cd "$1/setid" && stat -c '%n %a %s' * | tr '\n' ' ' &&
    getfattr -n security.capability cap 2>&1 | grep -c 'No such attribute')
}
setid=$(setid_bits "$mnt" 2>&1)
expect_eq "set-id bits cleared as the kernel does" "$setid" "c-suid 777 10 cap 755 10 f-suid 777 8192 \
root-f 6777 8192 root-w 6777 10 t-suid 777 3 w-sgid 2765 4096 w-sgid-gx 775 4096 w-sgid-other 767 10 \
w-suid 777 4096 1"
expect_eq "set-id bits as on overlayfs" "$setid" "$(setid_bits "$ref" 2>&1)"

# fallocate (a lower file: copied up first), fsync and fsyncdir, flock and
# POSIX locks, statfs: what each call returns and leaves, as on overlayfs.
file_calls() { python3 - "$1" <<'PY'
import ctypes, errno, fcntl, os, sys
m = sys.argv[1]
path = m + "/io/blocks"
libc = ctypes.CDLL(None, use_errno=True)
def fallocate(fd, mode, off, length):
    if libc.fallocate(fd, mode, ctypes.c_long(off), ctypes.c_long(length)) != 0:
        return errno.errorcode[ctypes.get_errno()]
    return "ok"
def attempt(call):
    try:
        call()
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
out = []
size = os.stat(path).st_size
fd = os.open(path, os.O_RDWR)
os.posix_fallocate(fd, size, 16384)                          # grows the file
out.append((os.fstat(fd).st_size - size, os.pread(fd, 6, 0)))
KEEP_SIZE, PUNCH_HOLE = 1, 2
out.append((fallocate(fd, KEEP_SIZE, size + 16384, 65536), os.fstat(fd).st_size - size))
out.append((fallocate(fd, KEEP_SIZE | PUNCH_HOLE, 0, 4096), os.pread(fd, 6, 0), os.pread(fd, 6, 4096)))
os.fsync(fd)
os.fdatasync(fd)
dfd = os.open(m + "/io", os.O_RDONLY | os.O_DIRECTORY)
os.fsync(dfd)                                                # fsyncdir
# flock: a second open file description waits for the first.
a, b = os.open(path, os.O_RDONLY), os.open(path, os.O_RDONLY)
fcntl.flock(a, fcntl.LOCK_EX)
out.append(attempt(lambda: fcntl.flock(b, fcntl.LOCK_EX | fcntl.LOCK_NB)))
fcntl.flock(a, fcntl.LOCK_UN)
out.append(attempt(lambda: fcntl.flock(b, fcntl.LOCK_EX | fcntl.LOCK_NB)))
# POSIX record locks: another process meets the held range, not the rest.
fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    own = os.open(path, os.O_RDWR)
    held = attempt(lambda: fcntl.lockf(own, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0))
    free = attempt(lambda: fcntl.lockf(own, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 10))
    os.write(w, f"{held} {free}".encode())
    os._exit(0)
os.waitpid(pid, 0)
out.append(os.read(r, 64).decode())
print(out)
st = os.statvfs(m)  # the upper directory's file system, as overlayfs reports it
print(st.f_bsize, st.f_namemax, st.f_blocks, st.f_files, st.f_bavail > 0)
PY
}
calls=$(file_calls "$mnt" 2>&1)
expect_eq "file calls as on overlayfs" "$calls" "$(file_calls "$ref" 2>&1)"
expect_eq "fallocate, fsync, locks" "$(echo "$calls" | head -1)" \
  "[(16384, b'1\\n2\\n3\\n'), ('ok', 16384), ('ok', b'\\x00\\x00\\x00\\x00\\x00\\x00', b'1\\n1042'), 'EAGAIN', 'ok', 'EAGAIN ok']"
expect_eq "statfs of the upper file system" "$(echo "$calls" | tail -1 | cut -d' ' -f2,5)" "255 True"

# Inode numbers hold for the life of the mount: after the kernel has forgotten
# every inode (and the daemon its nodes), and across a copy-up.
inodes() { (cd "$1" && stat -c '%n %i' . etc etc/hostname bin bin/alias bin/fifo io/blocks newfile-top sym); }
before=$(inodes "$mnt")
chmod 600 "$mnt/bin/fifo" "$ref/bin/fifo"  # a lower FIFO: copied up
sync && echo 2 >/proc/sys/vm/drop_caches
expect_eq "inode numbers stable" "$(inodes "$mnt")" "$before"
expect_eq "the FIFO was copied up" "$(stat -c %a "$WORK/u1/bin/fifo" 2>&1)" 600
# strata's upper directory is kernel overlayfs's format: it mounts there as is.
umount "$mnt"
mount -t overlay overlay -o "lowerdir=$WORK/u1:$lowers,redirect_dir=follow$([ "$driver" = fuse ] || echo ,metacopy=on)" "$check"
expect_eq "kernel reads strata's upper" "$(listing "$check" | grep -v alias)" "$(listing "$ref" | grep -v alias)"
umount "$check"

# fsync'd writes survive SIGKILL of the daemon (the FUSE driver's own).
if [ "$driver" = fuse ]; then
  mount_stack "$WORK/u1" "$WORK/w1"
  python3 -c "
import os
fd = os.open('$mnt/durable', os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b'fsynced data')
os.fsync(fd)"
  pkill -KILL -f "strata-fuse .*$mnt"
  for _ in $(seq 50); do pgrep -f "strata-fuse .*$mnt" >/dev/null || break; sleep 0.1; done
  umount -l "$mnt" 2>/dev/null || true
  mount_stack "$WORK/u1" "$WORK/w1"
  expect_eq "fsync'd write after SIGKILL and remount" "$(cat "$mnt/durable")" "fsynced data"
else
  mount_stack "$WORK/u1" "$WORK/w1"
fi

# Many threads creating and renaming in one directory.
mkdir "$mnt/busy"
for t in $(seq 8); do
  (for i in $(seq 100); do echo "$t.$i" >"$mnt/busy/tmp.$t.$i" && mv "$mnt/busy/tmp.$t.$i" "$mnt/busy/f.$t.$i"; done) &
done
wait
expect_eq "800 files after parallel create+rename" "$(ls "$mnt/busy" | grep -c '^f\.')" 800
expect_eq "no temp names left" "$(ls "$mnt/busy" | grep -c '^tmp\.')" 0
expect_eq "contents intact" "$(cat "$mnt/busy/f.3.77")" "3.77"

# A reader and a writer on one file at once. A 4 KiB read may interleave with
# a write (plain ext4 does that too); what must hold is that every read is
# whole and holds only bytes that were written, and the last write wins.
python3 - "$mnt/shared" <<'PY' >"$WORK/rw.out"
import os, sys, threading
path = sys.argv[1]
with open(path, "wb") as f:
    f.write(b"\0" * 4096 * 64)
stop = False
bad = []
def reader():
    fd = os.open(path, os.O_RDONLY)
    while not stop:
        block = os.pread(fd, 4096, 4096 * 7)
        if len(block) != 4096 or max(block) > 250:
            bad.append(block[:8])
    os.close(fd)
t = threading.Thread(target=reader)
t.start()
fd = os.open(path, os.O_WRONLY)
for i in range(2000):
    os.pwrite(fd, bytes([i % 251]) * 4096, 4096 * 7)
stop = True
t.join()
print("bad" if bad else "whole", os.pread(os.open(path, os.O_RDONLY), 1, 4096 * 7)[0])
PY
expect_eq "reader and writer at once" "$(cat "$WORK/rw.out")" "whole $((1999 % 251))"
umount "$mnt"
umount "$ref"
finish
