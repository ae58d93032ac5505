#!/usr/bin/env bash
# End-to-end test of -o passthrough: the kernel reads and writes open files
# through their backing files, without requests to the daemon (where the
# kernel offers FUSE passthrough; elsewhere the daemon serves them as usual),
# and the union behaves as kernel overlayfs's but for the one documented case.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/layers.sh"
[ -c /dev/fuse ] || { echo "FAIL: /dev/fuse is missing"; exit 1; }
FUSE=$(dirname "$STRATA")/strata-fuse
mnt=$WORK/mnt ref=$WORK/ref
mkdir -p "$mnt" "$ref" "$WORK"/{u1,w1,u2,w2,u3,w3}
trap 'for m in "$mnt" "$ref"; do umount "$m" 2>/dev/null; done; rm -rf "$WORK"' EXIT
make_stack_image
make_kernel_lowers
lowers="$WORK/k2:$WORK/k1:$WORK/k0"
kernel_config() { zcat /proc/config.gz 2>/dev/null || cat "/boot/config-$(uname -r)" 2>/dev/null; }
offered=no
kernel_config | grep -q '^CONFIG_FUSE_PASSTHROUGH=y' && offered=yes
echo "kernel offers FUSE passthrough: $offered"

# Which requests reach the daemon: -o debug logs each one.
"$FUSE" -f -o debug,passthrough --image stack:2 --upper "$WORK/u3" --work "$WORK/w3" "$mnt" 2>"$WORK/debug.log" &
daemon=$!
for _ in $(seq 50); do mountpoint -q "$mnt" && break; sleep 0.1; done
cat "$mnt/etc/hostname" >/dev/null        # a lower file
echo written >"$mnt/new" && cat "$mnt/new" >/dev/null
expect_eq "a new file's contents" "$(cat "$mnt/new")" written
kill -TERM "$daemon" && wait "$daemon"
requests() { grep -c "opcode: $1 " "$WORK/debug.log"; }
if [ "$offered" = yes ]; then
  expect_eq "files are opened" "$(requests OPEN | awk '$1 > 0 {print "yes"}')" yes
  expect_eq "no read reaches the daemon" "$(requests READ)" 0
  expect_eq "no write reaches the daemon" "$(requests WRITE)" 0
else
  expect_eq "without kernel support, the daemon reads" "$(requests READ | awk '$1 > 0 {print "yes"}')" yes
fi

expect_ok "writable mount" "$FUSE" -o passthrough --image stack:2 --upper "$WORK/u1" --work "$WORK/w1" "$mnt"
mount -t overlay overlay -o "lowerdir=$lowers,upperdir=$WORK/u2,workdir=$WORK/w2" "$ref"

# The one difference from overlayfs: a file open below cannot be opened for
# writing (which copies it up) until that descriptor closes, as the kernel
# passes all of a file's open descriptors to one backing file. The open
# fails with ETXTBSY; once the reader is gone it succeeds.
conflict() { python3 - "$1" <<'PY'
import errno, os, sys
path = sys.argv[1]
r = os.open(path, os.O_RDONLY)
try:
    os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
    print("ok", end=" ")
except OSError as e:
    print(errno.errorcode[e.errno], end=" ")
os.close(r)
w = os.open(path, os.O_WRONLY | os.O_APPEND)
os.write(w, b"more\n")
os.close(w)
print(open(path).read().splitlines()[-1])
PY
}
if [ "$offered" = yes ]; then
  expect_eq "write open of a file open below" "$(conflict "$mnt/data/fresh")" "ETXTBSY more"
fi
expect_eq "kernel overlayfs allows it" "$(conflict "$ref/data/fresh")" "ok more"

# The same changes as in overlay_test.sh, through descriptors too, leave the
# same tree as kernel overlayfs's.
changes "$mnt"
changes "$ref"
expect_eq "tree after changes matches kernel overlayfs" "$(listing "$mnt")" "$(listing "$ref")"
expect_eq "contents match" "$(cd "$mnt" && find . -type f -exec md5sum {} + | sort)" \
  "$(cd "$ref" && find . -type f -exec md5sum {} + | sort)"
expect_eq "descriptors as on overlayfs" "$(descriptors "$mnt")" "$(descriptors "$ref")"

# Descriptors on one upper file share its data: reads see writes, and a
# shared writable mapping works.
expect_eq "reader sees another fd's write" "$(python3 - "$mnt/newfile-top" <<'PY'
import mmap, os, sys
path = sys.argv[1]
r = os.open(path, os.O_RDONLY)
w = os.open(path, os.O_RDWR)
os.pwrite(w, b"ABCD", 0)
print(os.pread(r, 4, 0).decode(), end=" ")
m = mmap.mmap(w, 0)
m[0:4] = b"MMAP"
m.flush()
print(os.pread(r, 4, 0).decode(), end=" ")
os.ftruncate(w, 2)
print(os.fstat(r).st_size, os.pread(r, 8, 0).decode())
PY
)" "ABCD MMAP 2 MM"


# Many threads opening, reading and closing one file at once (half of them
# writing, where the union is writable): the file's one backing file is
# shared and let go as its last descriptor closes, so no open ever fails (a
# second backing file for one file would make the kernel fail the open, EIO).
concurrent_opens() { python3 - "$@" <<'PY'
import os, sys, threading
path, writers = sys.argv[1], sys.argv[2] == "write"
errors = []
def worker(n):
    for i in range(300):
        try:
            fd = os.open(path, os.O_RDWR if writers and n % 2 == 0 else os.O_RDONLY)
            if writers and n % 2 == 0:
                os.pwrite(fd, os.pread(fd, 8, 0), 8 * (i % 64))
            if len(os.pread(fd, 8, 0)) != 8:
                errors.append("short read")
            os.close(fd)
        except OSError as e:
            errors.append(e.strerror)
threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(len(errors), sorted(set(errors)))
PY
}
python3 -c "open('$mnt/hot', 'wb').write(b'hot data' * 64)"
expect_eq "concurrent opens of one file, writers too" "$(concurrent_opens "$mnt/hot" write)" "0 []"
expect_eq "its contents" "$(head -c 16 "$mnt/hot")" "hot datahot data"
umount "$mnt"
umount "$ref"

# A read-only union (lowerdir only) serves every file through its layer's file.
expect_ok "read-only mount" "$FUSE" -o "lowerdir=$lowers,passthrough" "$mnt"
mount -t overlay overlay -o "lowerdir=$lowers" "$ref"
expect_eq "read-only contents match" "$(cd "$mnt" && find . -type f -exec md5sum {} + | sort)" \
  "$(cd "$ref" && find . -type f -exec md5sum {} + | sort)"
expect_eq "concurrent opens of one lower file" "$(concurrent_opens "$mnt/etc/passwd.link" read)" "0 []"
expect_eq "read-only: writing is refused" "$(python3 -c "
import errno, os
try:
    os.open('$mnt/etc/hostname', os.O_WRONLY)
except OSError as e:
    print(errno.errorcode[e.errno])")" EROFS
umount "$mnt"
umount "$ref"
finish
