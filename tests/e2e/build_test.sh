#!/bin/bash
# strata build end to end: real RUN steps with runc on a busybox-static base,
# the layer cache step by step, multi-stage, .dockerignore, and failures that
# leave the store clean.
source "$(dirname "$0")/lib.sh"
command -v runc >/dev/null || { echo "runc is missing"; exit 1; }

# --- a busybox base image -----------------------------------------------------
rootfs=$WORK/rootfs
busybox_rootfs "$rootfs"
mkdir -p "$rootfs/home/app"
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\napp:x:1000:\nstaff:x:50:\n' >"$rootfs/etc/group"
chown 1000:1000 "$rootfs/home/app"
tar --numeric-owner -C "$rootfs" -cf "$WORK/busybox.tar" .
expect_ok "import busybox" "$STRATA" import "$WORK/busybox.tar" busybox:latest

# build TAG CONTEXT [ARGS...]: output in $WORK/build.out, exit status returned
build() {
  local tag=$1 ctx=$2
  shift 2
  "$STRATA" build -t "$tag" "$@" "$ctx" >"$WORK/build.out" 2>&1
}
cached() { grep -c "Using cache" "$WORK/build.out"; }
# Layer ids of an image, one per line, bottom first.
layers() { "$STRATA" image inspect --json "$1" | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)[0]["GraphDriver"]["Data"]["Layers"]))'; }
config() { "$STRATA" image inspect --json "$1" | python3 -c "import json,sys; print(json.dumps(json.load(sys.stdin)[0]['Config']$2))"; }
# Runs a shell command in a mounted image and prints its output.
in_image() {
  local m=$WORK/mnt
  mkdir -p "$m"
  "$STRATA" mount "$1" "$m" || return 1
  (cd "$m" && sh -c "$2")
  local rc=$?
  "$STRATA" umount "$m"
  return $rc
}
# Every path with type, mode, owner and its bytes (small files as text, to
# show what differs) or link target; no mtimes.
tree_of() { in_image "$1" 'find . -mindepth 1 | sort | while read -r p; do
  if [ -L "$p" ]; then s=$(readlink "$p")
  elif [ -f "$p" ] && [ "$(stat -c %s "$p")" -lt 2048 ]; then s=$(tr "\n" "|" <"$p")
  elif [ -f "$p" ]; then s=$(md5sum <"$p" | cut -c1-32); else s=-; fi
  echo "$p $(stat -c "%F %a %u:%g" "$p") $s"; done'; }

# --- the seeds' example: two apps sharing their first three instructions -------
mkdir -p "$WORK/app1" "$WORK/app2"
echo 'print("app1")' >"$WORK/app1/app.py"
echo 'print("app2")' >"$WORK/app2/app2.py"
cat >"$WORK/app1/Dockerfile" <<'DF'
FROM busybox:latest
RUN mkdir -p /usr/lib/python && echo python >/usr/lib/python/installed
RUN echo "flask flask-mysql" >/usr/lib/python/pip-packages
COPY . /opt/source-code
ENTRYPOINT FLASK_APP=/opt/source-code/app.py flask run
DF
sed -e 's|COPY . /opt/source-code|COPY app2.py /opt/source-code/|' -e 's|app.py flask|app2.py flask|' \
  "$WORK/app1/Dockerfile" >"$WORK/app2/Dockerfile"
expect_ok "build app1" build app1 "$WORK/app1"
expect_eq "app1: nothing cached on a cold build" "$(cached)" 0
expect_eq "app1: the last line names the image" "$(tail -1 "$WORK/build.out" | cut -d' ' -f1-2)" "Successfully built"
expect_eq "app1: step lines" "$(grep -c '^Step [0-9]/5 : ' "$WORK/build.out")" 5
expect_ok "build app2" build app2 "$WORK/app2"
expect_eq "app2: both RUN steps come from the cache" "$(cached)" 2
expect_eq "app1 and app2 share base + 2 RUN layers" "$(layers app1 | awk 'NR <= 3')" "$(layers app2 | awk 'NR <= 3')"
expect_eq "the fourth layers differ" "$(layers app1 | awk 'NR == 4' | grep -c -x "$(layers app2 | awk 'NR == 4')")" 0
expect_eq "app2 has its own file" "$(in_image app2 'cat opt/source-code/app2.py')" 'print("app2")'
expect_eq "app2 lacks app1's" "$(in_image app2 'ls opt/source-code')" "app2.py"
expect_eq "the RUN really ran" "$(in_image app1 'cat usr/lib/python/pip-packages')" "flask flask-mysql"
expect_eq "RUN left no mount-point stubs" "$(in_image app1 'ls -d proc sys dev 2>/dev/null | wc -l')" 0
expect_eq "entrypoint in the config" "$(config app1 "['Entrypoint']")" \
  '["/bin/sh", "-c", "FLASK_APP=/opt/source-code/app.py flask run"]'
expect_eq "history lists the instructions" "$("$STRATA" history --no-trunc app2 | grep -c 'RUN /bin/sh -c echo "flask')" 1

# --- the cache, step by step -------------------------------------------------------
ctx=$WORK/ctx
mkdir -p "$ctx/src/lib" "$ctx/docs"
for i in $(seq 1 20); do echo "module $i" >"$ctx/src/lib/m$i.txt"; done
echo "main" >"$ctx/src/main.txt"
echo "secret" >"$ctx/src/creds.key"
echo "doc" >"$ctx/docs/readme.md"
echo "keep" >"$ctx/docs/keep.md"
printf '# comments are ignored\n**/*.key\ndocs\n!docs/keep.md\n' >"$ctx/.dockerignore"
cat >"$ctx/Dockerfile" <<'DF'
FROM busybox:latest
ARG FLAVOR=plain
ENV APP_HOME=/srv/app GREETING="hello there"
WORKDIR $APP_HOME
COPY src/ ./src/
RUN echo "$FLAVOR" >flavor.txt
COPY docs/ /srv/docs/
RUN ls -R /srv >/srv/listing.txt
USER app
RUN id -u >/tmp/uid && id -g >/tmp/gid && pwd >/tmp/cwd && echo "$GREETING" >/tmp/env
LABEL org.example.flavor=$FLAVOR
EXPOSE 8080
CMD ["sh"]
DF
expect_ok "cold build" build cache:1 "$ctx" || cat "$WORK/build.out"
expect_eq "cold: nothing cached" "$(cached)" 0
cold_id=$(tail -1 "$WORK/build.out" | awk '{print $NF}')
expect_ok "rebuild" build cache:1 "$ctx"
expect_eq "rebuild: every layer step cached (WORKDIR, 2 COPY, 3 RUN)" "$(cached)" 6
expect_eq "rebuild: the same image" "$(tail -1 "$WORK/build.out" | awk '{print $NF}')" "$cold_id"

expect_eq ".dockerignore: **/*.key excluded" "$(in_image cache:1 'ls srv/app/src | tr "\n" " "')" "lib main.txt "
expect_eq ".dockerignore: docs excluded but !docs/keep.md kept" "$(in_image cache:1 'ls srv/docs')" "keep.md"
expect_eq "USER reaches RUN (uid)" "$(in_image cache:1 'cat tmp/uid')" 1000
expect_eq "USER reaches RUN (primary gid)" "$(in_image cache:1 'cat tmp/gid')" 1000
expect_eq "WORKDIR reaches RUN" "$(in_image cache:1 'cat tmp/cwd')" /srv/app
expect_eq "ENV reaches RUN" "$(in_image cache:1 'cat tmp/env')" "hello there"
expect_eq "ARG default reaches RUN" "$(in_image cache:1 'cat srv/app/flavor.txt')" plain
expect_eq "COPY'd files are root's" "$(in_image cache:1 'stat -c %u:%g srv/app/src/main.txt')" 0:0
expect_eq "a copied-up parent keeps its mode" "$(in_image cache:1 'stat -c %a tmp')" 1777
expect_eq "config: env" "$(config cache:1 "['Env']")" '["APP_HOME=/srv/app", "GREETING=hello there"]'
expect_eq "config: user, workdir" "$(config cache:1 "['User']")$(config cache:1 "['WorkingDir']")" '"app""/srv/app"'
expect_eq "config: label with ARG" "$(config cache:1 "['Labels']")" '{"org.example.flavor": "plain"}'
expect_eq "config: exposed port" "$(config cache:1 "['ExposedPorts']")" '{"8080/tcp": {}}'

# A changed source file rebuilds its COPY and everything after it.
echo "module 7 changed" >"$ctx/src/lib/m7.txt"
expect_ok "build after a source change" build cache:2 "$ctx"
expect_eq "source change: only WORKDIR comes from the cache" "$(cached)" 1
expect_eq "source change: the new content is in" "$(in_image cache:2 'cat srv/app/src/lib/m7.txt')" "module 7 changed"
# An mtime-only change is no change.
touch -d '2001-01-01' "$ctx/src/main.txt"
expect_ok "build after touch" build cache:2 "$ctx"
expect_eq "mtime change: everything cached" "$(cached)" 6
# A file .dockerignore excludes is no change either.
echo "other secret" >"$ctx/src/creds.key"
expect_ok "build after an ignored change" build cache:2 "$ctx"
expect_eq "ignored change: everything cached" "$(cached)" 6
# A changed build arg rebuilds the first step that sees it.
expect_ok "build with --build-arg" build cache:3 "$ctx" --build-arg FLAVOR=spicy
expect_eq "build arg: WORKDIR and the first COPY cached" "$(cached)" 2
expect_eq "build arg: RUN saw it" "$(in_image cache:3 'cat srv/app/flavor.txt')" spicy
expect_eq "build arg: the label too" "$(config cache:3 "['Labels']")" '{"org.example.flavor": "spicy"}'
# A changed earlier step rebuilds every later one.
sed -i 's|RUN echo "$FLAVOR" >flavor.txt|RUN echo "$FLAVOR!" >flavor.txt|' "$ctx/Dockerfile"
expect_ok "build after an earlier step changed" build cache:4 "$ctx"
expect_eq "earlier step: WORKDIR and the first COPY cached" "$(cached)" 2
# An unused --build-arg is reported.
expect_ok "unused build arg" build cache:4 "$ctx" --build-arg NOPE=1
expect_eq "unused build arg: warned" "$(grep -c 'build-args \[NOPE\] were not consumed' "$WORK/build.out")" 1

# --no-cache gives the same content as the cached build.
expect_ok "build --no-cache" build nocache:1 "$ctx" --no-cache
expect_eq "--no-cache: nothing cached" "$(cached)" 0
expect_eq "cached and uncached builds: same tree" "$(tree_of cache:4)" "$(tree_of nocache:1)"

# --- multi-stage ------------------------------------------------------------------
ms=$WORK/multistage
mkdir -p "$ms"
echo "int main() {}" >"$ms/main.c"
cat >"$ms/Dockerfile" <<'DF'
ARG BASE=busybox:latest
FROM $BASE AS builder
COPY main.c /build/
RUN mkdir -p /out && cp /build/main.c /out/program && echo built >/out/stamp
FROM $BASE
COPY --from=builder /out/ /usr/local/bin/
COPY --from=builder --chown=app:staff --chmod=0750 /out/stamp /stamp
RUN test -f /usr/local/bin/program
DF
expect_ok "multi-stage build" build ms:1 "$ms"
expect_eq "COPY --from brought the file" "$(in_image ms:1 'cat usr/local/bin/stamp')" built
expect_eq "--chown and --chmod" "$(in_image ms:1 'stat -c "%u:%g %a" stamp')" "1000:50 750"
expect_eq "the builder stage's files are not in the final image" "$(in_image ms:1 'ls build 2>&1 | grep -c "No such"')" 1
expect_ok "--target builder" build ms:builder "$ms" --target builder
expect_eq "--target: the builder's tree" "$(in_image ms:builder 'cat build/main.c')" "int main() {}"

# --- RUN's deletions become whiteouts and opaque directories; SHELL and exec form ---
wh=$WORK/whiteouts
mkdir -p "$wh"
cat >"$wh/Dockerfile" <<'DF'
FROM busybox:latest
RUN mkdir -p /data/old && echo a >/data/old/a && echo b >/data/keep
RUN rm /etc/group && rm -rf /data/old && mkdir /data/old && echo new >/data/old/fresh
SHELL ["/bin/sh", "-ec"]
RUN echo "shell: $0" >/shell.txt
RUN ["/bin/sh", "-c", "echo exec form >/exec.txt"]
DF
expect_ok "build with deletions" build wh:1 "$wh"
expect_eq "a deleted file is gone" "$(in_image wh:1 'ls etc | tr "\n" " "')" "passwd "
expect_eq "a directory made again hides the old one" "$(in_image wh:1 'ls data/old')" "fresh"
expect_eq "its sibling stays" "$(in_image wh:1 'cat data/keep')" "b"
top=$(layers wh:1 | awk 'NR == 3')
expect_eq "the layer holds a whiteout for /etc/group" "$("$STRATA" layer export "$top" -o - | tar -t | grep -c '^etc/.wh.group$')" 1
expect_eq "the layer marks /data/old opaque" "$("$STRATA" layer export "$top" -o - | tar -t | grep -c '^data/old/.wh..wh..opq$')" 1
expect_eq "SHELL runs the shell form" "$(in_image wh:1 'cat shell.txt')" "shell: /bin/sh"
expect_eq "exec form" "$(in_image wh:1 'cat exec.txt')" "exec form"
expect_eq "SHELL in the config" "$(config wh:1 "['Shell']")" '["/bin/sh", "-ec"]'

# --- ADD ---------------------------------------------------------------------------
add=$WORK/add
mkdir -p "$add/payload/sub"
echo "inside" >"$add/payload/sub/file.txt"
ln -s sub/file.txt "$add/payload/link"
tar --numeric-owner --owner=7 --group=8 -C "$add/payload" -czf "$add/payload.tar.gz" .
rm -rf "$add/payload"
printf 'FROM busybox:latest\nADD payload.tar.gz /opt/payload/\nADD payload.tar.gz /opt/asis.bin\n' >"$add/Dockerfile"
expect_ok "ADD a local tar" build add:1 "$add"
expect_eq "ADD unpacks the tar" "$(in_image add:1 'cat opt/payload/sub/file.txt; readlink opt/payload/link')" \
  "inside
sub/file.txt"
expect_eq "ADD keeps the tar's owners" "$(in_image add:1 'stat -c %u:%g opt/payload/sub/file.txt')" 7:8
printf 'FROM busybox:latest\nADD https://example.com/x.tar /x\n' >"$add/Dockerfile"
expect_error "ADD of a URL" "builds are offline" "$STRATA" build -t add:2 "$add"

# --- RUN here-documents --------------------------------------------------------------
heredoc=$WORK/heredoc
mkdir -p "$heredoc"
printf 'FROM busybox:latest\nRUN <<EOF\necho first >/out\necho second >>/out\nEOF\nRUN cat >/greeting <<-END\n\thello from a heredoc\n\tEND\n' >"$heredoc/Dockerfile"
expect_ok "build with here-documents" "$STRATA" build -q -t heredoc:1 "$heredoc"
expect_eq "a bare <<EOF runs its body" "$(in_image heredoc:1 'cat out')" "first
second"
expect_eq "cmd <<-END feeds its body, tabs stripped" "$(in_image heredoc:1 'cat greeting')" "hello from a heredoc"

# --- failures leave the store as it was --------------------------------------------
bad=$WORK/bad
mkdir -p "$bad"
before=$(store_state)
printf 'FROM busybox:latest\nRUN echo output-of-the-failing-step; exit 3\n' >"$bad/Dockerfile"
build bad:1 "$bad"
expect_eq "a failing RUN: the build exits with its status" "$?" 3
expect_eq "a failing RUN: its output is shown" "$(grep -c '^output-of-the-failing-step$' "$WORK/build.out")" 1
expect_eq "a failing RUN: one error line naming the step" "$(grep -c 'Dockerfile:2: RUN .*non-zero code: 3' "$WORK/build.out")" 1
expect_eq "a failing RUN: store unchanged" "$(store_state)" "$before"
expect_eq "a failing RUN: no mount left" "$(grep -c "$STRATA_ROOT" /proc/mounts)" 0
expect_eq "a failing RUN: no scratch left" "$(ls "$STRATA_ROOT/tmp" | wc -l)" 0
# A build interrupted during a RUN (SIGTERM to strata, as an orchestrator sends
# it; SIGINT to its process group, as Ctrl-C does): the RUN ends, its container
# and mount go, the store is as it was.
for sig in TERM INT; do
  printf 'FROM busybox:latest\nRUN touch /started; sleep 60\nRUN echo never\n' >"$bad/Dockerfile"
  setsid "$STRATA" build --no-cache -t bad:1 "$bad" >"$WORK/build.out" 2>&1 &
  pid=$!
  for _ in $(seq 200); do grep -q "$STRATA_ROOT" /proc/mounts && [ -e "$(grep -o "$STRATA_ROOT/tmp/[^ ]*rootfs" /proc/mounts | head -n1)/started" ] && break; sleep 0.05; done
  if [ "$sig" = INT ]; then kill -INT -- -"$pid"; else kill -TERM "$pid"; fi
  wait "$pid"
  expect_eq "SIG$sig during RUN: the build exits 130" "$?" 130
  expect_eq "SIG$sig during RUN: one error line" "$(grep -c 'strata: error: .*interrupted' "$WORK/build.out")" 1
  expect_eq "SIG$sig during RUN: the next step never began" "$(grep -c 'Step 3/3' "$WORK/build.out")" 0
  expect_eq "SIG$sig during RUN: no mount left" "$(grep -c "$STRATA_ROOT" /proc/mounts)" 0
  expect_eq "SIG$sig during RUN: no scratch left" "$(ls "$STRATA_ROOT/tmp" | wc -l)" 0
  expect_eq "SIG$sig during RUN: no runtime container left" "$(runc list -q | grep -c '^strata-')" 0
  expect_eq "SIG$sig during RUN: store unchanged" "$(store_state)" "$before"
done
printf 'FROM busybox:latest\nCOPY missing.txt /\n' >"$bad/Dockerfile"
expect_error "COPY of a missing file" "Dockerfile:2: .*missing.txt" "$STRATA" build -t bad:1 "$bad"
printf 'FROM busybox:latest\nCOPY ../escape /\n' >"$bad/Dockerfile"
expect_error "COPY from outside the context" "outside the build context" "$STRATA" build -t bad:1 "$bad"
printf 'FROM nosuchimage\n' >"$bad/Dockerfile"
expect_error "FROM a missing image" "nosuchimage is not in the store" "$STRATA" build -t bad:1 "$bad"
printf 'FROM busybox:latest\nRUN ["sh", "-c"\n' >"$bad/Dockerfile"
expect_error "a parse error names file and line" "Dockerfile:2" "$STRATA" build -t bad:1 "$bad"
printf 'FROM busybox:latest\nUSER nobody\nRUN true\n' >"$bad/Dockerfile"
expect_error "USER that the image does not know" "unable to find user nobody" "$STRATA" build -t bad:1 "$bad"
printf 'FROM busybox:latest\nCOPY --from=99999999999999999999 /bin/sh /x\n' >"$bad/Dockerfile"
expect_error "COPY --from a stage number past 64 bits" "no such stage or image" "$STRATA" build -t bad:1 "$bad"
expect_eq "after all failures: store unchanged" "$(store_state)" "$before"

# --- builder prune -------------------------------------------------------------------
expect_ok "builder prune" "$STRATA" builder prune
expect_eq "images survive a prune" "$(in_image cache:1 'cat tmp/uid')" 1000
expect_ok "rmi after prune" "$STRATA" image rm ms:builder
finish
