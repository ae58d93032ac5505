#!/usr/bin/env bash
# End-to-end test of -o io_uring (FUSE over io_uring, Linux 6.14+): with the
# fuse module's consent, requests come on the daemon's rings and not on
# /dev/fuse; big reads and writes fit their buffers; SIGTERM and an unmount
# from outside end the daemon cleanly; the overlay and differential tests
# pass over the rings (SIGKILL and remount are among them). Without the
# module's consent the daemon says so and reads /dev/fuse.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/layers.sh"
[ -c /dev/fuse ] || { echo "FAIL: /dev/fuse is missing"; exit 1; }
FUSE=$(dirname "$STRATA")/strata-fuse
param=/sys/module/fuse/parameters/enable_uring
mnt=$WORK/mnt
mkdir -p "$mnt" "$WORK"/{u1,w1}
saved=$(cat "$param" 2>/dev/null || echo none)
restore() { [ "$saved" = none ] || echo "$saved" >"$param"; }
trap 'umount "$mnt" 2>/dev/null; restore; rm -rf "$WORK"' EXIT
make_stack_image

# The daemon's io_uring instances, and how many completions they have seen.
daemon_pid() { pgrep -f "strata-fuse .*$mnt" | head -1; }
ring_completions() {
  local pid=$1 total=0 fd
  for fd in /proc/"$pid"/fd/*; do
    [ "$(readlink "$fd")" = "anon_inode:[io_uring]" ] || continue
    total=$((total + $(awk '/^CqHead:/ {print $2}' /proc/"$pid"/fdinfo/"${fd##*/}")))
  done
  echo "$total"
}
wait_gone() { for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }

if [ "$saved" = none ]; then
  echo "this kernel has no FUSE over io_uring: only the fallback is tested"
else
  echo N >"$param"
fi
# Without consent: one warning, and the mount works as ever.
"$FUSE" -f -o io_uring --image stack:2 --upper "$WORK/u1" --work "$WORK/w1" "$mnt" 2>"$WORK/stderr" &
daemon=$!
for _ in $(seq 50); do mountpoint -q "$mnt" && break; sleep 0.1; done
expect_eq "without consent: files read" "$(cat "$mnt/etc/hostname")" "layer1"
expect_eq "without consent: no ring" "$(ring_completions "$daemon")" 0
kill -TERM "$daemon" && wait "$daemon"
expect_eq "without consent: a warning" "$(grep -c 'offers no FUSE over io_uring' "$WORK/stderr")" 1
[ "$saved" = none ] && { finish; exit; }

echo Y >"$param"
expect_ok "mount over io_uring" "$FUSE" -o io_uring --image stack:2 --upper "$WORK/u1" --work "$WORK/w1" "$mnt"
pid=$(daemon_pid)
expect_eq "a lower file reads" "$(cat "$mnt/etc/hostname")" "layer1"
# Larger than one request: reads and writes of 1 MiB fill a ring buffer.
head -c $((5 << 20)) /dev/urandom >"$WORK/data"
dd if="$WORK/data" of="$mnt/big" bs=1M oflag=direct status=none
expect_eq "a 5 MiB file written with 1 MiB writes" "$(md5sum <"$mnt/big")" "$(md5sum <"$WORK/data")"
echo 3 >/proc/sys/vm/drop_caches
expect_eq "and read back with 1 MiB reads" "$(dd if="$mnt/big" bs=1M iflag=direct status=none | md5sum)" \
  "$(md5sum <"$WORK/data")"
mkdir "$mnt/dir" && mv "$mnt/big" "$mnt/dir/" && rm "$mnt/dir/big" && rmdir "$mnt/dir"
expect_eq "names made and removed" "$(ls "$mnt/dir" 2>&1 | grep -c 'No such file')" 1
expect_eq "requests came on the rings" "$(($(ring_completions "$pid") > 10))" 1
kill -TERM "$pid"
expect_ok "SIGTERM ends the daemon" wait_gone "$pid"
expect_eq "and unmounts" "$(mountpoint -q "$mnt" && echo mounted)" ""

expect_ok "mount again" "$FUSE" -o io_uring --image stack:2 --upper "$WORK/u1" --work "$WORK/w1" "$mnt"
pid=$(daemon_pid)
expect_eq "what was written is there" "$(ls "$mnt/big" "$mnt/dir" 2>&1 | grep -c 'No such file')" 2
fusermount3 -u "$mnt"
expect_ok "an unmount from outside ends the daemon" wait_gone "$pid"

# strata mount --io-uring passes the option on.
expect_ok "strata mount --io-uring" "$STRATA" mount stack:2 "$mnt" --io-uring
pid=$(daemon_pid)
expect_eq "an image mounted by strata mount reads" "$(cat "$mnt/etc/hostname")" "layer1"
expect_eq "its requests came on the rings" "$(($(ring_completions "$pid") > 0))" 1
expect_ok "strata umount" "$STRATA" umount "$mnt"

# The union's semantics over the rings: the overlay and differential tests.
export STRATA_FUSE_EXTRA="-o io_uring"
expect_ok "overlay test over io_uring" bash "$(dirname "$0")/overlay_test.sh"
expect_ok "differential test over io_uring" bash "$(dirname "$0")/fuzz_test.sh"
finish
