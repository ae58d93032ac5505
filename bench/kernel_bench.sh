#!/usr/bin/env bash
# The kernel path's own rows (issue: kernel fast path). Run as root:
#   bash bench/kernel_bench.sh
#
# - first mount of the 100,000-file synthetic image (writing its metadata
#   tree) against `tar -x` of the same tree with no file data;
# - a later mount (the tree made): `strata mount --driver kernel` end to end;
# - `strata run --rm IMAGE true` on the kernel path against
#   `podman run --rm IMAGE true` (overlay driver), same busybox image;
# - page cache: N images that share a 100 MiB file, one container each, the
#   file read in every one: memory it takes on strata's kernel path, and on
#   kernel overlayfs over a copy per image (what docker's overlay2 keeps).
# Medians of RUNS (default 3). The synthetic data set is union_bench.sh's.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
bin=$PWD/build/release/bin
bench=/var/tmp/strata-bench
export STRATA_ROOT=$bench/store
[ -f "$bench/syn.done" ] || SETS=syn ROWS=none bash bench/union_bench.sh >/dev/null
runs=${RUNS:-3}
work=$bench/kernel && rm -rf "$work" && mkdir -p "$work/mnt"
S() { "$bin/strata" "$@"; }
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
top_of() { S image inspect "$1" | sed -n '/^Layers:/,$p' | tail -1 | tr -d ' '; }

# --- first mount vs tar -x of the files without data; then a later mount ---
python3 - "$bench/layers" "$work/nodata.tar" <<'PY'
import os, sys, tarfile
with tarfile.open(sys.argv[2], "w") as out:
    for layer in ("syn0", "syn1"):
        root = os.path.join(sys.argv[1], layer)
        for d, dirs, files in os.walk(root):
            for name in dirs + files:
                info = out.gettarinfo(os.path.join(d, name), os.path.relpath(os.path.join(d, name), root))
                info.size = 0
                out.addfile(info, None if info.isdir() else __import__("io").BytesIO(b""))
PY
top=$(top_of syn:1)
first=() tarx=() later=()
# Each after a sync and a pause: ext4 is slow to create files for a while after a big rm -rf.
settle() { sync && echo 3 >/proc/sys/vm/drop_caches && sleep 10; }
for _ in $(seq "$runs"); do
  rm -rf "${STRATA_ROOT:?}/meta/$top"
  settle
  t0=$(now); S mount --driver kernel syn:1 "$work/mnt"; t1=$(now)
  umount "$work/mnt"
  first+=("$(echo "$t1 - $t0" | bc)")
  t0=$(now); S mount --driver kernel syn:1 "$work/mnt"; t1=$(now)
  umount "$work/mnt"
  later+=("$(echo "$t1 - $t0" | bc)")
  rm -rf "$work/x" && mkdir "$work/x" && settle
  t0=$(now); tar -C "$work/x" -xf "$work/nodata.tar"; sync -f "$work/x"; t1=$(now)
  tarx+=("$(echo "$t1 - $t0" | bc)")
done
rm -rf "$work/x"
echo "first kernel mount, 100k files (writes the tree): $(printf '%s\n' "${first[@]}" | median) s"
echo "tar -x of the same files, no data (+ sync):       $(printf '%s\n' "${tarx[@]}" | median) s"
echo "later kernel mount (strata mount, end to end):    $(printf '%s\n' "${later[@]}" | median) s"

# --- run --rm true: strata's kernel path against podman's overlay driver ---
mkdir -p "$work/bb"/{bin,etc,tmp}
cp /bin/busybox "$work/bb/bin/" && ln -s busybox "$work/bb/bin/true" && ln -s busybox "$work/bb/bin/sh"
tar -C "$work/bb" -cf "$work/bb.tar" .
S import "$work/bb.tar" kbench-bb:1 >/dev/null
# podman with its own storage (overlay driver), offline, runc, cgroupfs, as the tests run it.
export CONTAINERS_STORAGE_CONF=$work/storage.conf CONTAINERS_CONF=$work/containers.conf
printf '[storage]\ndriver = "overlay"\nrunroot = "%s/prun"\ngraphroot = "%s/pgraph"\n' "$work" "$work" >"$CONTAINERS_STORAGE_CONF"
printf '[containers]\nnetns = "none"\ndefault_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' >"$CONTAINERS_CONF"
podman_() { podman --log-level=error "$@"; }
podman_ import "$work/bb.tar" localhost/kbench-bb:1 >/dev/null
S run --driver kernel --rm kbench-bb:1 true && podman_ run --rm localhost/kbench-bb:1 true
strata_run=() podman_run=()
for _ in $(seq $((runs * 2 - 1))); do
  t0=$(now); S run --driver kernel --rm kbench-bb:1 true; t1=$(now)
  strata_run+=("$(echo "$t1 - $t0" | bc)")
  t0=$(now); podman_ run --rm localhost/kbench-bb:1 true; t1=$(now)
  podman_run+=("$(echo "$t1 - $t0" | bc)")
done
echo "strata run --rm true (kernel path):               $(printf '%s\n' "${strata_run[@]}" | median) s"
echo "podman run --rm true (overlay driver):            $(printf '%s\n' "${podman_run[@]}" | median) s"
podman_ system reset -f >/dev/null 2>&1 || true

# --- page cache: N images sharing a 100 MiB file ---
n=${IMAGES:-4}
head -c $((100 << 20)) /dev/urandom >"$work/shared.bin"
cached() { awk '/^Cached:/ {print $2}' /proc/meminfo; }
for i in $(seq "$n"); do
  mkdir -p "$work/img$i" && cp "$work/shared.bin" "$work/img$i/shared.bin" && echo "$i" >"$work/img$i/own"
  tar -C "$work/img$i" -cf "$work/img$i.tar" . && S import "$work/img$i.tar" "kbench-pc:$i" >/dev/null
  mkdir -p "$work/m$i" "$work/u$i" "$work/w$i" "$work/k$i"
done
for i in $(seq "$n"); do S mount --driver kernel "kbench-pc:$i" "$work/m$i"; done
sync && echo 3 >/proc/sys/vm/drop_caches
before=$(cached)
for i in $(seq "$n"); do cat "$work/m$i/shared.bin" >/dev/null; done
strata_mb=$((($(cached) - before) / 1024))
for i in $(seq "$n"); do umount "$work/m$i"; done
for i in $(seq "$n"); do
  mount -t overlay overlay -o "lowerdir=$work/img$i,upperdir=$work/u$i,workdir=$work/w$i" "$work/k$i"
done
sync && echo 3 >/proc/sys/vm/drop_caches
before=$(cached)
for i in $(seq "$n"); do cat "$work/k$i/shared.bin" >/dev/null; done
copies_mb=$((($(cached) - before) / 1024))
for i in $(seq "$n"); do umount "$work/k$i"; done
echo "page cache, $n images sharing 100 MiB, strata kernel path: ${strata_mb} MiB"
echo "page cache, the same on overlayfs over a copy per image:   ${copies_mb} MiB"
for i in $(seq "$n"); do S rmi "kbench-pc:$i" >/dev/null; done
S rmi kbench-bb:1 >/dev/null
rm -rf "$work"
