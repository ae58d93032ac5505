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
expect_eq "its config" "$(S image inspect --json made | python3 -c 'import json,sys; c=json.load(sys.stdin)[0]["Config"]; print(c["Env"], c["Cmd"])')" \
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
expect_eq "named by RepoTags" "$(S image ls --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["RepoTags"])')" "['app:2']"  # the short form docker shows
S mount docker.io/library/app:2 "$WORK/mnt" && tree "$WORK/mnt" >"$WORK/docker.tree"; S umount "$WORK/mnt"
expect_eq "the docker-archive's tree" "$(cat "$WORK/docker.tree")" "$(cat "$WORK/app.tree")"

# --- platforms: save writes the image's own, load picks one from a multi-platform index ---
host_arch=$(case "$(uname -m)" in x86_64) echo amd64 ;; aarch64) echo arm64 ;; *) uname -m ;; esac)
other_arch=$([ "$host_arch" = arm64 ] && echo amd64 || echo arm64)
config_of() { # the config of the first image in a layout directory, as "os/arch"
  python3 - "$1" <<'PY'
import json, sys
d = sys.argv[1]; i = json.load(open(d + "/index.json"))
m = json.load(open(d + "/blobs/sha256/" + i["manifests"][0]["digest"][7:]))
c = json.load(open(d + "/blobs/sha256/" + m["config"]["digest"][7:]))
print(c["os"] + "/" + c["architecture"], i["manifests"][0]["platform"]["architecture"])
PY
}
expect_eq "save writes the host's platform, in the config and the index" "$(config_of "$WORK/layout")" "linux/$host_arch $host_arch"
# One name, two platforms: a nested index over the host's image and an
# $other_arch twin (the same layers, its config saying so).
rm -rf "$WORK/multi" && cp -a "$WORK/layout" "$WORK/multi"
python3 - "$WORK/multi" "$other_arch" <<'PY'
import hashlib, json, sys
d, other = sys.argv[1], sys.argv[2]
def put(obj):
    b = json.dumps(obj).encode(); h = hashlib.sha256(b).hexdigest()
    open(d + "/blobs/sha256/" + h, "wb").write(b); return "sha256:" + h, len(b)
i = json.load(open(d + "/index.json")); host = i["manifests"][0]
m = json.load(open(d + "/blobs/sha256/" + host["digest"][7:]))
c = json.load(open(d + "/blobs/sha256/" + m["config"]["digest"][7:]))
c["architecture"] = other; c["config"]["Labels"] = {"arch": other}
m["config"]["digest"], m["config"]["size"] = put(c)
md, ms = put(m)
twin = {"mediaType": m["mediaType"], "digest": md, "size": ms, "platform": {"os": "linux", "architecture": other}}
attestation = dict(twin, platform={"os": "unknown", "architecture": "unknown"})
hostd = {k: host[k] for k in ("mediaType", "digest", "size", "platform")}
nd, ns = put({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
              "manifests": [twin, attestation, hostd]})
i["manifests"] = [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": nd, "size": ns,
                   "annotations": host["annotations"]}]
json.dump(i, open(d + "/index.json", "w"))
PY
tar -C "$WORK/multi" -cf "$WORK/multi.tar" .
arch_of() { S image inspect --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Architecture"])'; }
export STRATA_ROOT=$WORK/store5
expect_ok "load a multi-platform index" S load -i "$WORK/multi.tar"
expect_eq "it loads the host's platform" "$(arch_of app:1)" "$host_arch"
export STRATA_ROOT=$WORK/store6
expect_ok "load --platform linux/$other_arch" S load --platform "linux/$other_arch" -i "$WORK/multi.tar"
expect_eq "it loads the one asked for" "$(arch_of app:1)" "$other_arch"
expect_error "run refuses an image of another architecture" "image app:1 is made for linux/$other_arch and this machine is linux/$host_arch" S run app:1 /bin/true
expect_ok "save the $other_arch image" S save app:1 -o "$WORK/other.tar"
mkdir -p "$WORK/layout-other" && tar -C "$WORK/layout-other" -xf "$WORK/other.tar"
expect_eq "save writes its own platform back" "$(config_of "$WORK/layout-other")" "linux/$other_arch $other_arch"
export STRATA_ROOT=$WORK/store7
expect_error "a platform the archive lacks" "has no image for linux/s390x (it has linux/$other_arch, linux/$host_arch)" S load --platform linux/s390x -i "$WORK/multi.tar"
expect_error "--platform and a layout of another" "has no image for linux/$other_arch (it has linux/$host_arch)" S load --platform "linux/$other_arch" -i "$WORK/app.tar"
expect_error "--platform and a docker archive of another" "is for linux/$host_arch, not linux/$other_arch" S load --platform "linux/$other_arch" -i "$WORK/docker.tar"
expect_error "a bad --platform" "bad platform" S load --platform "linux/../x" -i "$WORK/app.tar"
expect_eq "refused loads wrote no image" "$(S image ls -q | wc -l)" 0

# --- media types: a type that lies about the compression is refused; the truth is kept ---
export STRATA_ROOT=$WORK/store8
S image ls -q >/dev/null && before=$(store_state)
rm -rf "$WORK/lie" && cp -a "$WORK/layout" "$WORK/lie"
python3 - "$WORK/lie" <<'PY'
import hashlib, json, sys
d = sys.argv[1]
i = json.load(open(d + "/index.json")); desc = i["manifests"][0]
m = json.load(open(d + "/blobs/sha256/" + desc["digest"][7:]))
m["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar"  # the blob is gzip
b = json.dumps(m).encode(); h = hashlib.sha256(b).hexdigest()
open(d + "/blobs/sha256/" + h, "wb").write(b)
desc["digest"], desc["size"] = "sha256:" + h, len(b)
json.dump(i, open(d + "/index.json", "w"))
PY
tar -C "$WORK/lie" -cf "$WORK/lie.tar" .
expect_error "a gzip layer typed as plain tar" "is gzip but its media type application/vnd.oci.image.layer.v1.tar says uncompressed" S load -i "$WORK/lie.tar"
expect_eq "nothing of it stored" "$(store_state)" "$before"
# docker save archives name no compression: a gzip layer in one is recorded as gzip.
rm -rf "$WORK/dgz" && mkdir -p "$WORK/dgz" && tar -C "$WORK/dgz" -xf "$WORK/docker.tar"
python3 - "$WORK/dgz" <<'PY'
import gzip, json, os, sys
d = sys.argv[1]; m = json.load(open(d + "/manifest.json"))
first = m[0]["Layers"][0]
open(d + "/" + first + ".gz", "wb").write(gzip.compress(open(d + "/" + first, "rb").read()))
os.unlink(d + "/" + first)
m[0]["Layers"][0] = first + ".gz"
json.dump(m, open(d + "/manifest.json", "w"))
PY
tar -C "$WORK/dgz" -cf "$WORK/dgz.tar" .
expect_ok "load a docker archive with a gzip layer" S load -i "$WORK/dgz.tar"
expect_ok "save it" S save app:2 -o "$WORK/dgz-saved.tar" --compression none
mkdir -p "$WORK/dgz-layout" && tar -C "$WORK/dgz-layout" -xf "$WORK/dgz-saved.tar"
expect_eq "its first layer is saved as the gzip it is" "$(python3 - "$WORK/dgz-layout" <<'PY'
import json, sys
d = sys.argv[1]; i = json.load(open(d + "/index.json"))
m = json.load(open(d + "/blobs/sha256/" + i["manifests"][0]["digest"][7:]))
l = m["layers"][0]
print(l["mediaType"], open(d + "/blobs/sha256/" + l["digest"][7:], "rb").read(2).hex())
PY
)" "application/vnd.oci.image.layer.v1.tar+gzip 1f8b"
export STRATA_ROOT=$WORK/store4

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
