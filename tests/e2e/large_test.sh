#!/usr/bin/env bash
# A store layer of 100,000 files in 1,000 directories imports, mounts and
# lists right (bench/union_bench.sh times it; this only checks it).
source "$(dirname "$0")/lib.sh"
[ -c /dev/fuse ] || { echo "FAIL: /dev/fuse is missing"; exit 1; }
mnt=$WORK/mnt
mkdir -p "$mnt"
trap 'umount "$mnt" 2>/dev/null; rm -rf "$WORK"' EXIT

python3 - "$WORK/big.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    for d in range(1000):
        info = tarfile.TarInfo(f"dir{d:04}")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        t.addfile(info)
        for f in range(100):
            data = f"content {f}\n".encode()  # 100 distinct contents: dedup keeps the store small
            info = tarfile.TarInfo(f"dir{d:04}/file{f:03}")
            info.size, info.mode, info.mtime = len(data), 0o644, 1700000000 + f
            t.addfile(info, io.BytesIO(data))
PY
expect_ok "import 100,000 files" "$STRATA" import "$WORK/big.tar" big:1
expect_eq "blobs deduplicated" "$(find "$STRATA_ROOT/blobs" -type f | wc -l)" 100
expect_ok "mount" "$STRATA" mount big:1 "$mnt"
expect_eq "every file listed" "$(find "$mnt" -type f | wc -l)" 100000
expect_eq "every directory listed" "$(find "$mnt" -mindepth 1 -type d | wc -l)" 1000
expect_eq "a directory's entries in order" "$(ls "$mnt/dir0500" | head -3 | tr '\n' ' ')" "file000 file001 file002 "
expect_eq "content" "$(cat "$mnt/dir0999/file042")" "content 42"
expect_eq "mtime" "$(stat -c %Y "$mnt/dir0123/file007")" 1700000007
expect_eq "distinct inodes for equal content" \
  "$(stat -c %i "$mnt/dir0001/file005" "$mnt/dir0002/file005" | sort -u | wc -l)" 2
expect_ok "umount" "$STRATA" umount "$mnt"

# Writable over the same layer: rm -rf of half the tree (many readdirs,
# releasedirs and forgets racing across worker threads) leaves whiteouts.
mkdir -p "$WORK/upper" "$WORK/work"
"$(dirname "$STRATA")/strata-fuse" --image big:1 --upper "$WORK/upper" --work "$WORK/work" "$mnt"
rm -rf "$mnt"/dir0[0-4]*
expect_eq "rm -rf of 500 directories" "$(ls "$mnt" | wc -l)" 500
expect_eq "the rest intact" "$(find "$mnt" -type f | wc -l)" 50000
expect_eq "whiteouts in the upper" "$(find "$WORK/upper" -maxdepth 1 -type c | wc -l)" 500
umount "$mnt"
finish
