#!/bin/bash
# Trust end to end: the store is closed to other users (checked as uid 65534),
# looser modes of an older store are tightened, -o paths are honoured as they
# are, fsck --repair says when problems remain.
source "$(dirname "$0")/lib.sh"
S() { "$STRATA" "$@"; }
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
chmod 755 "$WORK"  # the test's own directory is open: only the store must be closed
trap 'grep -o "$WORK[^ ]*" /proc/mounts | xargs -r -n1 umount -l 2>/dev/null; rm -rf "$WORK"' EXIT

mkdir -p "$WORK/l1/bin"
printf 'secret bytes\n' >"$WORK/l1/bin/tool"
tar --numeric-owner -C "$WORK/l1" -cf "$WORK/l1.tar" .
expect_ok "import" S import "$WORK/l1.tar" base:1

# --- the store is private ---------------------------------------------------------------
expect_eq "store root is 0700" "$(stat -c %a "$STRATA_ROOT")" 700
S ps -a >/dev/null  # containers/ and volumes/ come with their first use
for d in blobs layers images containers volumes; do
  expect_eq "$d/ is 0700" "$(stat -c %a "$STRATA_ROOT/$d")" 700
done
for f in secret catalog.db; do
  expect_eq "$f is 0600" "$(stat -c %a "$STRATA_ROOT/$f")" 600
done
expect_eq "nobody cannot list the store" "$(as_nobody ls "$STRATA_ROOT" >/dev/null 2>&1 && echo yes || echo no)" no
blob=$(find "$STRATA_ROOT/blobs" -type f | head -n1)
expect_eq "nobody cannot read a blob" "$(as_nobody cat "$blob" 2>/dev/null || echo denied)" denied
expect_eq "nobody cannot read the catalog" \
  "$(as_nobody cat "$STRATA_ROOT/catalog.db" >/dev/null 2>&1 && echo read || echo denied)" denied

# An older store left open (0755 root, 0644 catalog) is tightened when opened.
chmod 755 "$STRATA_ROOT" "$STRATA_ROOT/blobs" "$STRATA_ROOT/layers"
chmod 644 "$STRATA_ROOT/catalog.db" "$STRATA_ROOT/secret"
expect_ok "open an open store" S images
expect_eq "root tightened" "$(stat -c %a "$STRATA_ROOT")" 700
expect_eq "blobs/ tightened" "$(stat -c %a "$STRATA_ROOT/blobs")" 700
expect_eq "catalog tightened" "$(stat -c %a "$STRATA_ROOT/catalog.db")" 600
expect_eq "secret tightened" "$(stat -c %a "$STRATA_ROOT/secret")" 600

# --- -o names an output as it is ----------------------------------------------------------
layer=$(S image inspect base:1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["GraphDriver"]["Data"]["Layers"][-1])')
expect_ok "layer export to /dev/null" S layer export "$layer" -o /dev/null
expect_eq "/dev/null is still a character device" "$(stat -c %F /dev/null)" "character special file"
expect_eq "and nothing was left beside it" "$(ls /dev | grep -c '^null\.tmp-')" 0
mkfifo "$WORK/pipe"
(tar -tf "$WORK/pipe" >"$WORK/pipe.list") &
reader=$!
expect_ok "layer export into a FIFO" S layer export "$layer" -o "$WORK/pipe"
wait "$reader"
expect_eq "the FIFO's reader got the tar" "$(grep -c 'bin/tool' "$WORK/pipe.list")" 1
expect_eq "the FIFO is still a FIFO" "$(stat -c %F "$WORK/pipe")" fifo
: >"$WORK/target.tar"
ln -s target.tar "$WORK/link.tar"
expect_ok "layer export through a symlink" S layer export "$layer" -o "$WORK/link.tar"
expect_eq "the link is still a link" "$(stat -c %F "$WORK/link.tar")" "symbolic link"
expect_eq "its target got the tar" "$(tar -tf "$WORK/target.tar" | grep -c 'bin/tool')" 1
# A killed save leaves its temporary beside the output; the next write there removes it.
: >"$WORK/image.tar.tmp-0123456789ab"
expect_ok "save" S save base:1 -o "$WORK/image.tar"
expect_eq "a dead save's temporary is gone" "$(ls "$WORK" | grep -c 'image.tar.tmp-')" 0
expect_eq "the save is a tar" "$(tar -tf "$WORK/image.tar" | grep -c '^index.json$')" 1

# --- kill -9 of save and load at several points, then the next command ---------------------
# Three layers, the middle one 48 MB of noise: long enough at each step to be caught there.
for i in 1 2 3; do mkdir -p "$WORK/k$i"; done
echo one >"$WORK/k1/one" && head -c 48M /dev/urandom >"$WORK/k2/big" && echo three >"$WORK/k3/three"
for i in 1 2 3; do tar --numeric-owner -C "$WORK/k$i" -cf "$WORK/k$i.tar" .; done
expect_ok "import kill:1" S import "$WORK/k1.tar" kill:1
expect_ok "import kill:2" S import "$WORK/k2.tar" kill:2 --from kill:1
expect_ok "import kill:3" S import "$WORK/k3.tar" kill:3 --from kill:2
# kill_when WHAT CONDITION CMD...: runs CMD, and SIGKILLs it once the shell
# CONDITION holds (polled). Python holds the child unreaped until it is killed,
# so its pid can never be another test's process by then.
kill_when() {
  local what=$1 cond=$2
  shift 2
  # The condition runs in a new shell: it gets what it uses through the environment.
  if K="${K:-}" WORK="$WORK" python3 - "$cond" "$@" <<'PY'
import subprocess, sys, time
cond, cmd = sys.argv[1], sys.argv[2:]
child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(3000):
    if subprocess.run(["bash", "-c", cond]).returncode == 0:
        child.kill()  # still ours: poll() has not reaped it unless it ended
        child.wait()
        sys.exit(0 if child.returncode == -9 else 1)
    if child.poll() is not None:
        break
    time.sleep(0.005)
child.wait()
sys.exit(1)
PY
  then ok; else fail "$what: ended before it could be killed there"; fi
}
scratch_in() { [ -n "$(ls "$1/tmp" 2>/dev/null)" ]; }
export -f scratch_in
kill_when "save killed while it exports layers" 'scratch_in "$STRATA_ROOT"' "$STRATA" save kill:3 -o "$WORK/killed.tar" --compression none
expect_eq "no output from it" "$(ls "$WORK" | grep -c '^killed.tar')" 0
expect_ok "the next command" S images
expect_eq "its scratch went when the store opened" "$(ls "$STRATA_ROOT/tmp" | wc -l)" 0
kill_when "save killed while it writes the output" 'ls "$WORK" | grep -q "^killed.tar.tmp-"' "$STRATA" save kill:3 -o "$WORK/killed.tar" --compression none
expect_eq "its temporary is left beside the output" "$(ls "$WORK" | grep -c '^killed.tar.tmp-')" 1
expect_ok "save again" S save kill:3 -o "$WORK/killed.tar" --compression none
expect_eq "the dead save's temporary is gone" "$(ls "$WORK" | grep -c '^killed.tar.tmp-')" 0
expect_eq "the output is whole" "$(tar -tf "$WORK/killed.tar" | grep -c '^index.json$')" 1
K=$WORK/kstore
STRATA_ROOT=$K S images >/dev/null
k_before=$(STRATA_ROOT=$K store_state)
kill_when "load killed while it unpacks" 'scratch_in "$K"' env STRATA_ROOT="$K" "$STRATA" load -i "$WORK/killed.tar"
expect_ok "the next command" env STRATA_ROOT="$K" "$STRATA" images
expect_eq "the store is as it was" "$(STRATA_ROOT=$K store_state)" "$k_before"
kill_when "load killed inside its first layer" '[ -n "$(ls "$K/layers")" ]' env STRATA_ROOT="$K" "$STRATA" load -i "$WORK/killed.tar"
expect_eq "fsck finds what it left" "$(STRATA_ROOT=$K S fsck >/dev/null 2>&1; echo $?)" 1
expect_ok "system prune" env STRATA_ROOT="$K" "$STRATA" system prune
expect_eq "and reclaims it: the store is as it was" "$(STRATA_ROOT=$K store_state)" "$k_before"
# Layer 1 recorded, layer 2 (48 MB) written and not yet recorded: both kinds of leftovers.
kill_when "load killed inside its second layer" '[ "$(ls "$K/layers" | wc -l)" -ge 2 ]' env STRATA_ROOT="$K" "$STRATA" load -i "$WORK/killed.tar"
STRATA_ROOT=$K S fsck >"$WORK/fsck.out" 2>&1
expect_eq "fsck names the layer no image uses" "$(grep -c 'no image, layer or build cache uses it' "$WORK/fsck.out")" 1
expect_eq "and the unrecorded files" "$(grep -c 'not in the catalog (left by a crash)' "$WORK/fsck.out")" "$(($(grep -c . "$WORK/fsck.out") - 2))"
expect_eq "system df shows both" "$(STRATA_ROOT=$K S system df | grep -cE '^(Unused Layers|Crash Leftovers) ')" 2
expect_ok "system prune" env STRATA_ROOT="$K" "$STRATA" system prune
expect_eq "and reclaims them: the store is as it was" "$(STRATA_ROOT=$K store_state)" "$k_before"
expect_ok "fsck is clean" env STRATA_ROOT="$K" "$STRATA" fsck
expect_ok "the load, once more, whole" env STRATA_ROOT="$K" "$STRATA" load -i "$WORK/killed.tar"
expect_eq "its image" "$(STRATA_ROOT=$K S image ls --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["RepoTags"])')" "['kill:3']"
expect_ok "fsck is clean after" env STRATA_ROOT="$K" "$STRATA" fsck

# --- out of space during load: said so, the store as it was ---------------------------------
mkdir -p "$WORK/small"
mount -t tmpfs -o size=2m tmpfs "$WORK/small"
head -c 3000000 /dev/urandom >"$WORK/l1/bin/big"
tar --numeric-owner -C "$WORK/l1" -cf "$WORK/big.tar" .
expect_ok "import a 3 MB image" S import "$WORK/big.tar" big:1
expect_ok "save it" S save big:1 -o "$WORK/big-oci.tar"
STRATA_ROOT=$WORK/small/store S images >/dev/null
small_before=$(STRATA_ROOT=$WORK/small/store store_state)
expect_error "load into a full store" "No space left on device" env STRATA_ROOT="$WORK/small/store" "$STRATA" load -i "$WORK/big-oci.tar"
expect_eq "the full store is as it was" "$(STRATA_ROOT=$WORK/small/store store_state)" "$small_before"
umount "$WORK/small"
rm "$WORK/l1/bin/big"

# --- run --verify: a damaged file fails to open inside the container ----------------------
busybox_rootfs "$WORK/vb"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$WORK/vb/etc/passwd"
printf 'verify me, a file of its own\n' >"$WORK/vb/data"
tar --numeric-owner -C "$WORK/vb" -cf "$WORK/vb.tar" .
expect_ok "import busybox with a data file" S import "$WORK/vb.tar" vb:1
expect_eq "runs as imported" "$(S run --rm --verify vb:1 cat /data)" "verify me, a file of its own"
data_blob=$(grep -rl 'verify me, a file of its own' "$STRATA_ROOT/blobs")
chmod u+w "$data_blob"
printf 'V' | dd of="$data_blob" bs=1 seek=0 conv=notrunc status=none
expect_eq "run --verify: the damaged file fails with EIO" \
  "$(S run --rm --verify vb:1 cat /data 2>&1)" "cat: read error: Input/output error"
expect_eq "run without --verify reads what is stored" "$(S run --rm vb:1 cat /data)" "Verify me, a file of its own"
printf 'v' | dd of="$data_blob" bs=1 seek=0 conv=notrunc status=none
expect_ok "rmi vb:1" S rmi vb:1

# --- fsck --repair says when problems remain ---------------------------------------------
chmod u+w "$blob"
printf 'X' | dd of="$blob" bs=1 seek=0 conv=notrunc status=none
# mount --verify checks each blob at its first open.
mkdir -p "$WORK/mnt"
expect_ok "mount --verify" S mount --verify base:1 "$WORK/mnt"
expect_eq "a damaged file fails to open: EIO" "$(cat "$WORK/mnt/bin/tool" 2>&1 >/dev/null)" \
  "cat: $WORK/mnt/bin/tool: Input/output error"
expect_ok "umount" S umount "$WORK/mnt"
expect_ok "mount without --verify" S mount base:1 "$WORK/mnt"
expect_eq "reads what is stored" "$(cat "$WORK/mnt/bin/tool")" "Xecret bytes"
expect_ok "umount" S umount "$WORK/mnt"
expect_eq "fsck finds the flipped byte" "$(S fsck >/dev/null 2>&1; echo $?)" 1
expect_ok "a container holds the broken image" S create --name holder base:1 /bin/tool
expect_eq "fsck --repair cannot remove a held image: exit 1" "$(S fsck --repair >"$WORK/fsck.out" 2>&1; echo $?)" 1
expect_eq "and says what remains" "$(grep -c '^remains: image' "$WORK/fsck.out")" 1
expect_ok "remove the container" S rm holder
expect_eq "fsck --repair fixes what it can and exits 0" "$(S fsck --repair >/dev/null 2>&1; echo $?)" 0
expect_eq "fsck is clean after" "$(S fsck >/dev/null 2>&1; echo $?)" 0

finish
