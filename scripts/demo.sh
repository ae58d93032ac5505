#!/usr/bin/env bash
# The strata demo: builds strata, imports a real busybox root filesystem as an
# image, stacks an application layer on it, mounts it, builds the seeds' two
# apps with the layer cache, runs containers with a volume, saves and loads an
# OCI image, and shows what the store holds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
strata() { build/release/bin/strata "$@"; }
export STRATA_ROOT=${STRATA_ROOT:-/var/tmp/strata-demo}
rm -rf "$STRATA_ROOT"
work=$(mktemp -d /tmp/strata-demo.XXXXXX)
trap 'umount "$work/mnt" 2>/dev/null || true; rm -rf "$work"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "A busybox root filesystem from Debian's busybox-static, as a tar"
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,proc,sys,dev}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list-full); do
  [ "$applet" = bin/busybox ] || ln -sf /bin/busybox "$rootfs/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" >"$rootfs/etc/passwd"
chmod 1777 "$rootfs/tmp"
tar --numeric-owner -C "$rootfs" -czf "$work/busybox.tar.gz" .
ls -l "$work/busybox.tar.gz"

step "strata import busybox.tar.gz busybox:latest"
strata import "$work/busybox.tar.gz" busybox:latest

step "An application layer on top (it also deletes /etc/passwd: a whiteout)"
mkdir -p "$work/app/opt/app" "$work/app/etc"
printf '#!/bin/sh\necho "hello from strata"\n' >"$work/app/opt/app/run.sh"
chmod 755 "$work/app/opt/app/run.sh"
touch "$work/app/etc/.wh.passwd"
tar -C "$work/app" -cf "$work/app.tar" .
strata import "$work/app.tar" demo/app:1.0 --from busybox:latest

step "strata image ls"
strata image ls
step "strata image inspect demo/app:1.0 --json"
strata image inspect demo/app:1.0 --json
step "strata layer ls"
strata layer ls
top=$(strata image inspect demo/app:1.0 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["GraphDriver"]["Data"]["Layers"][-1])')
step "strata layer inspect $top --entries"
strata layer inspect "$top" --entries

step "strata mount demo/app:1.0: the layers as one read-only tree (FUSE)"
mnt=$work/mnt
mkdir -p "$mnt"
strata mount demo/app:1.0 "$mnt"
echo "\$ ls $mnt"; ls "$mnt"
echo "\$ ls $mnt/etc   (passwd is whited out by the app layer)"; ls -la "$mnt/etc"
echo "\$ $mnt/bin/busybox sh $mnt/opt/app/run.sh"; "$mnt/bin/busybox" sh "$mnt/opt/app/run.sh"
echo "\$ touch $mnt/new"; touch "$mnt/new" 2>&1 || true
strata umount "$mnt"

step "strata build: the seeds' two apps share their first three instructions"
for app in app1 app2; do
  mkdir -p "$work/$app"
  echo "print('$app')" >"$work/$app/$app.py"
  cat >"$work/$app/Dockerfile" <<DF
FROM busybox:latest
RUN mkdir -p /usr/lib/python && echo python >/usr/lib/python/installed
RUN echo "flask flask-mysql" >/usr/lib/python/pip-packages
COPY $app.py /opt/source-code/
ENTRYPOINT ["python", "/opt/source-code/$app.py"]
DF
done
strata build -t demo/app1 "$work/app1"
echo "\$ strata build -t demo/app2   (the two RUN layers come from the cache)"
strata build -t demo/app2 "$work/app2"
step "strata history demo/app2"
strata history demo/app2

step "Containers: a writable layer that lives until rm"
strata run --name keeper busybox:latest sh -c 'echo "run 1" >>/tmp/log; cat /tmp/log'
echo "\$ strata start -a keeper   (its layer kept the first run's write)"
strata start -a keeper
echo "\$ strata diff keeper"; strata diff keeper
strata commit keeper demo/kept:1 >/dev/null && echo "committed keeper as demo/kept:1"
strata rm keeper

step "Volumes: the seeds' data_volume, written by two containers, read by a third"
strata run --rm -v data_volume:/opt busybox:latest sh -c 'echo $RANDOM >>/opt/number.out'
strata run --rm -v data_volume:/opt busybox:latest sh -c 'echo $RANDOM >>/opt/number.out'
strata run --rm -v data_volume:/opt busybox:latest cat /opt/number.out
strata volume ls

step "OCI out and in: strata save, then load into a second store"
strata save demo/app1 -o "$work/app1.oci.tar"
tar -tf "$work/app1.oci.tar" | sed -n 1,5p  # sed reads it all: no SIGPIPE for tar
STRATA_ROOT=$work/store2 strata load -i "$work/app1.oci.tar"

step "strata system df"
strata system df

step "Export is reproducible: export twice, compare, re-import to the same layer"
base=$(strata image inspect busybox --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["GraphDriver"]["Data"]["Layers"][0])')
strata layer export "$base" -o "$work/a.tar.zst" --compress zstd
strata layer export "$base" -o "$work/b.tar.zst" --compress zstd
cmp "$work/a.tar.zst" "$work/b.tar.zst" && echo "byte-identical exports"
again=$(strata import "$work/a.tar.zst" busybox:reimported | tail -n1)
strata image inspect "$again" --json | grep -q "$base" && echo "re-import gives layer $base again"

step "Deduplication: the same busybox binary inside another image is stored once"
mkdir -p "$work/copy/opt"
cp /bin/busybox "$work/copy/opt/busybox-copy"
tar -C "$work/copy" -cf "$work/copy.tar" .
strata import "$work/copy.tar" copy:1 >/dev/null
echo "tar input: $(du -sh "$work/copy.tar" | cut -f1); blobs in the store: $(du -sh "$STRATA_ROOT/blobs" | cut -f1)"

step "A hostile tar is refused, and the store is left as it was"
mkdir -p "$work/evil"
ln -s /etc "$work/evil/escape"
tar -C "$work/evil" -cf "$work/evil.tar" escape
mkdir -p "$work/evil2/escape" && echo pwned >"$work/evil2/escape/cron"
tar -C "$work/evil2" -rf "$work/evil.tar" escape/cron
strata import "$work/evil.tar" evil || echo "(refused, exit $?)"

step "Store layout under $STRATA_ROOT"
ls "$STRATA_ROOT"
