#!/usr/bin/env bash
# strata pull, push, login and logout against real registries, started here:
# Debian's docker-registry (the reference distribution registry) over plain
# HTTP, then over TLS (a CA made here, trusted through --cert-dir) with
# htpasswd Basic auth; and a registry of the test's own (fake_registry.py)
# for the bearer-token flow and the faults: a blob that does not match its
# digest, a 5 MiB manifest, a body shorter than its Content-Length, a
# connection dropped mid-blob (resumed with Range), an index, a redirect to
# blob storage. The real registry is also killed mid-pull (a proxy of the
# test's own, stall_proxy.py, holds the blob half sent), and the next pull, on
# a terminal, resumes with Range. The other side is always
# an independent client: skopeo puts the image in (podman made it; umoci
# added a layer with a whiteout), umoci unpacks what strata's files must
# match, skopeo inspects what strata pushed, podman pulls and runs it.
source "$(dirname "$0")/lib.sh"
for tool in docker-registry skopeo umoci podman openssl htpasswd; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed"; exit 1; }
done
S() { "$STRATA" "$@"; }
# libcurl is loaded by the first HTTP exchange, not with every command (the pulls below use it).
expect_eq "the CLI does not load libcurl at start" "$(ldd "$STRATA" | grep -c libcurl)" 0
export DOCKER_CONFIG=$WORK/docker
unset REGISTRY_AUTH_FILE XDG_RUNTIME_DIR  # (docker-registry would read REGISTRY_* as its config)
mkdir -p "$DOCKER_CONFIG" && echo '{"auths": {}}' >"$DOCKER_CONFIG/config.json"
podman_private vfs
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  umount "$WORK/mnt" 2>/dev/null
  podman_ system reset -f >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# start_registry NAME [YAML LINES]: docker-registry on a free port; sets $reg to host:port.
start_registry() {
  local name=$1 port
  port=$(free_port)
  mkdir -p "$WORK/$name"
  {
    echo "version: 0.1"
    echo "log: {level: error}"
    echo "storage: {filesystem: {rootdirectory: $WORK/$name/data}}"
    echo "http:"
    echo "  addr: 127.0.0.1:$port"
    printf '%s\n' "${@:2}"
  } >"$WORK/$name/config.yml"
  docker-registry serve "$WORK/$name/config.yml" >"$WORK/$name/log" 2>&1 &
  pids+=($!)
  reg=127.0.0.1:$port
  for _ in $(seq 50); do curl -sk "https://$reg/v2/" >/dev/null 2>&1 || curl -s "http://$reg/v2/" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "FAIL: docker-registry did not start: $(cat "$WORK/$name/log")"
  exit 1
}

# --- an image strata did not make: podman imports a busybox tree, umoci adds a layer ---
mkdir -p "$WORK/rootfs"/{bin,etc,tmp}
cp /bin/busybox "$WORK/rootfs/bin/busybox"
for a in sh cat echo ls; do ln -s busybox "$WORK/rootfs/bin/$a"; done
echo "from the base" >"$WORK/rootfs/etc/greeting"
echo "to be deleted" >"$WORK/rootfs/etc/doomed"
tar -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
expect_ok "podman import" podman_ import "$WORK/rootfs.tar" localhost/bb:1
expect_ok "skopeo to an OCI layout" skopeo copy -q containers-storage:localhost/bb:1 "oci:$WORK/oci:base"
(
  cd "$WORK" && umoci unpack --image oci:base bundle >/dev/null &&
    echo "from the top" >bundle/rootfs/etc/top && rm bundle/rootfs/etc/doomed &&
    umoci repack --image oci:two bundle >/dev/null && rm -rf bundle
) || fail "umoci: a second layer"
(cd "$WORK" && umoci unpack --image oci:two want >/dev/null) || fail "umoci unpack"

start_registry plain
plain=$reg
expect_ok "skopeo push" skopeo copy -q --dest-tls-verify=false "oci:$WORK/oci:two" "docker://$plain/team/bb:2"

# --- pull: the files are umoci's, the DiffIDs skopeo's ---
expect_ok "pull" S pull "$plain/team/bb:2"
grep -q "Pull complete" "$WORK/err" || fail "pull: no per-layer progress on stderr: $(cat "$WORK/err")"
expect_eq "pull: stdout has the result only" "$(grep -c 'Pull complete' "$WORK/out")" 0
expect_eq "pull -q" "$(S pull -q "$plain/team/bb:2")" "$plain/team/bb:2"
mkdir -p "$WORK/mnt"
expect_ok "mount the pulled image" S mount "$plain/team/bb:2" "$WORK/mnt"
diff -r --no-dereference "$WORK/want/rootfs" "$WORK/mnt" >"$WORK/diff" 2>&1 && ok ||
  fail "files differ from umoci's: $(head -5 "$WORK/diff")"
expect_eq "a whiteout hides the base's file" "$(test -e "$WORK/mnt/etc/doomed" && echo yes || echo no)" no
umount "$WORK/mnt"
digest=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$plain/team/bb:2")
S images --digests >"$WORK/images"
grep -q "$plain/team/bb .*2 .*$digest" "$WORK/images" && ok || fail "images --digests: $(cat "$WORK/images")"
expect_eq "pull by digest" "$(S pull -q "$plain/team/bb@$digest")" "$plain/team/bb@$digest"
expect_ok "skopeo: a second tag" skopeo copy -q --dest-tls-verify=false "oci:$WORK/oci:base" "docker://$plain/team/bb:1"
expect_eq "pull --all-tags" "$(S pull -q --all-tags "$plain/team/bb" | sort | tr '\n' ' ')" "$plain/team/bb:1 $plain/team/bb:2 "
expect_error "--all-tags with a tag" "without a tag or digest" S pull --all-tags "$plain/team/bb:2"
layers_before=$(S layer ls --json)
expect_ok "pull again" S pull "$plain/team/bb:2"
grep -q "Already exists" "$WORK/err" && ok || fail "second pull fetched again: $(cat "$WORK/err")"
expect_eq "no new layers" "$(S layer ls --json)" "$layers_before"

# --- push: skopeo inspects it, podman pulls and runs it; the same image twice, one digest ---
expect_ok "push" S push "$plain/team/bb:2" "$plain/mine/bb:1"
pushed=$(sed -n 's/^digest: //p' "$WORK/out")
grep -q "Mounted from another repository" "$WORK/err" && ok || fail "push: no cross-repository mount: $(cat "$WORK/err")"
expect_eq "push twice, one digest" "$(S push -q "$plain/team/bb:2" "$plain/mine/bb:1")" "$pushed"
expect_eq "skopeo sees the digest" "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$plain/mine/bb:1")" "$pushed"
expect_eq "DiffIDs survive the round trip" \
  "$(skopeo inspect --tls-verify=false --config "docker://$plain/mine/bb:1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rootfs"]["diff_ids"])')" \
  "$(skopeo inspect --tls-verify=false --config "docker://$plain/team/bb:2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rootfs"]["diff_ids"])')"
expect_ok "podman pull" podman_ pull -q --tls-verify=false "$plain/mine/bb:1"
expect_eq "podman run" "$(podman_ run --rm "$plain/mine/bb:1" /bin/cat /etc/top /etc/greeting 2>&1)" "from the top
from the base"
# A strata-made layer (no blob from a registry) pushed as zstd and as Docker schema 2.
mkdir -p "$WORK/ctx"
printf 'FROM %s\nCOPY note /note\n' "$plain/team/bb:2" >"$WORK/ctx/Dockerfile"
echo note >"$WORK/ctx/note"
expect_ok "build on the pulled image" S build -t built:1 "$WORK/ctx"
expect_ok "push zstd" S push --compression zstd built:1 "$plain/mine/built:zstd"
expect_ok "pull it back" S pull "$plain/mine/built:zstd"
expect_error "docker format needs gzip" "Docker schema 2 carries gzip layers only" \
  S push -q --format docker --compression zstd built:1 "$plain/mine/built:docker"
expect_ok "push --format docker" S push --format docker built:1 "$plain/mine/built:docker"
expect_eq "docker manifest type" \
  "$(skopeo inspect --tls-verify=false --raw "docker://$plain/mine/built:docker" | python3 -c 'import json,sys; print(json.load(sys.stdin)["mediaType"])')" \
  "application/vnd.docker.distribution.manifest.v2+json"

# --- the real registry killed mid-pull: the next pull resumes the blob with Range ---
# A proxy of the test's own holds the big layer's download at 8 MiB while the
# registry is killed, then drops the connection; the registry comes back on its port.
mkdir -p "$WORK/ctx-big"
head -c 32M /dev/urandom >"$WORK/ctx-big/big"
printf 'FROM %s\nCOPY big /big\n' "$plain/team/bb:2" >"$WORK/ctx-big/Dockerfile"
expect_ok "build a big layer" S build -t big:1 "$WORK/ctx-big"
expect_ok "push it" S push big:1 "$plain/big/img:1"
plain_pid=${pids[-1]}
python3 "$(dirname "$0")/stall_proxy.py" "${plain##*:}" "$WORK/proxy.port" $((8 << 20)) "$WORK/stalled" "$WORK/cut" \
  "$WORK/proxy.log" &
pids+=($!)
for _ in $(seq 50); do [ -f "$WORK/proxy.port" ] && break; sleep 0.1; done
proxy=127.0.0.1:$(cat "$WORK/proxy.port")
export STRATA_ROOT=$WORK/store-kill
S images >/dev/null
images_before=$(S image ls --json; S layer ls --json)
S pull "$proxy/big/img:1" >"$WORK/kill.out" 2>&1 &
pull_pid=$!
for _ in $(seq 300); do [ -f "$WORK/stalled" ] && break; sleep 0.1; done
expect_eq "the pull is held mid-blob" "$(test -f "$WORK/stalled" && echo yes)" yes
kill -9 "$plain_pid"
wait "$plain_pid" 2>/dev/null
touch "$WORK/cut"
if wait "$pull_pid"; then fail "a pull from a killed registry succeeded"; else ok; fi
grep -q "$proxy/big/img: " "$WORK/kill.out" && ok || fail "the error does not name the repository: $(cat "$WORK/kill.out")"
expect_eq "no image or layer from the failed pull" "$(S image ls --json; S layer ls --json)" "$images_before"
expect_eq "the cut blob is kept to resume" "$(find "$STRATA_ROOT/partial" -type f -size +4M | wc -l)" 1
docker-registry serve "$WORK/plain/config.yml" >>"$WORK/plain/log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -s "http://$plain/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
# On a terminal (script(1) gives it one), progress is drawn as docker draws it.
expect_ok "pull again after the registry is back" script -qefc "$STRATA pull $proxy/big/img:1" "$WORK/tty.out"
grep -q $'\033\\[3A' "$WORK/tty.out" && ok || fail "no lines redrawn in place: $(cat -v "$WORK/tty.out" | head -5)"
grep -qE 'Downloading \[=+>? *\] [0-9.]+ ?[kM]B/[0-9.]+ ?MB' "$WORK/tty.out" && ok ||
  fail "no progress bar: $(cat -v "$WORK/tty.out" | head -5)"
grep -qE 'Extracting \[=+>? *\] [0-9.]+ ?[kM]?B/[0-9.]+ ?MB' "$WORK/tty.out" && ok ||
  fail "no extraction progress: $(tr '\r' '\n' <"$WORK/tty.out" | cat -v | grep -a Extract | head -3)"
expect_eq "the last drawing: each layer pulled" \
  "$(tr '\r' '\n' <"$WORK/tty.out" | grep -a 'Pull complete' | tail -3 | sed 's/.*: //' | sort -u)" "Pull complete"
grep -qi '^range: bytes=[1-9][0-9]*-$' "$WORK/proxy.log" && ok || fail "no Range request: $(cat "$WORK/proxy.log")"
expect_eq "nothing left to resume" "$(find "$STRATA_ROOT/partial" -type f | wc -l)" 0
expect_ok "mount the resumed image" S mount "$proxy/big/img:1" "$WORK/mnt"
expect_eq "the big file is whole" "$(cmp "$WORK/mnt/big" "$WORK/ctx-big/big" && echo same)" same
umount "$WORK/mnt"
expect_ok "fsck after the resumed pull" S fsck
export STRATA_ROOT=$WORK/store

# --- TLS with a CA of our own, and Basic auth ---
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$WORK/srv.key" -out "$WORK/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$WORK/san.ext"
openssl x509 -req -in "$WORK/srv.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial -days 2 \
  -extfile "$WORK/san.ext" -out "$WORK/srv.crt" 2>/dev/null
htpasswd -Bbn alice s3cret >"$WORK/htpasswd" 2>/dev/null
start_registry tls "  tls: {certificate: $WORK/srv.crt, key: $WORK/srv.key}" \
  "auth:" "  htpasswd:" "    realm: test" "    path: $WORK/htpasswd"
tls=$reg
mkdir -p "$WORK/certs" && cp "$WORK/ca.crt" "$WORK/certs/ca.crt"
expect_ok "skopeo push over TLS" skopeo copy -q --dest-cert-dir "$WORK/certs" --dest-creds alice:s3cret \
  "oci:$WORK/oci:two" "docker://$tls/team/bb:2"
store_state >"$WORK/state0"
expect_error "an unknown CA is refused" "certificate" S pull "$tls/team/bb:2"
expect_error "no login" "$tls/team/bb.*asks for a login" S pull --cert-dir "$WORK/certs" "$tls/team/bb:2"
expect_error "a wrong password" "login refused" \
  S login --cert-dir "$WORK/certs" -u alice --password-stdin "$tls" <<<"wrong"
expect_eq "store unchanged by refusals" "$(store_state)" "$(cat "$WORK/state0")"
echo s3cret | S login --cert-dir "$WORK/certs" -u alice --password-stdin "$tls" >"$WORK/out" 2>&1 && ok ||
  fail "login: $(cat "$WORK/out")"
expect_eq "config.json is 0600" "$(stat -c %a "$DOCKER_CONFIG/config.json")" 600
expect_eq "config.json holds the login" \
  "$(python3 -c "import json,sys; print(json.load(open('$DOCKER_CONFIG/config.json'))['auths']['$tls']['auth'])")" \
  "$(printf alice:s3cret | base64)"
expect_ok "pull after login" S pull --cert-dir "$WORK/certs" "$tls/team/bb:2"
expect_ok "push after login" S push --cert-dir "$WORK/certs" "$tls/team/bb:2" "$tls/mine/bb:1"
expect_ok "skopeo reads strata's credentials" skopeo inspect --cert-dir "$WORK/certs" \
  --authfile "$DOCKER_CONFIG/config.json" "docker://$tls/mine/bb:1"
expect_ok "logout" S logout "$tls"
expect_error "logged out" "asks for a login" S pull --cert-dir "$WORK/certs" "$tls/team/bb:2"
expect_error "logout twice" "not logged in" S logout "$tls"

# --- bearer tokens and faults, from the test's own registry ---
python3 "$(dirname "$0")/fake_registry.py" "$WORK/oci" two "$WORK/fake.port" "$WORK/ranges" &
pids+=($!)
for _ in $(seq 50); do [ -f "$WORK/fake.port" ] && break; sleep 0.1; done
fake=127.0.0.1:$(cat "$WORK/fake.port")
export STRATA_ROOT=$WORK/store2  # a store that has none of the image's layers yet
expect_ok "pull with a bearer token" S pull "$fake/good/img:two"
S rmi "$fake/good/img:two" >/dev/null
store_state >"$WORK/state1"
# -q: the progress lines (stderr) left out, the error is one line.
expect_error "a blob that lies" "$fake/badblob/img: .*does not match its digest" S pull -q "$fake/badblob/img:two"
S pull "$fake/badblob/img:two" 2>"$WORK/err" >/dev/null
expect_eq "without -q: progress, then the error as the last line" "$(tail -1 "$WORK/err" | grep -c 'does not match its digest')" 1
expect_error "a DiffID that lies" "$fake/baddiff/img: layer 2 (sha256:.*) does not match its DiffID sha256:0000" \
  S pull -q "$fake/baddiff/img:two"
expect_error "a huge manifest" "$fake/hugemanifest/img: manifest two: .*over 4 MiB" S pull "$fake/hugemanifest/img:two"
expect_error "a short body" "$fake/shortbody/img: blob sha256:" S pull -q "$fake/shortbody/img:two"
expect_error "no such repository" "$fake/good/img: manifest nope: HTTP 404" S pull "$fake/good/img:nope"
expect_error "a registry that fails" "$fake/broken/img: manifest two: HTTP 500 (UNKNOWN: it broke)" S pull "$fake/broken/img:two"
expect_error "a registry that refuses" "$fake/forbidden/img: manifest two: HTTP 403 (DENIED: not for you)" \
  S pull "$fake/forbidden/img:two"
expect_error "a bad reference" "invalid reference" S pull "Bad/Name:x"
expect_eq "blobs cut short are kept to resume" "$(ls "$STRATA_ROOT/partial" | wc -l)" 2  # both layers
expect_ok "prune" S system prune -f
grep -q "partial/" "$WORK/out" && ok || fail "prune did not name the partial blob: $(cat "$WORK/out")"
expect_eq "store unchanged by faults (after prune)" "$(store_state)" "$(cat "$WORK/state1")"
expect_ok "an index: the host's platform" S pull -q "$fake/multi/img:two"
expect_eq "the amd64 image has both layers" "$(S image inspect "$fake/multi/img:two" | grep -c '^  ')" 2
S rmi "$fake/multi/img:two" >/dev/null
expect_error "an index: --platform picks another entry" "$fake/multi/img: the image is for linux/amd64, not linux/arm64/v8" \
  S pull --platform linux/arm64/v8 "$fake/multi/img:two"
expect_error "an index without the platform" "$fake/multi/img: .*linux/s390x" S pull --platform linux/s390x "$fake/multi/img:two"
base_digest=$(python3 -c 'import json,sys; print([m["digest"] for m in json.load(open(sys.argv[1]))["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "base"][0])' "$WORK/oci/index.json")
expect_error "a manifest that is not the digest asked for" "$fake/wrongdigest/img: manifest $base_digest does not match its digest" \
  S pull "$fake/wrongdigest/img@$base_digest"
expect_ok "blobs from storage a redirect names, without the registry's credentials" \
  S pull "$fake/redirect/img:two"
expect_eq "every blob came from storage" "$(grep -c '^storage ' "$WORK/ranges")" 3  # two layers, the config
S rmi "$fake/redirect/img:two" >/dev/null
expect_ok "429 is retried" S pull "$fake/busy/img:two"
S rmi "$fake/busy/img:two" >/dev/null
expect_ok "a dropped connection resumes" S pull "$fake/resume/img:two"
grep -q '^bytes=[1-9][0-9]*-$' "$WORK/ranges" && ok || fail "no Range request: $(cat "$WORK/ranges")"
expect_ok "fsck" S fsck
finish
