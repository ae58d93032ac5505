#!/bin/bash
# Housekeeping end to end: fsck finds a flipped byte and crash leftovers and
# repairs them; system df counts what sharing saves; system prune; the
# docker-named aliases (images, rmi).
source "$(dirname "$0")/lib.sh"
S() { "$STRATA" "$@"; }

mkdir -p "$WORK/l1/bin" "$WORK/l2/app" "$WORK/l3/app"
head -c 300000 /dev/urandom >"$WORK/l1/bin/tool"
echo "one" >"$WORK/l2/app/one.txt"
echo "two" >"$WORK/l3/app/two.txt"
cp "$WORK/l1/bin/tool" "$WORK/l3/app/tool-copy"  # the same bytes again: one blob
for l in l1 l2 l3; do tar --numeric-owner -C "$WORK/$l" -cf "$WORK/$l.tar" .; done
expect_ok "import base" S import "$WORK/l1.tar" base:1
expect_ok "import app1" S import "$WORK/l2.tar" app:1 --from base:1
expect_ok "import app2" S import "$WORK/l3.tar" app:2 --from base:1

# --- aliases and listings ---------------------------------------------------------------
expect_eq "images lists three" "$(S images -q | wc -l)" 3
expect_eq "images --json" "$(S images --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" 3

# --- system df: sharing counted ----------------------------------------------------------
df_json=$(S system df --json)
field() { echo "$df_json" | python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
expect_eq "df: three images" "$(field "['images']['count']")" 3
expect_eq "df: layers counted per image" "$(field "['logical_image_bytes']")" $((300000 * 3 + 300000 + 4 + 4))
expect_eq "df: shared layers and the duplicate file stored once" \
  "$(field "['stored_bytes']")" $((300000 + 4 + 4))
expect_ok "df table" S system df
expect_eq "df table shows the saving" "$(grep -c 'saved by shared layers' "$WORK/out")" 1

# --- fsck -------------------------------------------------------------------------------
expect_ok "fsck of a sound store" S fsck
expect_eq "fsck: no problem" "$(tail -n 1 "$WORK/out" | grep -c ': 0 problems$')" 1
blob=$(find "$STRATA_ROOT/blobs" -type f -size +100k | head -1)
chmod u+w "$blob"
python3 - "$blob" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[1000] ^= 0x20; open(p, "wb").write(bytes(b))
PY
mkdir -p "$STRATA_ROOT/layers/deadbeefdeadbeefdeadbeefdeadbeef"  # a crash leftover
S fsck >"$WORK/fsck.out" 2>&1
expect_eq "fsck fails on a flipped byte" "$?" 1
# A blob's file name is its digest in base64 (`_` for `/`); fsck names it in hex.
hex=$(python3 -c 'import base64, sys; print(base64.b64decode(sys.argv[1].replace("_", "/") + "==").hex())' "$(basename "$blob")")
expect_eq "fsck names the blob" "$(grep -c "problem: blob $hex: .*does not match" "$WORK/fsck.out")" 1
expect_eq "fsck names the images on it" "$(grep -c 'problem: image .*broken or missing' "$WORK/fsck.out")" 3
expect_eq "fsck finds the leftover" "$(grep -c 'problem: layers/deadbeef.*not in the catalog' "$WORK/fsck.out")" 1
expect_ok "fsck --repair" S fsck --repair
expect_eq "repair says what it removed" "$(grep -c '^repaired: removed image' "$WORK/out")" 3
expect_eq "repair removed the leftover" "$(test -e "$STRATA_ROOT/layers/deadbeefdeadbeefdeadbeefdeadbeef" && echo yes || echo no)" no
expect_ok "fsck after repair" S fsck
expect_eq "after repair: no problem" "$(tail -n 1 "$WORK/out" | grep -c ': 0 problems$')" 1
expect_eq "the broken images are gone" "$(S images -q | wc -l)" 0

# --- system prune --------------------------------------------------------------------------
expect_ok "import again" S import "$WORK/l1.tar" base:1
expect_ok "an unnamed image" S import "$WORK/l2.tar" --from base:1
expect_ok "a volume" S volume create unused
expect_ok "system prune" S system prune
expect_eq "prune removed the unnamed image" "$(S images -q | wc -l)" 1
expect_eq "prune kept the volume" "$(S volume ls -q)" unused
expect_ok "system prune --volumes" S system prune --volumes
expect_eq "and now the volume went" "$(S volume ls -q | wc -l)" 0
expect_ok "rmi" S rmi base:1
expect_eq "rmi removed it" "$(S images -q | wc -l)" 0
finish
