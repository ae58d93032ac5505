#!/usr/bin/env bash
# End-to-end test of the strata CLI on real tar streams made by GNU tar.
source "$(dirname "$0")/lib.sh"

src=$WORK/src
mkdir -p "$src/bin" "$src/etc" "$src/var/lib"
echo "root:x:0:0::/root:/bin/sh" >"$src/etc/passwd"
printf '#!/bin/sh\necho hi\n' >"$src/bin/hello" && chmod 755 "$src/bin/hello"
ln -s hello "$src/bin/hi"
ln "$src/etc/passwd" "$src/etc/passwd.hard"
mkfifo "$src/var/lib/fifo"
tar -C "$src" -cf "$WORK/base.tar" .
gzip -c "$WORK/base.tar" >"$WORK/base.tar.gz"
zstd -q -c "$WORK/base.tar" >"$WORK/base.tar.zst"

# version and info
expect_eq "--version" "$("$STRATA" --version | grep -cE '^strata version [0-9]+\.[0-9]+\.[0-9]+ \(git ([0-9a-f]{12}|unknown)\)$')" 1
expect_ok "version" "$STRATA" version
expect_eq "version: the FUSE daemon's and its library's" "$(grep -cE 'strata-fuse: version|FUSE library version' "$WORK/out")" 2
expect_eq "version: the kernel path, the FUSE modes" "$(grep -cE '^(Kernel path|FUSE passthrough|FUSE io_uring): ' "$WORK/out")" 3
expect_ok "info of an empty store" "$STRATA" info
expect_eq "info: root and counts" "$(grep -E '^(Root|Images|Containers):' "$WORK/out" | tr -s ' ')" "Root: $STRATA_ROOT
Images: 0
Containers: 0 (running 0)"
expect_eq "info: the driver \$STRATA_DRIVER names" "$(STRATA_DRIVER=fuse "$STRATA" info | grep -c '^Mount driver: *fuse (chosen by \$STRATA_DRIVER)')" 1

# import: the last line is the image id
out=$("$STRATA" import "$WORK/base.tar" base:1)
base_id=$(echo "$out" | tail -n1)
expect_eq "image id is 32 hex" "$(echo "$base_id" | grep -cE '^[0-9a-f]{32}$')" 1
base_layer=$("$STRATA" image inspect base:1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["GraphDriver"]["Data"]["Layers"][0])')
expect_eq "inspect names the image" "$("$STRATA" image inspect base:1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Id"])')" "$base_id"

# the same tar compressed, or from stdin, is the same layer
for f in base.tar.gz base.tar.zst; do
  id=$("$STRATA" import "$WORK/$f" | tail -n1)
  expect_eq "$f gives the same layer" "$("$STRATA" image inspect "$id" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["GraphDriver"]["Data"]["Layers"][0])')" "$base_layer"
done
id=$("$STRATA" import - <"$WORK/base.tar" | tail -n1)
expect_eq "stdin gives the same layer" "$("$STRATA" image inspect "$id" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["GraphDriver"]["Data"]["Layers"][0])')" "$base_layer"

# a second layer on top, with a whiteout
mkdir -p "$WORK/app/opt/app"
echo "print('app')" >"$WORK/app/opt/app/main.py"
touch "$WORK/app/etc/.wh.passwd" 2>/dev/null || { mkdir -p "$WORK/app/etc" && touch "$WORK/app/etc/.wh.passwd"; }
tar -C "$WORK/app" -cf "$WORK/app.tar" .
app_id=$("$STRATA" import "$WORK/app.tar" app:1 --from base:1 | tail -n1)
layers=$("$STRATA" image inspect app:1 --json | python3 -c 'import json,sys; l=json.load(sys.stdin)[0]["GraphDriver"]["Data"]["Layers"]; print(len(l), l[0])')
expect_eq "app has base's layer below its own" "$layers" "2 $base_layer"
expect_eq "whiteout listed" "$("$STRATA" layer inspect "$("$STRATA" image inspect app:1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["GraphDriver"]["Data"]["Layers"][1])')" --entries | grep -c '^w.* /etc/passwd$')" 1

# listings
expect_ok "image ls" "$STRATA" image ls
expect_eq "image ls shows both names" "$(grep -cE '^(base|app) ' "$WORK/out")" 2
expect_ok "layer ls --json" "$STRATA" layer ls --json
expect_eq "layer ls --json parses" "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/out")" 2
expect_ok "tag" "$STRATA" tag app:1 app:latest
expect_eq "tag resolves" "$("$STRATA" image inspect app --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Id"])')" "$app_id"

# export is reproducible and re-imports to the same layer
for c in none gzip zstd; do
  expect_ok "export $c" "$STRATA" layer export "$base_layer" -o "$WORK/e1.$c" --compress "$c"
  "$STRATA" layer export "$base_layer" -o "$WORK/e2.$c" --compress "$c"
  expect_eq "export $c is byte-identical" "$(cmp -s "$WORK/e1.$c" "$WORK/e2.$c" && echo same)" same
  id=$("$STRATA" import "$WORK/e1.$c" | tail -n1)
  expect_eq "export $c re-imports to the same layer" "$("$STRATA" image inspect "$id" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["GraphDriver"]["Data"]["Layers"][0])')" "$base_layer"
done
"$STRATA" layer export "$base_layer" -o - >"$WORK/stdout.tar"
expect_eq "export to stdout" "$(cmp -s "$WORK/stdout.tar" "$WORK/e1.none" && echo same)" same
expect_eq "GNU tar reads the export" "$(tar -tf "$WORK/e1.none" | grep -c 'etc/passwd')" 2

# errors: one line, non-zero, store unchanged
before=$(store_state)
printf 'not a tar at all, just text\n%.0s' {1..100} >"$WORK/garbage"
expect_error "garbage refused" "tar" "$STRATA" import "$WORK/garbage" bad
mkdir -p "$WORK/evil"
ln -s /etc "$WORK/evil/escape"
tar -C "$WORK/evil" -cf "$WORK/evil.tar" escape
mkdir -p "$WORK/evil2/escape" && echo pwned >"$WORK/evil2/escape/owned"
tar -C "$WORK/evil2" -rf "$WORK/evil.tar" escape/owned
expect_error "symlink escape refused" "symlink" "$STRATA" import "$WORK/evil.tar" bad
tar -C "$src" -cf - . | head -c 3000 >"$WORK/truncated.tar"
expect_error "truncated refused" "runcated" "$STRATA" import "$WORK/truncated.tar"
expect_error "missing file" "No such file" "$STRATA" import "$WORK/nope.tar"
expect_error "layer in use" "in use" "$STRATA" layer rm "$base_layer"
expect_error "unknown image" "no such image" "$STRATA" image inspect ghost
expect_error "bad reference" "invalid image reference" "$STRATA" tag app:1 "UPPER CASE"
expect_error "bad compression" "compress" "$STRATA" layer export "$base_layer" -o "$WORK/x" --compress lz4
expect_error "unknown verb" "" "$STRATA" frobnicate
expect_eq "store unchanged after errors" "$(store_state)" "$before"

# removal frees the top layer and keeps the shared base
expect_ok "image rm untags" "$STRATA" image rm app:latest
expect_eq "untag only" "$(grep -c '^Deleted' "$WORK/out")" 0
expect_ok "image rm deletes" "$STRATA" image rm app:1
expect_eq "top layer deleted" "$(grep -c '^Deleted: layer' "$WORK/out")" 1
expect_eq "base still there" "$("$STRATA" image inspect base:1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["GraphDriver"]["Data"]["Layers"][0])')" "$base_layer"

# volumes
expect_ok "volume create" "$STRATA" volume create data_volume --label team=db
expect_eq "volume create prints the name" "$(cat "$WORK/out")" "data_volume"
expect_eq "volume ls -q" "$("$STRATA" volume ls -q)" "data_volume"
expect_eq "volume inspect mountpoint" "$("$STRATA" volume inspect data_volume | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Mountpoint"])')" \
  "$STRATA_ROOT/volumes/data_volume/_data"
expect_error "bad volume name" "invalid volume name" "$STRATA" volume create "a b"
expect_error "unsupported driver option" "not supported" "$STRATA" volume create vol2 --opt type=nfs
expect_error "bad label" "KEY=VALUE" "$STRATA" volume create vol2 --label nolabel
expect_eq "nothing made by the errors" "$("$STRATA" volume ls -q | wc -l)" 1
expect_ok "volume prune keeps named volumes" "$STRATA" volume prune
expect_eq "still there" "$("$STRATA" volume ls -q)" "data_volume"
expect_ok "volume rm" "$STRATA" volume rm data_volume
expect_error "volume rm again" "no such volume" "$STRATA" volume rm data_volume

# --root and STRATA_ROOT
other=$WORK/other
"$STRATA" --root "$other" import "$WORK/base.tar" x >/dev/null
expect_eq "--root store is separate" "$(STRATA_ROOT=$other "$STRATA" image ls -q | wc -l)" 1
finish
