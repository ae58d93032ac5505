#!/usr/bin/env bash
# Differential test: the same random operations (tests/e2e/union_fuzz.py) on a
# strata-fuse union (its lower a plain directory, or a store image imported
# from a tar of it) and on kernel overlayfs over the same lower directory must
# give the same result for every operation and leave the same tree; the tree
# must read back the same after a remount, and kernel overlayfs must mount
# strata's upper directory and show that tree too. Three fuzzers at once on
# one mount must leave the mount, a remount and kernel overlayfs agreeing.
#
# STRATA_FUSE_EXTRA: more strata-fuse arguments for every mount (see lib.sh).
source "$(dirname "$0")/lib.sh"
[ -c /dev/fuse ] || { echo "FAIL: /dev/fuse is missing"; exit 1; }
FUZZ=$(dirname "$0")/union_fuzz.py
mnt=$WORK/mnt ref=$WORK/ref
mkdir -p "$mnt" "$ref"
trap 'for m in "$mnt" "$ref"; do umount "$m" 2>/dev/null; done; rm -rf "$WORK"' EXIT

lower=$WORK/lower
mkdir -p "$lower"/{d1/s,d2/s,d3}
for f in a b d1/a d1/s/b d2/c d3/d; do echo "lower $f" >"$lower/$f"; done
ln "$lower/a" "$lower/d2/a"
ln -s a "$lower/d1/c"
setfattr -n user.x -v lx "$lower/d1/a"

# Everything a caller can see: entries (a directory's link count aside: see
# docs/ARCHITECTURE.md), contents, user xattrs.
tree() {
  (cd "$1" && find . -mindepth 1 \( -type d -printf '%p d %m\n' \) -o \( -printf '%p %y %m %s %n %l\n' \) | sort &&
    find . -type f -exec md5sum {} + | sort &&
    find . -mindepth 1 | sort | while read -r f; do
      getfattr -h -d -m user. "$f" 2>/dev/null | grep = | sed "s|^|$f |"
    done)
}

# run SEED STRATA-FUSE-ARGS...: one seed on strata (mounted with the given
# lower) and on kernel overlayfs over $lower, compared.
run() {
  local seed=$1 u=$WORK/u$1 w=$WORK/w$1 ku=$WORK/ku$1 kw=$WORK/kw$1
  shift
  mkdir -p "$u" "$w" "$ku" "$kw"
  strata_fuse "$@" --upper "$u" --work "$w" "$mnt"
  mount -t overlay overlay -o "lowerdir=$lower,upperdir=$ku,workdir=$kw,redirect_dir=on" "$ref"
  python3 "$FUZZ" "$mnt" "$seed" 2000 >"$WORK/strata.log"
  python3 "$FUZZ" "$ref" "$seed" 2000 >"$WORK/kernel.log"
  expect_eq "seed $seed: every operation as on overlayfs" \
    "$(diff "$WORK/strata.log" "$WORK/kernel.log" | head -5)" ""
  expect_eq "seed $seed: operations ran" "$(wc -l <"$WORK/strata.log")" 2000
  expect_eq "seed $seed: tree as on overlayfs" "$(diff <(tree "$mnt") <(tree "$ref") | head -5)" ""
  tree "$ref" >"$WORK/want"
  expect_eq "seed $seed: a tree worth comparing" "$(($(wc -l <"$WORK/want") > 10))" 1
  fusermount3 -u "$mnt"
  umount "$ref"

  strata_fuse "$@" --upper "$u" --work "$w" "$mnt"
  expect_eq "seed $seed: the same tree after a remount" "$(diff <(tree "$mnt") "$WORK/want" | head -5)" ""
  fusermount3 -u "$mnt"
  expect_eq "seed $seed: work directory left empty" "$(ls -A "$w/")" ""
  mount -t overlay overlay -o "lowerdir=$lower,upperdir=$u,workdir=$w,redirect_dir=on" "$ref"
  expect_eq "seed $seed: kernel overlayfs reads strata's upper" "$(diff <(tree "$ref") "$WORK/want" | head -5)" ""
  umount "$ref"
}

# The lower as a plain directory (fuse-overlayfs's command line), then as a
# store image imported from a tar of it.
for seed in 1 2 3; do run "$seed" -o "lowerdir=$lower"; done
tar --xattrs --numeric-owner -C "$lower" -cf "$WORK/lower.tar" .
"$STRATA" import "$WORK/lower.tar" fuzz:1 >/dev/null
for seed in 4 5; do run "$seed" --image fuzz:1; done

# Three fuzzers at once on one mount: no reference says what the result should
# be, but what the mount shows must be what its upper directory holds.
mkdir -p "$WORK"/{uc,wc}
strata_fuse -o "lowerdir=$lower,upperdir=$WORK/uc,workdir=$WORK/wc" "$mnt"
for seed in 11 12 13; do python3 "$FUZZ" "$mnt" "$seed" 1500 >/dev/null & done
wait
tree "$mnt" >"$WORK/live"
fusermount3 -u "$mnt"
strata_fuse -o "lowerdir=$lower,upperdir=$WORK/uc,workdir=$WORK/wc" "$mnt"
expect_eq "concurrent: the same tree after a remount" "$(diff <(tree "$mnt") "$WORK/live" | head -5)" ""
fusermount3 -u "$mnt"
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$WORK/uc,workdir=$WORK/wc,redirect_dir=on" "$ref"
expect_eq "concurrent: kernel overlayfs reads the same tree" "$(diff <(tree "$ref") "$WORK/live" | head -5)" ""
umount "$ref"
finish
