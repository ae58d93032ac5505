#!/usr/bin/env bash
# Pulls from a local registry (Debian's docker-registry on 127.0.0.1) with
# strata pull, podman pull and skopeo copy (to an OCI layout), each into an
# empty store, medians of RUNS (default 3): a Debian root file system image
# (the debootstrap tar import_bench.sh makes, pushed by skopeo) and a second
# image on the same base layer, pulled after the first into the same store.
# Run as root:  bash bench/pull_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >/dev/null
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
strata=$PWD/build/release/bin/strata
bench=/var/tmp/strata-bench
[ -f "$bench/rootfs.tar" ] || bash bench/import_bench.sh >/dev/null  # makes the debootstrap tar
work=$bench/pull
rm -rf "$work" && mkdir -p "$work"
unset REGISTRY_AUTH_FILE
export CONTAINERS_STORAGE_CONF=$work/storage.conf CONTAINERS_CONF=$work/containers.conf
printf '[storage]\ndriver = "overlay"\nrunroot = "%s/run"\ngraphroot = "%s/graph"\n' "$work" "$work" >"$CONTAINERS_STORAGE_CONF"
printf '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' >"$CONTAINERS_CONF"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s/registry}}\nhttp:\n  addr: 127.0.0.1:%s\n' \
  "$work" "$port" >"$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
trap 'kill $registry_pid; podman system reset -f >/dev/null 2>&1 || true' EXIT
reg=127.0.0.1:$port
until curl -s "http://$reg/v2/" >/dev/null; do sleep 0.1; done

# The images: debian (one layer, gzip) and app (debian + a layer of its own).
podman --log-level=error import -q "$bench/rootfs.tar" localhost/debian:bench >/dev/null
skopeo copy -q containers-storage:localhost/debian:bench "oci:$work/oci:debian"
(cd "$work" && umoci unpack --image oci:debian bundle >/dev/null &&
  head -c $((20 << 20)) /dev/urandom >bundle/rootfs/app.bin && umoci repack --image oci:app bundle >/dev/null &&
  rm -rf bundle)
skopeo copy -q --dest-tls-verify=false "oci:$work/oci:debian" "docker://$reg/bench/debian:12"
skopeo copy -q --dest-tls-verify=false "oci:$work/oci:app" "docker://$reg/bench/app:1"
podman system reset -f >/dev/null 2>&1 || true
echo "image: $(skopeo inspect --raw --tls-verify=false "docker://$reg/bench/debian:12" |
  python3 -c 'import json,sys; print(sum(l["size"] for l in json.load(sys.stdin)["layers"]) // 1000000)') MB compressed"

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# time_pulls TOOL: "first second" seconds, each from an empty store
time_pulls() {
  local tool=$1 t0 t1 t2
  case $tool in
    strata) rm -rf "$work/store" ;;
    podman) podman system reset -f >/dev/null 2>&1 || true ;;
    skopeo) rm -rf "$work/skopeo" ;;
  esac
  sync; echo 3 >/proc/sys/vm/drop_caches
  pull() {
    case $tool in
      strata) STRATA_ROOT=$work/store "$strata" pull -q "$reg/bench/$1" >/dev/null ;;
      podman) podman --log-level=error pull -q --tls-verify=false "$reg/bench/$1" >/dev/null ;;
      skopeo) skopeo copy -q --src-tls-verify=false "docker://$reg/bench/$1" "oci:$work/skopeo:${1%%:*}" ;;
    esac
  }
  t0=$(now); pull debian:12; t1=$(now); pull app:1; t2=$(now)
  echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc)"
}
: >"$work/results"
for _ in $(seq "${RUNS:-3}"); do
  for tool in strata podman skopeo; do echo "$tool $(time_pulls $tool)" >>"$work/results"; done
done
echo "tool    first pull (s)  second image, same base (s)   [medians of ${RUNS:-3}, cold caches]"
for tool in strata podman skopeo; do
  first=$(awk -v t=$tool '$1 == t {print $2}' "$work/results" | median)
  second=$(awk -v t=$tool '$1 == t {print $3}' "$work/results" | median)
  printf '%-7s %14s  %14s\n' "$tool" "$first" "$second"
done
# The second pull fetches only the layer the first did not have.
STRATA_ROOT=$work/store "$strata" pull "$reg/bench/app:1" | grep -c "Already exists" |
  xargs -I{} echo "strata, app:1 after debian:12: {} layer(s) already there"
