#!/usr/bin/env bash
# The kernel path (--driver kernel): kernel overlayfs over an image's metadata
# tree and the store's blobs. The same changes made through it and through
# kernel overlayfs over the layers extracted must leave the same tree; an
# image lists and reads the same through either driver, entry for entry; a
# container written through one driver reads back through the other and
# commits to the same image; the differential fuzzer runs over it; two images
# sharing a file share one page cache; run and build use it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/layers.sh"
S() { "$STRATA" "$@"; }
if ! S mount --help >/dev/null || [ "$(id -u)" != 0 ]; then echo "FAIL: needs root"; exit 1; fi
mnt=$WORK/mnt ref=$WORK/ref other=$WORK/other
mkdir -p "$mnt" "$ref" "$other" "$WORK"/{u2,w2}
trap 'for m in "$mnt" "$ref" "$other"; do umount "$m" 2>/dev/null; done; rm -rf "$WORK"' EXIT
make_stack_image
make_kernel_lowers
lowers="$WORK/k2:$WORK/k1:$WORK/k0"
on_kernel() { grep -q " $1 .* - overlay strata " /proc/self/mountinfo && echo kernel || echo fuse; }
contents() { (cd "$1" && find . -type f -exec md5sum {} + | sort); }
xattrs() { (cd "$1" && getfattr -R -d -m user. . 2>/dev/null); }

# --- an image, read-only, through each driver: the same tree ---
expect_ok "kernel mount of an image" S mount --driver kernel stack:2 "$mnt"
expect_eq "served by the kernel" "$(on_kernel "$mnt")" kernel
expect_ok "FUSE mount of the image" S mount --driver fuse stack:2 "$other"
expect_eq "the same entries" "$(listing "$mnt" times)" "$(listing "$other" times)"
expect_eq "the same contents" "$(contents "$mnt")" "$(contents "$other")"
expect_eq "the same xattrs" "$(xattrs "$mnt")" "$(xattrs "$other")"
expect_eq "hardlinks stay one file" "$(stat -c %h "$mnt/bin/tool.hard")" 2
expect_eq "the setuid bit" "$(stat -c %a "$mnt/bin/tool")" 4755
expect_eq "read-only" "$(touch "$mnt/x" 2>&1 | grep -c 'Read-only')" 1
expect_eq "the metadata tree holds no data" "$(du -s --block-size=1M "$STRATA_ROOT/meta" | cut -f1)" 1
S umount "$mnt" && S umount "$other"

# --- a container: the same changes as on kernel overlayfs over the layers ---
S create --name k1 stack:2 /bin/true >/dev/null
expect_ok "kernel mount of a container" S mount --driver kernel k1 "$mnt"
mount -t overlay overlay -o "lowerdir=$lowers,upperdir=$WORK/u2,workdir=$WORK/w2,redirect_dir=on" "$ref"
changes "$mnt"
changes "$ref"
expect_eq "tree after changes as on overlayfs" "$(listing "$mnt")" "$(listing "$ref")"
expect_eq "contents as on overlayfs" "$(contents "$mnt")" "$(contents "$ref")"
expect_eq "xattrs as on overlayfs" "$(xattrs "$mnt")" "$(xattrs "$ref")"
expect_eq "descriptors as on overlayfs" "$(descriptors "$mnt")" "$(descriptors "$ref")"
expect_error "one mount per container" "mounted elsewhere" S mount --driver fuse k1 "$other"
listing "$mnt" >"$WORK/want.list" && contents "$mnt" >"$WORK/want.md5"
S umount "$mnt"
umount "$ref"

# Written by the kernel, read through FUSE (metadata-only copy-ups get their data), and back.
expect_ok "FUSE mount of the kernel's container" S mount --driver fuse k1 "$mnt"
expect_eq "FUSE reads the kernel's changes" "$(listing "$mnt")" "$(cat "$WORK/want.list")"
expect_eq "FUSE reads the kernel's contents" "$(contents "$mnt")" "$(cat "$WORK/want.md5")"
echo from-fuse >"$mnt/etc/fuse-wrote" && chmod 640 "$mnt/etc/hostname.trunc"
listing "$mnt" >"$WORK/want.list" && contents "$mnt" >"$WORK/want.md5"
S umount "$mnt"
expect_ok "kernel mount after FUSE" S mount --driver kernel k1 "$mnt"
expect_eq "the kernel reads FUSE's changes" "$(listing "$mnt")" "$(cat "$WORK/want.list")"
expect_eq "the kernel reads FUSE's contents" "$(contents "$mnt")" "$(cat "$WORK/want.md5")"
chmod 600 "$mnt/srv/www/index.html" && mv "$mnt/io/blocks" "$mnt/io/moved"  # metadata-only copy-ups
listing "$mnt" >"$WORK/want.list" && contents "$mnt" >"$WORK/want.md5"
S umount "$mnt"
expect_ok "commit what the kernel wrote" S commit k1 k1:img
expect_ok "mount the commit" S mount --driver fuse k1:img "$mnt"
expect_eq "the commit holds the changes" "$(listing "$mnt")" "$(cat "$WORK/want.list")"
expect_eq "the commit holds the data" "$(contents "$mnt")" "$(cat "$WORK/want.md5")"
S umount "$mnt"
expect_ok "remove the container" S rm k1
expect_ok "fsck" S fsck

# --- the differential fuzzer over the kernel path ---
FUZZ=$(dirname "$0")/union_fuzz.py
fl=$WORK/fuzz-lower
mkdir -p "$fl"/{d1/s,d2/s,d3}
for f in a b d1/a d1/s/b d2/c d3/d; do echo "lower $f" >"$fl/$f"; done
ln "$fl/a" "$fl/d2/a" && ln -s a "$fl/d1/c" && setfattr -n user.x -v lx "$fl/d1/a"
tar --xattrs --numeric-owner -C "$fl" -cf "$WORK/fuzz.tar" . && S import "$WORK/fuzz.tar" fuzz:1 >/dev/null
for seed in 21 22; do
  S create --name "f$seed" fuzz:1 /bin/true >/dev/null
  mkdir -p "$WORK/fu$seed" "$WORK/fw$seed"
  S mount --driver kernel "f$seed" "$mnt"
  mount -t overlay overlay -o "lowerdir=$fl,upperdir=$WORK/fu$seed,workdir=$WORK/fw$seed,redirect_dir=on" "$ref"
  python3 "$FUZZ" "$mnt" "$seed" 1500 >"$WORK/strata.log"
  python3 "$FUZZ" "$ref" "$seed" 1500 >"$WORK/kernel.log"
  expect_eq "fuzz $seed: every operation as on overlayfs" "$(diff "$WORK/strata.log" "$WORK/kernel.log" | head -5)" ""
  expect_eq "fuzz $seed: tree as on overlayfs" "$(listing "$mnt")" "$(listing "$ref")"
  expect_eq "fuzz $seed: contents as on overlayfs" "$(contents "$mnt")" "$(contents "$ref")"
  listing "$ref" >"$WORK/want.list" && contents "$ref" >"$WORK/want.md5"
  S umount "$mnt" && umount "$ref"
  S mount --driver fuse "f$seed" "$mnt"
  expect_eq "fuzz $seed: FUSE reads the same tree" "$(listing "$mnt")" "$(cat "$WORK/want.list")"
  expect_eq "fuzz $seed: FUSE reads the same contents" "$(contents "$mnt")" "$(cat "$WORK/want.md5")"
  S umount "$mnt"
done

# --- a big image's tree reads blobs/; a small image's gets a directory of its own blobs ---
mkdir -p "$WORK/big"
for i in $(seq 3000); do echo "file $i" >"$WORK/big/f$i"; done
tar -C "$WORK/big" -cf "$WORK/big.tar" . && rm -rf "$WORK/big" && S import "$WORK/big.tar" big:1 >/dev/null
datadir() { grep " $1 " /proc/self/mountinfo | grep -o 'datadir+=[^,]*' | sed 's|.*/||'; }
expect_ok "kernel mount of the big image" S mount --driver kernel big:1 "$mnt"
expect_eq "its data layer is blobs/" "$(datadir "$mnt")" blobs
expect_eq "read through blobs/" "$(cat "$mnt/f2999")" "file 2999"
S umount "$mnt"

# --- two images sharing a file share its page cache (each over its own data directory) ---
mkdir -p "$WORK/pa" "$WORK/pb"
head -c 8M /dev/urandom >"$WORK/pa/shared" && cp "$WORK/pa/shared" "$WORK/pb/shared"
echo a >"$WORK/pa/own" && echo b >"$WORK/pb/own"
tar -C "$WORK/pa" -cf "$WORK/pa.tar" . && tar -C "$WORK/pb" -cf "$WORK/pb.tar" .
S import "$WORK/pa.tar" pc:a >/dev/null && S import "$WORK/pb.tar" pc:b >/dev/null
S mount --driver kernel pc:a "$mnt" && S mount --driver kernel pc:b "$other"
top=$(S image inspect pc:a | sed -n '/^Layers:/{n;p}' | tr -d ' ')
expect_eq "a small image's data layer is its own" "$(datadir "$mnt")" "$top.data"
expect_eq "holding its two blobs" "$(ls "$STRATA_ROOT/meta/$top.data" | wc -l)" 2
not_blob() { for f in "$1"/*; do [ "$(stat -c %i "$f")" = "$(stat -c %i "$STRATA_ROOT/blobs/${f##*/}")" ] || echo "$f"; done; }
expect_eq "hardlinks of the store's blobs" "$(not_blob "$STRATA_ROOT/meta/$top.data")" ""
expect_eq "read through it" "$(cat "$mnt/own")" a
sync && echo 3 >/proc/sys/vm/drop_caches
resident() { fincore --bytes --noheadings --output RES "$1" | tr -d ' '; }
expect_eq "image B's file is not in memory" "$(resident "$other/shared")" 0
cat "$mnt/shared" >/dev/null
expect_eq "read through image A, it is in memory for image B" "$(resident "$other/shared")" $((8 << 20))
S umount "$mnt" && S umount "$other"

# --- run and build on the kernel path; auto picks it for root ---
busybox_rootfs "$WORK/bb" && tar -C "$WORK/bb" -cf "$WORK/bb.tar" . && S import "$WORK/bb.tar" bb:1 >/dev/null
root_fs='awk '"'"'$5 == "/" { for (i = 7; i <= NF; i++) if ($i == "-") { print $(i + 1); exit } }'"'"' /proc/self/mountinfo'
expect_eq "run on the kernel path" "$(S run --driver kernel --rm bb:1 sh -c "$root_fs")" overlay
expect_eq "run on the FUSE path" "$(S run --driver fuse --rm bb:1 sh -c "$root_fs")" fuse.strata
mkdir -p "$WORK/ctx"
printf 'FROM bb:1\nRUN echo built >/etc/built && chmod 600 /etc/passwd 2>/dev/null; ls /bin/sh >/dev/null\n' >"$WORK/ctx/Dockerfile"
expect_ok "build with RUN on the kernel path" S build --driver kernel -t kb:1 "$WORK/ctx"
expect_eq "the RUN step's file" "$(S run --rm kb:1 cat /etc/built)" built
expect_ok "auto mounts with the kernel" env -u STRATA_DRIVER "$STRATA" mount bb:1 "$mnt"
expect_eq "auto chose the kernel" "$(on_kernel "$mnt")" kernel
S umount "$mnt"
echo '{"driver": "fuse"}' >"$STRATA_ROOT/config.json"
expect_ok "the store's default driver" env -u STRATA_DRIVER "$STRATA" mount bb:1 "$mnt"
expect_eq "the store's config chose FUSE" "$(on_kernel "$mnt")" fuse
S umount "$mnt"
echo '{"driver": "nfs"}' >"$STRATA_ROOT/config.json"
expect_error "a bad store config" "config.json: unknown mount driver nfs" env -u STRATA_DRIVER "$STRATA" mount bb:1 "$mnt"
echo 'driver: fuse' >"$STRATA_ROOT/config.json"
expect_error "a store config that is not JSON" "config.json is not a JSON object" env -u STRATA_DRIVER "$STRATA" mount bb:1 "$mnt"
echo '{"driver": 5}' >"$STRATA_ROOT/config.json"
expect_error "a driver that is not a string" "config.json: driver is not a string" env -u STRATA_DRIVER "$STRATA" mount bb:1 "$mnt"
rm "$STRATA_ROOT/config.json"
expect_error "verify is FUSE's" "FUSE driver" S mount --driver kernel --verify bb:1 "$mnt"

# --- the metadata trees go with their layers ---
top=$(S image inspect pc:a | sed -n '/^Layers:/{n;p}' | tr -d ' ')
expect_eq "a mounted image has its tree" "$(test -d "$STRATA_ROOT/meta/$top" && echo yes)" yes
S rmi pc:a >/dev/null
expect_eq "a removed image's tree is gone" "$(test -e "$STRATA_ROOT/meta/$top" && echo left)" ""
expect_eq "and its data directory" "$(test -e "$STRATA_ROOT/meta/$top.data" && echo left)" ""
expect_ok "fsck at the end" S fsck
# --- an upper with a metacopy file whose lower file is missing (a damaged store) ---
S create --name damaged bb:1 true >/dev/null
up=$STRATA_ROOT/containers/$(S ps -a --format '{{.Name}} {{.Id}}' | awk '$1=="damaged" {print $2}')
truncate -s 100 "$up/upper/ghost" && setfattr -n trusted.overlay.metacopy "$up/upper/ghost"
mkdir -p "$up/work/work"  # as the kernel leaves it
expect_error "commit refuses it, naming the file" "metacopy file ghost has no lower file" S commit damaged d:1
expect_error "the FUSE path refuses to mount it" "a metacopy file with no lower file at ghost" \
  S mount --driver fuse damaged "$mnt"
expect_eq "and mounts nothing" "$(grep -c " $mnt " /proc/mounts)" 0
expect_ok "rm still removes it" S rm damaged
finish
