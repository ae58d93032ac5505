#!/bin/bash
# strata save / load against independent tools from Debian: umoci unpacks
# what strata saves; strata loads what umoci makes and what skopeo writes as
# a docker-archive; DiffIDs survive a load and save; bad archives change nothing.
source "$(dirname "$0")/lib.sh"
for tool in umoci skopeo; do command -v $tool >/dev/null || { echo "FAIL: $tool is not installed"; exit 1; }; done
S() { "$STRATA" "$@"; }
diff_ids() { # the DiffIDs in a saved layout tar
  local d=$WORK/ids.$RANDOM
  mkdir -p "$d" && tar -C "$d" -xf "$1"
  python3 - "$d" <<'PY'
import json, sys
d = sys.argv[1]
index = json.load(open(d + "/index.json"))
m = json.load(open(d + "/blobs/sha256/" + index["manifests"][0]["digest"][7:]))
c = json.load(open(d + "/blobs/sha256/" + m["config"]["digest"][7:]))
print(" ".join(c["rootfs"]["diff_ids"]))
PY
}
# path, type, mode, owner and content of every entry under a directory
tree() { (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | while read -r p; do
  if [ -L "$p" ]; then s=$(readlink "$p"); elif [ -f "$p" ]; then s=$(md5sum <"$p" | cut -c1-32); else s=-; fi
  echo "$p $(stat -c '%F %a %u:%g' "$p") $s"; done); }

# An image of two layers: a small tree, and a change on top (with a whiteout).
mkdir -p "$WORK/l1/etc" "$WORK/l1/bin" "$WORK/l2/etc" "$WORK/l2/opt/app"
echo "root:x:0:0:root:/root:/bin/sh" >"$WORK/l1/etc/passwd"
echo "gone soon" >"$WORK/l1/etc/motd"
cp /bin/busybox "$WORK/l1/bin/busybox" && ln -s busybox "$WORK/l1/bin/sh"
echo "hello" >"$WORK/l2/opt/app/hello.txt" && chmod 0750 "$WORK/l2/opt/app/hello.txt"
chown 12:34 "$WORK/l2/opt/app/hello.txt"
touch "$WORK/l2/etc/.wh.motd"
tar --numeric-owner -C "$WORK/l1" -cf "$WORK/l1.tar" .
tar --numeric-owner -C "$WORK/l2" -cf "$WORK/l2.tar" .
expect_ok "import layer 1" S import "$WORK/l1.tar" base:1
expect_ok "import layer 2" S import "$WORK/l2.tar" app:1 --from base:1
mkdir -p "$WORK/mnt"
S mount app:1 "$WORK/mnt" && tree "$WORK/mnt" >"$WORK/app.tree"; S umount "$WORK/mnt"

# --- save, and umoci unpacks it to the same tree ---------------------------------------
expect_ok "save" S save app:1 -o "$WORK/app.tar"
mkdir -p "$WORK/layout" && tar -C "$WORK/layout" -xf "$WORK/app.tar"
expect_eq "oci-layout" "$(cat "$WORK/layout/oci-layout")" '{"imageLayoutVersion":"1.0.0"}'
expect_eq "ref name annotation" \
  "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"])' "$WORK/layout/index.json")" "app:1"
expect_ok "umoci unpack" umoci unpack --image "$WORK/layout:app:1" "$WORK/bundle"
expect_eq "umoci's tree is strata's" "$(tree "$WORK/bundle/rootfs")" "$(cat "$WORK/app.tree")"
expect_eq "saving twice gives the same bytes" "$(S save app:1 -o "$WORK/again.tar" && cmp -s "$WORK/app.tar" "$WORK/again.tar" && echo same)" same

# --- load into another store, save again: DiffIDs kept ----------------------------------
export STRATA_ROOT=$WORK/store2
expect_ok "load" S load -i "$WORK/app.tar"
expect_eq "load names the image" "$(cat "$WORK/out")" "Loaded image: app:1"
S mount app:1 "$WORK/mnt" && tree "$WORK/mnt" >"$WORK/loaded.tree"; S umount "$WORK/mnt"
expect_eq "the loaded image shows the same tree" "$(cat "$WORK/loaded.tree")" "$(cat "$WORK/app.tree")"
expect_ok "save the loaded image" S save app:1 -o "$WORK/resaved.tar" --compression zstd
expect_eq "DiffIDs survive load and save" "$(diff_ids "$WORK/resaved.tar")" "$(diff_ids "$WORK/app.tar")"
expect_ok "load a zstd layout" env STRATA_ROOT="$WORK/store3" "$STRATA" load -i "$WORK/resaved.tar"

# --- an image made with umoci loads and mounts right -----------------------------------
expect_ok "umoci init" umoci init --layout "$WORK/uo"
expect_ok "umoci new" umoci new --image "$WORK/uo:made"
expect_ok "umoci unpack (empty)" umoci unpack --image "$WORK/uo:made" "$WORK/ub"
mkdir -p "$WORK/ub/rootfs/srv" && echo "from umoci" >"$WORK/ub/rootfs/srv/data.txt"
ln -s data.txt "$WORK/ub/rootfs/srv/link"
expect_ok "umoci repack" umoci repack --image "$WORK/uo:made" "$WORK/ub"
expect_ok "umoci config" umoci config --image "$WORK/uo:made" --config.env=FROM=umoci --config.cmd=/bin/true
tar -C "$WORK/uo" -cf "$WORK/umoci.tar" .
expect_ok "load umoci's image" S load -i "$WORK/umoci.tar"
S mount made "$WORK/mnt"
expect_eq "its file" "$(cat "$WORK/mnt/srv/data.txt")" "from umoci"
expect_eq "its symlink" "$(readlink "$WORK/mnt/srv/link")" "data.txt"
S umount "$WORK/mnt"
expect_eq "its config" "$(S image inspect --json made | python3 -c 'import json,sys; c=json.load(sys.stdin)["config"]; print(c["Env"], c["Cmd"])')" \
  "['FROM=umoci'] ['/bin/true']"

expect_ok "save umoci's image again" S save made -o "$WORK/made.tar"
expect_eq "a foreign image keeps its DiffIDs" "$(diff_ids "$WORK/made.tar")" "$(diff_ids "$WORK/umoci.tar")"
mkdir -p "$WORK/layout-made" && tar -C "$WORK/layout-made" -xf "$WORK/made.tar"
expect_ok "umoci unpacks strata's save of it" umoci unpack --image "$WORK/layout-made:made:latest" "$WORK/ub3"
expect_eq "with the same file" "$(cat "$WORK/ub3/rootfs/srv/data.txt")" "from umoci"

# --- skopeo writes a docker-archive; strata loads it -------------------------------------
expect_ok "skopeo copy to docker-archive" skopeo copy --quiet "oci:$WORK/layout:app:1" "docker-archive:$WORK/docker.tar:docker.io/library/app:2"
export STRATA_ROOT=$WORK/store4
expect_ok "load a docker-archive" S load -i "$WORK/docker.tar"
expect_eq "named by RepoTags" "$(S image ls --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["names"])')" "['app:2']"  # the short form docker shows
S mount docker.io/library/app:2 "$WORK/mnt" && tree "$WORK/mnt" >"$WORK/docker.tree"; S umount "$WORK/mnt"
expect_eq "the docker-archive's tree" "$(cat "$WORK/docker.tree")" "$(cat "$WORK/app.tree")"

# --- bad archives: one line, store unchanged ---------------------------------------------
before=$(store_state)
cp -a "$WORK/layout" "$WORK/bad"
blob=$(ls -S "$WORK/bad/blobs/sha256" | head -1)  # the biggest: a layer
python3 - "$WORK/bad/blobs/sha256/$blob" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 1; open(p, "wb").write(bytes(b))
PY
tar -C "$WORK/bad" -cf "$WORK/bad.tar" .
expect_error "a flipped byte in a layer blob" "does not match its digest" S load -i "$WORK/bad.tar"
printf 'not a tar at all' >"$WORK/garbage.tar"
expect_error "garbage" "garbage.tar" S load -i "$WORK/garbage.tar"
mkdir -p "$WORK/empty" && echo '{}' >"$WORK/empty/x.json" && tar -C "$WORK/empty" -cf "$WORK/empty.tar" .
expect_error "an archive of neither kind" "neither an OCI image layout nor a docker save archive" S load -i "$WORK/empty.tar"
expect_error "a missing file" "no such file" S load -i "$WORK/nope.tar"
# Hostile layouts: a symlink where index.json is (it would read a host file),
# a blob longer than its descriptor says.
rm -rf "$WORK/evil" && cp -a "$WORK/layout" "$WORK/evil" && rm "$WORK/evil/index.json"
ln -s /etc/shadow "$WORK/evil/index.json"
tar -C "$WORK/evil" -cf "$WORK/evil.tar" .
expect_error "a symlink in the archive" "index.json is a symlink: such an archive is refused" S load -i "$WORK/evil.tar"
rm -rf "$WORK/long" && cp -a "$WORK/layout" "$WORK/long"
config=$(python3 -c "import json,sys; m=json.load(open('$WORK/long/index.json'))['manifests'][0]['digest'][7:]; print(json.load(open('$WORK/long/blobs/sha256/'+m))['config']['digest'][7:])")
printf ' ' >>"$WORK/long/blobs/sha256/$config"
tar -C "$WORK/long" -cf "$WORK/long.tar" .
expect_error "a blob longer than its descriptor" "bytes where its descriptor says" S load -i "$WORK/long.tar"
rm -rf "$WORK/badname" && cp -a "$WORK/layout" "$WORK/badname"
python3 - "$WORK/badname/index.json" <<'PY'
import json, sys
p = sys.argv[1]; i = json.load(open(p))
for m in i["manifests"]: m.setdefault("annotations", {})["org.opencontainers.image.ref.name"] = "../Bad Name:1"
json.dump(i, open(p, "w"))
PY
tar -C "$WORK/badname" -cf "$WORK/badname.tar" .
expect_error "a bad reference name in the archive" "invalid image reference" S load -i "$WORK/badname.tar"
expect_eq "bad loads left the store unchanged" "$(store_state)" "$before"
expect_error "save of a missing image" "no such image" S save nope -o "$WORK/nope.tar"
expect_eq "no partial output" "$(ls "$WORK" | grep -c '^nope.tar')" 0
finish
