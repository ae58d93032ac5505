#!/usr/bin/env bash
# Docker reads what strata saves (issue 18's Docker part): a real dockerd
# (Debian's docker.io 20.10, its own data root, exec root, socket and
# containerd, no network) loads a `strata save` tar, which carries Docker's
# manifest.json and repositories beside the OCI layout over the same blobs,
# and runs it; OCI tools still read the same tar.
source "$(dirname "$0")/lib.sh"
DOCKER=/usr/bin/docker  # Debian's client (a newer one elsewhere on PATH would do too)
for tool in dockerd containerd runc skopeo "$DOCKER"; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed"; exit 1; }
done
S() { "$STRATA" "$@"; }
D=$WORK/docker
mkdir -p "$D/data" "$D/exec"
echo '{}' >"$D/daemon.json"
dockerd --config-file "$D/daemon.json" --data-root "$D/data" --exec-root "$D/exec" -H "unix://$D/sock" \
  --pidfile "$D/pid" --iptables=false --ip6tables=false --bridge=none --storage-driver vfs \
  --exec-opt native.cgroupdriver=cgroupfs >"$D/log" 2>&1 &
dockerd_pid=$!
PLUGIN=strata-e2e-$$  # Docker finds plugins in /run/docker/plugins only: a name of this run's
PLUGIN_SOCK=/run/docker/plugins/$PLUGIN.sock
plugin_pid=
fakes=()
stop_docker() {
  for f in "${fakes[@]}"; do kill "$f" 2>/dev/null; done
  rm -f /run/docker/plugins/"$PLUGIN"-*.sock
  docker_ rm -f vc >/dev/null 2>&1
  kill "$dockerd_pid" 2>/dev/null && wait "$dockerd_pid" 2>/dev/null
  [ -z "$plugin_pid" ] || { kill "$plugin_pid" 2>/dev/null; wait "$plugin_pid" 2>/dev/null; }
  rm -f "$PLUGIN_SOCK"
  grep -o " $D[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$WORK"
}
trap stop_docker EXIT
docker_() { "$DOCKER" -H "unix://$D/sock" "$@"; }
for _ in $(seq 100); do docker_ version >/dev/null 2>&1 && break; sleep 0.2; done
expect_ok "dockerd is up" docker_ version

busybox_rootfs "$WORK/rootfs"
echo "root:x:0:0:root:/root:/bin/sh" >"$WORK/rootfs/etc/passwd"
tar -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
S import -q "$WORK/rootfs.tar" bb:1 >/dev/null
mkdir -p "$WORK/ctx" && head -c 100000 /dev/urandom >"$WORK/ctx/payload"
printf 'FROM bb:1\nCOPY payload /srv/payload\nENV GREETING=hello\nCMD ["sh", "-c", "echo $GREETING"]\n' \
  >"$WORK/ctx/Dockerfile"
S build -q -t app:1 "$WORK/ctx" >/dev/null

for compression in gzip zstd none; do
  [ "$compression" = zstd ] && continue  # Docker 20.10 reads gzip and plain layers, not zstd
  expect_ok "save ($compression)" S save app:1 -o "$WORK/app-$compression.tar" --compression $compression
  expect_ok "docker load ($compression)" docker_ load -i "$WORK/app-$compression.tar"
  expect_eq "docker names it" "$(grep -c '^Loaded image: app:1$' "$WORK/out")" 1
  expect_eq "docker runs it: its CMD and ENV" "$(docker_ run --rm --network none app:1)" "hello"
  expect_eq "the copied file, byte for byte" "$(docker_ run --rm --network none app:1 sha256sum /srv/payload | cut -d' ' -f1)" \
    "$(sha256sum "$WORK/ctx/payload" | cut -d' ' -f1)"
  docker_ rmi app:1 >/dev/null
done

# One set of blobs, two views: every path manifest.json names is a blob of the OCI layout.
mkdir -p "$WORK/x" && tar -C "$WORK/x" -xf "$WORK/app-gzip.tar"
cat >"$WORK/views.py" <<'PY'
import json, os, sys
d = sys.argv[1]
blob = lambda digest: "blobs/sha256/" + digest.split(":")[1]
index = json.load(open(os.path.join(d, "index.json")))
oci = json.load(open(os.path.join(d, blob(index["manifests"][0]["digest"]))))
docker = json.load(open(os.path.join(d, "manifest.json")))[0]
same = docker["Config"] == blob(oci["config"]["digest"]) and docker["Layers"] == [blob(l["digest"]) for l in oci["layers"]]
print(same and all(os.path.isfile(os.path.join(d, p)) for p in [docker["Config"]] + docker["Layers"]))
PY
expect_eq "manifest.json names the OCI manifest's own blobs" "$(python3 "$WORK/views.py" "$WORK/x")" True
expect_eq "nothing else stored: the layout's files and Docker's two" \
  "$(find "$WORK/x" -type f ! -path "$WORK/x/blobs/*" -printf '%f\n' | sort | tr '\n' ' ')" "index.json manifest.json oci-layout repositories "
expect_eq "each blob once: the manifest, the config, the two layers" "$(find "$WORK/x/blobs" -type f | wc -l)" 4
expect_eq "repositories names the top layer" "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(list(r), list(r["app"]))' "$WORK/x/repositories")" "['app'] ['1']"
expect_eq "the index names it for containerd too" \
  "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["annotations"]["io.containerd.image.name"])' "$WORK/x/index.json")" \
  "docker.io/library/app:1"
expect_ok "skopeo still reads it as an OCI archive" skopeo inspect "oci-archive:$WORK/app-gzip.tar"
expect_ok "and as a docker archive" skopeo inspect "docker-archive:$WORK/app-gzip.tar"
S rmi app:1 >/dev/null
expect_ok "strata loads its own save" S load -q -i "$WORK/app-gzip.tar"

# Docker's save of what it loaded comes back into strata (a docker-archive).
docker_ load -i "$WORK/app-gzip.tar" >/dev/null
docker_ save app:1 -o "$WORK/from-docker.tar"
S rmi app:1 >/dev/null
expect_ok "strata loads docker's save" S load -i "$WORK/from-docker.tar"
mkdir -p "$WORK/mnt"
S mount app:1 "$WORK/mnt" && {
  expect_eq "with the same file" "$(sha256sum <"$WORK/mnt/srv/payload")" "$(sha256sum <"$WORK/ctx/payload")"
  S umount "$WORK/mnt"
}
# --- strata's volumes as Docker's volume plugin -------------------------------------
mkdir -p /run/docker/plugins
"$STRATA" volume-plugin --socket "$PLUGIN_SOCK" >>"$D/plugin.log" 2>&1 &
plugin_pid=$!
for _ in $(seq 50); do [ -S "$PLUGIN_SOCK" ] && break; sleep 0.1; done
expect_eq "the plugin's socket is root's alone" "$(stat -c %a "$PLUGIN_SOCK")" 700
expect_eq "docker volume create -d" "$(docker_ volume create -d "$PLUGIN" shared)" "shared"
expect_eq "a strata volume" "$(S volume ls --format '{{.Name}} {{.Driver}}')" "shared local"
expect_eq "docker lists it under the plugin" "$(docker_ volume ls --format '{{.Driver}} {{.Name}}')" "$PLUGIN shared"
docker_ run --rm --network none -v shared:/data app:1 sh -c 'echo from docker >/data/note'
expect_eq "docker's container wrote into strata's volume" "$(S run --rm -v shared:/data bb:1 cat /data/note)" "from docker"
docker_ run -d --name vc --network none -v shared:/data app:1 sleep 1000 >/dev/null
expect_eq "in use by docker's container" "$(S volume inspect shared --format '{{json .UsedBy}}' | grep -c '"docker:')" 1
expect_error "strata will not remove it meanwhile" "in use by container docker:" S volume rm shared
expect_ok "strata's fsck knows docker's users are not its own" S fsck
docker_ rm -f vc >/dev/null
expect_eq "released when docker's container goes" "$(S volume inspect shared --format '{{json .UsedBy}}')" "[]"
before=$(S volume ls --json)
expect_eq "malformed JSON: refused with Docker's error shape" \
  "$(curl -s -w ' %{http_code}' --unix-socket "$PLUGIN_SOCK" -X POST -d '{"Name": 3' http://plugin/VolumeDriver.Create)" \
  '{"Err":"the request body is not a JSON object"} 400'
expect_eq "a request without a name" \
  "$(curl -s -w ' %{http_code}' --unix-socket "$PLUGIN_SOCK" -X POST -d '{"Name": 3}' http://plugin/VolumeDriver.Remove)" \
  '{"Err":"the request has no string Name"} 400'
expect_eq "a bad volume name" "$(curl -s --unix-socket "$PLUGIN_SOCK" -X POST -d '{"Name": "../etc"}' http://plugin/VolumeDriver.Create | grep -c 'volume name')" 1
expect_eq "volumes unchanged" "$(S volume ls --json)" "$before"
expect_ok "docker volume rm" docker_ volume rm shared
expect_eq "gone from strata too" "$(S volume ls -q)" ""

# --- strata as a client of Docker volume plugins (here: another store's strata volume-plugin) ---
C() { STRATA_ROOT=$WORK/client "$STRATA" "$@"; }
C import -q "$WORK/rootfs.tar" bb:1 >/dev/null
expect_eq "volume create -d PLUGIN" "$(C volume create -d "$PLUGIN" remote1)" "remote1"
expect_eq "the client's record names the plugin" "$(C volume ls --format '{{.Name}} {{.Driver}}')" "remote1 $PLUGIN"
expect_eq "the data lives with the plugin" "$(S volume ls -q)" "remote1"
expect_eq "run --volume-driver makes the volume with the plugin" \
  "$(C run --rm --volume-driver "$PLUGIN" -v remote2:/data bb:1 sh -c 'echo via plugin >/data/f; cat /data/f')" "via plugin"
expect_eq "and the plugin's store has the file" "$(cat "$(S volume inspect remote2 --format '{{.Mountpoint}}')/f")" "via plugin"
expect_eq "unmounted after the run" "$(S volume inspect remote2 --format '{{json .UsedBy}}')" "[]"
expect_ok "volume rm through the plugin" C volume rm remote1
expect_eq "removed at the plugin" "$(S volume ls -q)" "remote2"
expect_error "an unknown driver" "no such volume driver: nosuch (not built in, and no Docker volume plugin" \
  C volume create -d nosuch v1
# Plugins that misbehave: clear errors, nothing left behind.
for mode in notvolume garbage relative refuses; do
  python3 "$(dirname "$0")/fake_volume_plugin.py" "/run/docker/plugins/$PLUGIN-$mode.sock" $mode &
  fakes+=($!)
done
for _ in $(seq 50); do [ -S "/run/docker/plugins/$PLUGIN-refuses.sock" ] && break; sleep 0.1; done
sleep 0.3
before=$(C volume ls --json; C ps -a --json)
expect_error "a plugin that is no volume driver" "plugin $PLUGIN-notvolume is not a volume driver" \
  C volume create -d "$PLUGIN-notvolume" v1
expect_error "a plugin that answers garbage" "VolumeDriver.Create: malformed answer (not a JSON object)" \
  C volume create -d "$PLUGIN-garbage" v1
expect_error "a plugin's own error, named" "volume plugin $PLUGIN-refuses: quota exceeded" \
  C volume create -d "$PLUGIN-refuses" v1
expect_error "a mountpoint that is not absolute" "Mountpoint '../../etc' is not an absolute path" \
  C run --rm --volume-driver "$PLUGIN-relative" -v v2:/data bb:1 true
C volume rm v2 >/dev/null 2>&1  # made before the mount failed, as docker would have it
expect_eq "no volume or container left behind" "$(C volume ls --json; C ps -a --json)" "$before"
finish
