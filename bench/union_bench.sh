#!/usr/bin/env bash
# Mounts the same lower layers with strata (from its store, with and without
# -o passthrough or -o io_uring, from plain directories as fuse-overlayfs takes them, and
# through the kernel path: kernel overlayfs over the image's metadata tree and the blobs),
# kernel overlayfs and fuse-overlayfs, and times the same operations on each, cold (caches
# dropped) and warm. Prints one table: seconds, and the ratio to kernel
# overlayfs. Run as root:  bash bench/union_bench.sh
#
#   RUNS=N   times each cell N times, the mounts taking turns (each round
#            starting with the next one), and reports the median (default 1)
#   ROWS=RE  only the rows whose "SET OPERATION" matches the extended
#            regular expression RE, e.g. ROWS='deb (find|seq-read)'
#   KINDS="kernel strata ..."  only these mounts (default: all but strata-uring;
#            that one needs /sys/module/fuse/parameters/enable_uring set, which
#            this script then does for its run)
#   SETS="deb syn"  only these data sets (syn alone needs no debootstrap)
#   LOADED=1 times every cell with a CPU-bound process busy on one core, as on
#            a user's busy machine
#
# Data sets: a debootstrap'd Debian rootfs split into three layers (with a
# 200 MiB file added), and a synthetic tree of 100,000 small files in 1,000
# directories, in two layers of 50,000 (each directory in both).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v fuse-overlayfs >/dev/null || apt-get install -y -qq fuse-overlayfs >/dev/null
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
bin=$PWD/build/release/bin
bench=/var/tmp/strata-bench
export STRATA_ROOT=$bench/store
read -r -a sets <<<"${SETS:-deb syn}"

# --- data sets, made once each ---
if [[ " ${sets[*]} " == *" deb "* ]] && [ ! -f "$bench/deb.done" ]; then
  [ -d "$bench/rootfs" ] || bash bench/import_bench.sh >/dev/null  # makes the debootstrap rootfs
  rm -rf "$bench/layers"/d[012] && mkdir -p "$bench/layers"/{d0,d1,d2}
  cp -a "$bench/rootfs/usr" "$bench/layers/d0/"
  head -c $((200 << 20)) /dev/urandom >"$bench/layers/d0/big.bin"
  cp -a "$bench/rootfs/etc" "$bench/rootfs/var" "$bench/layers/d1/"
  (cd "$bench/rootfs" && for e in *; do [ "$e" = usr ] || [ "$e" = etc ] || [ "$e" = var ] || cp -a "$e" "$bench/layers/d2/"; done)
  for l in d0 d1 d2; do tar --numeric-owner -C "$bench/layers/$l" -cf "$bench/layers/$l.tar" .; done
  "$bin/strata" import "$bench/layers/d0.tar" deb:0 >/dev/null
  "$bin/strata" import "$bench/layers/d1.tar" deb:1 --from deb:0 >/dev/null
  "$bin/strata" import "$bench/layers/d2.tar" deb:2 --from deb:1 >/dev/null
  rm -f "$bench/layers/"d?.tar
  touch "$bench/deb.done"
fi
if [[ " ${sets[*]} " == *" syn "* ]] && [ ! -f "$bench/syn.done" ]; then
  rm -rf "$bench/layers"/syn[01] && mkdir -p "$bench/layers"/{syn0,syn1}
  python3 - "$bench/layers" <<'PY'
import os, sys
for layer in (0, 1):
    for d in range(1000):
        p = f"{sys.argv[1]}/syn{layer}/dir{d}"
        os.makedirs(p, exist_ok=True)
        for f in range(50):
            with open(f"{p}/f{layer}-{f}", "w") as out:
                out.write(f"file {layer} {d}/{f}\n")
PY
  for l in syn0 syn1; do tar --numeric-owner -C "$bench/layers/$l" -cf "$bench/layers/$l.tar" .; done
  "$bin/strata" import "$bench/layers/syn0.tar" syn:0 >/dev/null
  "$bin/strata" import "$bench/layers/syn1.tar" syn:1 --from syn:0 >/dev/null
  rm -f "$bench/layers/"syn?.tar
  touch "$bench/syn.done"
fi
# 20,000 small files in 200 directories, to untar into a mount.
if [ ! -f "$bench/untar.tar" ]; then
  rm -rf "$bench/untar-src" && mkdir -p "$bench/untar-src"
  python3 - "$bench/untar-src" <<'PY'
import os, sys
for d in range(200):
    os.makedirs(f"{sys.argv[1]}/pkg{d}")
    for f in range(100):
        with open(f"{sys.argv[1]}/pkg{d}/file{f}", "w") as out:
            out.write("x" * (f * 37 % 4000))
PY
  tar -C "$bench/untar-src" -cf "$bench/untar.tar" . && rm -rf "$bench/untar-src"
fi

mnt=$bench/mnt
mkdir -p "$mnt"
# mount KIND SET: a fresh writable union of data set SET (deb or syn) on $mnt
mount_union() {
  local kind=$1 set=$2 lowers image
  rm -rf "$bench/upper" "$bench/work" && mkdir -p "$bench/upper" "$bench/work"
  if [ "$set" = deb ]; then lowers=$bench/layers/d2:$bench/layers/d1:$bench/layers/d0 image=deb:2
  else lowers=$bench/layers/syn1:$bench/layers/syn0 image=syn:1; fi
  local o="lowerdir=$lowers,upperdir=$bench/upper,workdir=$bench/work"
  case $kind in
    kernel) mount -t overlay overlay -o "$o" "$mnt" ;;
    fuse-overlayfs) fuse-overlayfs -o "$o" "$mnt" ;;
    strata-dirs) "$bin/strata-fuse" -o "$o" "$mnt" ;;
    strata) "$bin/strata-fuse" --image "$image" --upper "$bench/upper" --work "$bench/work" "$mnt" ;;
    strata-pt) "$bin/strata-fuse" --image "$image" --upper "$bench/upper" --work "$bench/work" -o passthrough "$mnt" ;;
    strata-uring) "$bin/strata-fuse" --image "$image" --upper "$bench/upper" --work "$bench/work" -o io_uring "$mnt" ;;
    # What `strata mount --driver kernel` of a container mounts (its tree made once, below).
    strata-kernel) mount -t overlay strata -o "lowerdir=${meta[$image]},upperdir=$bench/upper,workdir=$bench/work,metacopy=on,redirect_dir=on" "$mnt" ;;
  esac
}
# meta_tree IMAGE: "TREE::DATA", the image's metadata tree (written by a first kernel
# mount if missing) and its data-only layer (its own, or the store's blobs/).
meta_tree() {
  local top data
  top=$("$bin/strata" image inspect "$1" | sed -n '/^Layers:/,$p' | tail -1 | tr -d ' ')
  if [ ! -d "$STRATA_ROOT/meta/$top" ]; then
    "$bin/strata" mount --driver kernel "$1" "$mnt" && umount "$mnt"
  fi
  data=$STRATA_ROOT/meta/$top.data
  [ -d "$data" ] || data=$STRATA_ROOT/blobs
  echo "$STRATA_ROOT/meta/$top::$data"
}
unmount() { umount "$mnt" 2>/dev/null || fusermount3 -u "$mnt"; }
now() { date +%s.%N; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# The operations. Each runs in a fresh mount; "cold" drops caches first.
op_find() { find "$mnt" >/dev/null; }
op_stat() { find "$mnt" -printf '%s %m %U\n' >/dev/null; }   # stat of every entry
op_tar() { tar -C "$mnt" -cf - . | cat >/dev/null; }
op_seqread() { dd if="$mnt/big.bin" of=/dev/null bs=1M status=none; }
op_randread() {
  python3 -c "
import os, random
fd = os.open('$mnt/big.bin', os.O_RDONLY); size = os.fstat(fd).st_size; random.seed(1)
for _ in range(20000): os.pread(fd, 4096, random.randrange(size // 4096) * 4096)"
}
op_copyup() { printf x >>"$mnt/big.bin"; sync -f "$mnt/big.bin" 2>/dev/null || true; }
op_create() { mkdir "$mnt/new" && for i in $(seq 10000); do : >"$mnt/new/f$i"; done; }
op_rmrf() { rm -rf "$mnt/usr/share" 2>/dev/null || rm -rf "$mnt/dir1"* ; }
op_lsR() { ls -lR "$mnt" >/dev/null; }                      # stat, and two getxattr, per entry
op_untar() { mkdir "$mnt/untar" && tar -C "$mnt/untar" -xf "$bench/untar.tar"; }
op_write4k() { dd if=/dev/zero of="$mnt/w4k" bs=4k count=20000 status=none; }  # 80 MiB, a request per write

op_mount() { :; }  # a placeholder: the loop below times mount_union itself

rows=(
  "deb mount op_mount" "syn mount op_mount" "deb find op_find" "deb stat-all op_stat" "deb ls-lR op_lsR"
  "deb tar-c op_tar" "deb seq-read-200M op_seqread" "deb rand-read-4k op_randread" "deb copy-up-append op_copyup"
  "deb create-10k op_create" "deb untar-20k op_untar" "deb write-4k op_write4k" "deb rm-rf-lower op_rmrf" "syn find op_find"
  "syn stat-all op_stat" "syn ls-lR op_lsR" "syn tar-c op_tar" "syn create-10k op_create" "syn untar-20k op_untar"
)
read -r -a kinds <<<"${KINDS:-kernel fuse-overlayfs strata-dirs strata strata-pt strata-kernel}"
declare -A meta=()
if [[ " ${kinds[*]} " == *" strata-kernel "* ]]; then
  for s in "${sets[@]}"; do
    image=$([ "$s" = deb ] && echo deb:2 || echo syn:1)
    meta[$image]=$(meta_tree "$image")
  done
fi
uring_param=/sys/module/fuse/parameters/enable_uring
if [[ " ${kinds[*]} " == *" strata-uring "* ]]; then
  uring_saved=$(cat "$uring_param")
  trap 'echo "$uring_saved" >"$uring_param"' EXIT
  echo Y >"$uring_param"
fi
results=$bench/union-results.txt
: >"$results"
if [ -n "${LOADED:-}" ]; then  # one core busy all along
  (while :; do :; done) &
  busy=$!
  trap 'kill $busy 2>/dev/null; [ -z "${uring_saved:-}" ] || echo "$uring_saved" >"$uring_param"' EXIT
fi
for row in "${rows[@]}"; do
  read -r set name fn <<<"$row"
  [[ " ${sets[*]} " == *" $set "* ]] || continue
  [[ "$set $name" =~ ${ROWS:-.} ]] || continue
  for temp in cold warm; do
    # Each round starts with the next mount: a cell can pay for the one before it
    # (an untar right after the other mount's 20,000 files were removed).
    for ((round = 0; round < ${RUNS:-1}; round++)); do for ((k = 0; k < ${#kinds[@]}; k++)); do
      kind=${kinds[$(((k + round) % ${#kinds[@]}))]}
      if [ "$fn" = op_mount ]; then
        # The mount itself: until the daemon has loaded the layers and the root answers.
        if [ "$temp" = warm ]; then mount_union "$kind" "$set" && unmount; else drop_caches; fi
        t0=$(now)
        mount_union "$kind" "$set" && stat "$mnt/" >/dev/null
      else
        if [ "$temp" = warm ]; then
          # A first run in a throwaway mount fills the host caches; a read-only
          # operation then runs once more in the timed mount to fill its caches.
          mount_union "$kind" "$set" && { $fn >/dev/null 2>&1 || true; } && unmount
          mount_union "$kind" "$set"
          case $fn in op_copyup | op_create | op_rmrf | op_untar | op_write4k) ;; *) $fn >/dev/null 2>&1 || true ;; esac
        else
          mount_union "$kind" "$set"
          drop_caches
        fi
        t0=$(now)
        $fn >/dev/null 2>&1 || true
      fi
      t1=$(now)
      unmount
      echo "$set $name $temp $kind $(echo "$t1 - $t0" | bc)" >>"$results"
    done; done
  done
done
python3 - "$results" "${kinds[@]}" <<'PY'
import sys, collections, statistics
runs = collections.OrderedDict()
for line in open(sys.argv[1]):
    s, name, temp, kind, t = line.split()
    runs.setdefault((s, name, temp), {}).setdefault(kind, []).append(float(t))
rows = {key: {k: statistics.median(ts) for k, ts in r.items()} for key, r in runs.items()}
kinds = sys.argv[2:]
# Ratios of each strata mount to the peers present.
ratios = [(a, b) for a, b in [("strata", "fuse-overlayfs"), ("strata-dirs", "fuse-overlayfs"),
                              ("strata", "kernel"), ("strata-pt", "kernel"),
                              ("strata-uring", "kernel"), ("strata-uring", "strata"),
                              ("strata-kernel", "kernel")] if a in kinds and b in kinds]
print(f"{'data':4} {'operation':18} {'cache':5} " + " ".join(f"{k:>14}" for k in kinds)
      + "".join(f"  {a + '/' + b:>20}" for a, b in ratios))
for (s, name, temp), r in rows.items():
    cells = " ".join(f"{r[k]:14.3f}" for k in kinds)
    print(f"{s:4} {name:18} {temp:5} {cells}" + "".join(f"  {r[a] / r[b]:20.2f}" for a, b in ratios))
PY
