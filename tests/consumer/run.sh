#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, then builds and runs a
# consumer program against it twice: through find_package and through pkg-config.
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d /tmp/strata-consumer.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
# The shell completions come with it, made from the CLI's own definition.
grep -q '^complete -o default -F _strata strata$' "$tmp/prefix/share/bash-completion/completions/strata" ||
  { echo "bash completion not installed"; exit 1; }
grep -q '^#compdef strata$' "$tmp/prefix/share/zsh/vendor-completions/_strata" ||
  { echo "zsh completion not installed"; exit 1; }
cmake -S "$src" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/build" >/dev/null
out=$("$tmp/build/consumer" "$tmp/store")
[ "$out" = "images: 0
containers: 0" ] || { echo "find_package consumer printed '$out'"; exit 1; }

export PKG_CONFIG_PATH=$tmp/prefix/lib/pkgconfig:$tmp/prefix/lib/x86_64-linux-gnu/pkgconfig
c++ -o "$tmp/consumer-pc" "$src/main.cc" $(pkg-config --cflags --libs strata)
out=$(LD_LIBRARY_PATH=$(pkg-config --variable=libdir strata) "$tmp/consumer-pc" "$tmp/store2")
[ "$out" = "images: 0
containers: 0" ] || { echo "pkg-config consumer printed '$out'"; exit 1; }
echo "installed strata links through find_package and pkg-config"
