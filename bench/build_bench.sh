#!/usr/bin/env bash
# Layer-cache benchmark: a 10-step build of a small real image (busybox-static
# base, ~300 source files, COPY and RUN steps) with strata and with
# `buildah bud --layers` (runc, overlay storage), in the same run:
#   cold        empty cache, base image present
#   cached      the same build again
#   one file    one source file changed: the COPY in step 8 and what follows
#   second app  another app sharing steps 1-7
# and the storage each uses after one app and after both. Run as root:
#   bash bench/build_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v buildah >/dev/null || apt-get install -y -qq buildah >/dev/null
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
bin=$PWD/build/release/bin
B=/var/tmp/strata-bench/build
rm -rf "$B" && mkdir -p "$B"
export STRATA_ROOT=$B/strata-store

# --- the base image and two apps -------------------------------------------------
rootfs=$B/rootfs
mkdir -p "$rootfs"/{bin,etc,tmp,root}
cp /bin/busybox "$rootfs/bin/busybox"
for a in $("$rootfs/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$rootfs/bin/$a"; done
echo "root:x:0:0:root:/root:/bin/sh" >"$rootfs/etc/passwd"
chmod 1777 "$rootfs/tmp"
tar --numeric-owner -C "$rootfs" -cf "$B/busybox.tar" .

make_app() { # DIR NAME
  local d=$1
  mkdir -p "$d/scripts" "$d/config"
  printf 'mkdir -p /opt/deps\nfor i in $(seq 200); do echo "dep $i" >/opt/deps/dep$i; done\n' >"$d/scripts/setup.sh"
  printf 'cat /srv/app/config/* >/srv/app/config.all\n' >"$d/scripts/configure.sh"
  for i in $(seq 10); do echo "key$i=value$i" >"$d/config/c$i.conf"; done
  for m in $(seq 20); do
    mkdir -p "$d/src/mod$m"
    for f in $(seq 15); do printf '%s module %d file %d\n' "$2" "$m" "$f" >"$d/src/mod$m/f$f.txt"; done
  done
  cat >"$d/Dockerfile" <<DF
FROM localhost/busybox:latest
ENV APP=/srv/app
WORKDIR /srv/app
COPY scripts/ /srv/app/scripts/
RUN sh scripts/setup.sh
COPY config/ /srv/app/config/
RUN sh scripts/configure.sh
COPY src/ /srv/app/src/
RUN find src -type f | wc -l >src.count && cat src/*/* | md5sum >src.md5
CMD ["sh"]
DF
}
make_app "$B/app1" app1
make_app "$B/app2" app2
cp "$B/app1/scripts/"* "$B/app2/scripts/"  # steps 1-7 identical
cp "$B/app1/config/"* "$B/app2/config/"

# --- buildah, offline, with its own storage --------------------------------------
export CONTAINERS_CONF=$B/containers.conf
cat >"$CONTAINERS_CONF" <<CONF
[containers]
netns = "none"
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
ba_root=$B/buildah-root
buildah_() { buildah --root "$ba_root" --runroot "$B/buildah-run" --storage-driver overlay "$@"; }
podman --root "$ba_root" --runroot "$B/buildah-run" --storage-driver overlay import "$B/busybox.tar" \
  localhost/busybox:latest >/dev/null 2>&1
"$bin/strata" import "$B/busybox.tar" localhost/busybox:latest >/dev/null

t() { # seconds a command takes (its output discarded)
  local s e
  s=$(date +%s.%N)
  "$@" >"$B/last.log" 2>&1 || { cat "$B/last.log"; exit 1; }
  e=$(date +%s.%N)
  echo "$e - $s" | bc
}
strata_build() { "$bin/strata" build -t "$1" "$2"; }
buildah_build() { buildah_ bud --layers --isolation oci --runtime runc --network none -t "$1" "$2"; }
kb() { du -sk "$1" | cut -f1; }

declare -A T
for tool in strata buildah; do
  T[$tool.cold]=$(t ${tool}_build app1:1 "$B/app1")
  T[$tool.cached]=$(t ${tool}_build app1:1 "$B/app1")
  [ $tool = strata ] && strata_steps_cached=$(grep -c "Using cache" "$B/last.log")
done
du1_strata=$(kb "$STRATA_ROOT")
du1_buildah=$(kb "$ba_root")
echo "app1 module 7 file 3, changed" >"$B/app1/src/mod7/f3.txt"
for tool in strata buildah; do
  T[$tool.onefile]=$(t ${tool}_build app1:2 "$B/app1")
  [ $tool = strata ] && strata_onefile_log=$(grep -E "^Step|Using cache" "$B/last.log")
  T[$tool.app2]=$(t ${tool}_build app2:1 "$B/app2")
  [ $tool = strata ] && strata_app2_cached=$(grep -c "Using cache" "$B/last.log")
done
du2_strata=$(kb "$STRATA_ROOT")
du2_buildah=$(kb "$ba_root")

printf '\n%-12s %10s %10s %8s\n' "build" "strata s" "buildah s" "ratio"
for row in cold cached onefile app2; do
  printf '%-12s %10.3f %10.3f %8.3f\n' "$row" "${T[strata.$row]}" "${T[buildah.$row]}" \
    "$(echo "${T[strata.$row]} / ${T[buildah.$row]}" | bc -l)"
done
printf '\n%-22s %12s %12s\n' "storage (KiB)" "strata" "buildah"
printf '%-22s %12s %12s\n' "after app1" "$du1_strata" "$du1_buildah"
printf '%-22s %12s %12s\n' "after app1 + app2" "$du2_strata" "$du2_buildah"
printf '%-22s %12s %12s\n' "app2 added" "$((du2_strata - du1_strata))" "$((du2_buildah - du1_buildah))"
echo
echo "strata, fully cached rebuild: $strata_steps_cached of 7 layer steps from the cache"
echo "strata, one-file change: steps served from the cache:"
echo "$strata_onefile_log" | grep -B1 "Using cache" | grep '^Step' | sed 's/^/  /'
echo "strata, second app: $strata_app2_cached layer steps from the cache"
