#!/usr/bin/env bash
# Installs the Debian 12 packages strata needs to build, test and demo; does
# nothing when they are all present. Run as root.
set -euo pipefail
packages=(
  cmake g++ clang make pkg-config clang-format python3 tar gzip zstd attr acl procps util-linux
  libfuse3-dev fuse3 liburing-dev zlib1g-dev libxxhash-dev libzstd-dev libarchive-dev libssl-dev
  nlohmann-json3-dev libsqlite3-dev libcli11-dev catch2 libseccomp-dev libcurl4-openssl-dev
  busybox-static podman runc umoci skopeo docker-registry apache2-utils openssl zsh
  docker.io containerd libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev
  golang-github-containerd-containerd-dev libcpp-httplib-dev curl
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
