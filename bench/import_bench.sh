#!/usr/bin/env bash
# Times `strata import` against `tar -x` of the same root filesystem tar, and
# measures the space two images that share most files take in the store.
#
#   bash bench/import_bench.sh [ROOTFS.tar]
#
# Without an argument it debootstraps a minimal Debian 12 into
# /var/tmp/strata-bench (once; needs the Debian mirror). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
bench=/var/tmp/strata-bench
mkdir -p "$bench"
tarball=${1:-$bench/rootfs.tar}
if [ ! -f "$tarball" ]; then
  command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
  rm -rf "$bench/rootfs"
  debootstrap --variant=minbase bookworm "$bench/rootfs" http://deb.debian.org/debian >"$bench/debootstrap.log"
  tar --numeric-owner -C "$bench/rootfs" -cf "$tarball" .
fi
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
strata=$PWD/build/release/bin/strata
scratch=$bench/scratch
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

files=$(tar -tf "$tarball" | wc -l)
echo "input: $tarball, $(du -h "$tarball" | cut -f1), $files entries; median of $runs runs, warm page cache"
cat "$tarball" >/dev/null

time_tar() {  # $1 = sync or nosync
  for _ in $(seq "$runs"); do
    rm -rf "$scratch" && mkdir -p "$scratch" && sync
    t0=$(now)
    tar --numeric-owner -xpf "$tarball" -C "$scratch"
    [ "$1" = sync ] && sync -f "$scratch"
    t1=$(now)
    echo "$t1 - $t0" | bc
  done | median
}
time_import() {
  for _ in $(seq "$runs"); do
    rm -rf "$scratch" && sync
    t0=$(now)
    "$strata" --root "$scratch" import "$tarball" bench >/dev/null
    t1=$(now)
    echo "$t1 - $t0" | bc
  done | median
}
time_reimport() {  # the same tar into a store that already holds it: all dedup hits
  rm -rf "$scratch" && "$strata" --root "$scratch" import "$tarball" first >/dev/null && sync
  for _ in $(seq "$runs"); do
    t0=$(now)
    "$strata" --root "$scratch" import "$tarball" again >/dev/null
    t1=$(now)
    echo "$t1 - $t0" | bc
  done | median
}
tar_sync=$(time_tar sync)
tar_nosync=$(time_tar nosync)
strata_t=$(time_import)
reimport_t=$(time_reimport)
printf '\n%-34s %8s %8s\n' "operation" "seconds" "ratio"
printf '%-34s %8.3f %8s\n' "tar -x, then sync" "$tar_sync" "1.00"
printf '%-34s %8.3f %8.2f\n' "tar -x (no sync)" "$tar_nosync" "$(echo "$tar_nosync / $tar_sync" | bc -l)"
printf '%-34s %8.3f %8.2f\n' "strata import (durable)" "$strata_t" "$(echo "$strata_t / $tar_sync" | bc -l)"
printf '%-34s %8.3f %8.2f\n' "strata import, content already held" "$reimport_t" "$(echo "$reimport_t / $tar_sync" | bc -l)"

# Space: a second image that shares every file but one directory tree.
rm -rf "$scratch" "$bench/second" && mkdir -p "$bench/second"
tar -xf "$tarball" -C "$bench/second"
rm -rf "$bench/second/usr/share/doc" && mkdir -p "$bench/second/opt/app" && head -c 1000000 /dev/urandom >"$bench/second/opt/app/data"
tar --numeric-owner -C "$bench/second" -cf "$bench/second.tar" .
"$strata" --root "$scratch" import "$tarball" first >/dev/null
"$strata" --root "$scratch" import "$bench/second.tar" second >/dev/null
extracted=$(( $(du -sb "$bench/second" | cut -f1) + $(du -sb "$bench/rootfs" 2>/dev/null | cut -f1 || echo 0) ))
store=$(du -sb "$scratch" | cut -f1)
echo
echo "two images imported separately (not stacked), sharing all but /usr/share/doc and /opt/app:"
printf '  both extracted as plain trees: %6.1f MB\n' "$(echo "$extracted / 1000000" | bc -l)"
printf '  strata store holding both:     %6.1f MB (%.0f%% saved)\n' "$(echo "$store / 1000000" | bc -l)" \
  "$(echo "100 * (1 - $store / $extracted)" | bc -l)"
rm -rf "$scratch" "$bench/second" "$bench/second.tar"
