#!/usr/bin/env bash
# The everyday CLI (issue 21): progress on a terminal and not on a pipe,
# inspect/history/ps/volume JSON in the shapes docker, podman and skopeo
# print (checked against skopeo and podman for the same images), --format,
# and the shell completions made from the CLI's definition.
source "$(dirname "$0")/lib.sh"
for tool in script skopeo podman umoci zsh; do command -v $tool >/dev/null || { echo "FAIL: $tool is not installed"; exit 1; }; done
S() { "$STRATA" "$@"; }
# on_tty CMD...: runs the command on a pseudo-terminal; prints what it wrote there.
on_tty() { script -qec "$(printf '%q ' "$@")" /dev/null; }

busybox_rootfs "$WORK/rootfs"
head -c 3000000 /dev/urandom >"$WORK/rootfs/big"
tar -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .

# --- progress -------------------------------------------------------------------------
tty_out=$(on_tty "$STRATA" import "$WORK/rootfs.tar" bb:1)
expect_eq "import on a terminal: a live line with a bar and sizes" \
  "$(echo "$tty_out" | tr '\r' '\n' | grep -cE 'Importing rootfs\.tar \[=+\] [0-9.]+MB/[0-9.]+MB done in [0-9.]+s')" 1
[ "$(printf '%s' "$tty_out" | grep -c $'\e\[1A')" -ge 1 ] && ok || fail "import on a terminal: no line redrawn"
id=$(S import "$WORK/rootfs.tar" bb:2 2>"$WORK/import.err")
expect_eq "import piped: stdout is the image id alone" "$(echo "$id" | grep -cE '^[0-9a-f]{32}$')" 1
expect_eq "import piped: no progress, no control characters" "$(grep -c $'Importing\|\e\|\r' "$WORK/import.err")" 0
expect_eq "import piped: the summary on stderr" "$(grep -c '^layer [0-9a-f]\{12\}: [0-9]* entries' "$WORK/import.err")" 1
quiet_out=$(on_tty "$STRATA" import -q "$WORK/rootfs.tar" bb:3 | tr -d '\r')
expect_eq "import -q on a terminal: the id and nothing else" "$(echo "$quiet_out" | grep -cvE '^[0-9a-f]{32}$')" 0

expect_eq "save on a terminal: exporting (compressed on the way), writing" \
  "$(on_tty "$STRATA" save bb:1 -o "$WORK/bb.tar" | tr '\r' '\n' | grep -oE '^(.\[K)?(Exporting|Compressing|Writing) [^ ]+ \[=+\].* done' | sed 's/^.\[K//' | cut -d' ' -f1 | sort -u | tr '\n' ' ')" \
  "Exporting Writing "
expect_eq "save piped: nothing on stderr" "$(S save bb:1 -o "$WORK/bb2.tar" 2>&1 | wc -c)" 0
S rmi bb:1 bb:2 bb:3 >/dev/null
expect_eq "load on a terminal: unpacking, verifying, extracting" \
  "$(on_tty "$STRATA" load -i "$WORK/bb.tar" | tr '\r' '\n' | grep -oE '(Unpacking|Verifying|Extracting) [^ ]+ \[=+\]' | cut -d' ' -f1 | sort -u | tr '\n' ' ')" \
  "Extracting Unpacking Verifying "
expect_eq "load -q: only what was loaded" "$(on_tty "$STRATA" load -q -i "$WORK/bb.tar" | tr -d '\r')" "Loaded image: bb:1"
layer=$(S image inspect bb:1 --format '{{json .GraphDriver.Data.Layers}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1])')
expect_eq "layer export on a terminal" \
  "$(on_tty "$STRATA" layer export "$layer" -o "$WORK/l.tar" | tr '\r' '\n' | grep -c "Exporting ${layer:0:12} \[=*\] .* done")" 1

mkdir -p "$WORK/ctx"
head -c 2000000 /dev/urandom >"$WORK/ctx/payload"
cat >"$WORK/ctx/Dockerfile" <<'DF'
FROM bb:1
COPY payload /srv/payload
ENV GREETING=hello PATH=/bin
LABEL org.example.team=storage
EXPOSE 8080/tcp 53/udp
VOLUME /data
WORKDIR /srv
USER 0:0
CMD ["sh", "-c", "echo hi"]
DF
build_tty=$(on_tty "$STRATA" build -t app:1 "$WORK/ctx" | tr '\r' '\n')
expect_eq "build on a terminal: COPY's bytes" "$(echo "$build_tty" | grep -c 'Copying /srv/payload \[=*\] 2MB/2MB done')" 1
expect_eq "build on a terminal: the layer commit" "$(echo "$build_tty" | grep -c 'Committing \[=*\] 2MB/2MB done')" 1
S build -t app:2 --no-cache "$WORK/ctx" >"$WORK/build.out" 2>"$WORK/build.err"
expect_eq "build piped: no progress lines" "$(grep -c 'Copying\|Committing' "$WORK/build.err" "$WORK/build.out" | awk -F: '{s+=$2} END {print s}')" 0

S run --name writer bb:1 sh -c 'head -c 1500000 /dev/zero >/made' >/dev/null
expect_eq "commit on a terminal" \
  "$(on_tty "$STRATA" commit writer made:1 | tr '\r' '\n' | grep -c 'Committing \[=*\] 1.5MB/1.5MB done')" 1
expect_eq "commit piped: the id alone" "$(S commit writer made:2 2>&1 | grep -cvE '^[0-9a-f]{32}$')" 0

# --- inspect JSON against skopeo and podman -------------------------------------------
S save app:1 -o "$WORK/app.tar"
skopeo inspect "oci-archive:$WORK/app.tar" >"$WORK/skopeo.json"
skopeo inspect --config "oci-archive:$WORK/app.tar" >"$WORK/skopeo-config.json"
S image inspect --json app:1 >"$WORK/strata.json"
same() {  # same WHAT PY_EXPR_FOR_STRATA FILE PY_EXPR_FOR_FILE
  expect_eq "$1" "$(python3 -c "import json; s=json.load(open('$WORK/strata.json'))[0]; print(json.dumps($2, sort_keys=True))")" \
    "$(python3 -c "import json; o=json.load(open('$3')); print(json.dumps($4, sort_keys=True))")"
}
same "Created as skopeo prints it" 's["Created"]' "$WORK/skopeo.json" 'o["Created"]'
same "Architecture and Os as skopeo" '[s["Architecture"], s["Os"]]' "$WORK/skopeo.json" '[o["Architecture"], o["Os"]]'
same "Labels as skopeo" 's["Config"]["Labels"]' "$WORK/skopeo.json" 'o["Labels"]'
same "Env as skopeo" 's["Config"]["Env"]' "$WORK/skopeo.json" 'o["Env"]'
same "ExposedPorts: an object, as the OCI config" 's["Config"]["ExposedPorts"]' "$WORK/skopeo-config.json" 'o["config"]["ExposedPorts"]'
same "Volumes: an object, as the OCI config" 's["Config"]["Volumes"]' "$WORK/skopeo-config.json" 'o["config"]["Volumes"]'
same "History times as the OCI config" '[h["created"] for h in s["History"]]' "$WORK/skopeo-config.json" '[h["created"] for h in o["history"]]'

podman_private vfs
trap 'podman_ system reset -f >/dev/null 2>&1; rm -rf "$WORK"' EXIT
podman_ load -i "$WORK/app.tar" >/dev/null 2>&1
podman_ image inspect "$(podman_ images -q | head -1)" >"$WORK/podman.json"
for field in Created Architecture Os; do
  same "$field as podman" "s[\"$field\"]" "$WORK/podman.json" "o[0][\"$field\"]"
done
for field in Env Cmd ExposedPorts Volumes WorkingDir User Labels; do
  same "Config.$field as podman" "s[\"Config\"][\"$field\"]" "$WORK/podman.json" "o[0][\"Config\"].get(\"$field\")"
done

# An image made elsewhere keeps its time to the nanosecond.
umoci init --layout "$WORK/uo" && umoci new --image "$WORK/uo:t" &&
  umoci config --image "$WORK/uo:t" --created=2023-06-13T21:47:54.373286052+02:00 >/dev/null 2>&1
tar -C "$WORK/uo" -cf "$WORK/uo.tar" .
S load -q -i "$WORK/uo.tar" >/dev/null
expect_eq "a loaded image's Created: RFC 3339 in UTC with nanoseconds" "$(S image inspect t --format '{{.Created}}')" \
  "2023-06-13T19:47:54.373286052Z"
S save t -o "$WORK/t.tar"
expect_eq "and saved again as skopeo reads it" "$(skopeo inspect "oci-archive:$WORK/t.tar" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Created"])')" \
  "2023-06-13T19:47:54.373286052Z"

# --- --format ---------------------------------------------------------------------------
app_id=$(S image inspect app:1 --format '{{.Id}}')
expect_eq "{{.Id}}" "$(echo "$app_id" | grep -cE '^[0-9a-f]{32}$')" 1
expect_eq "{{.Config.Env}}: as a Go template prints a list" "$(S image inspect app:1 --format '{{.Config.Env}}')" "[GREETING=hello PATH=/bin]"
expect_eq "{{json .Config.ExposedPorts}}" "$(S image inspect app:1 --format '{{json .Config.ExposedPorts}}')" '{"53/udp":{},"8080/tcp":{}}'
expect_eq "text around fields" "$(S image inspect app:1 --format 'user={{.Config.User}} dir={{.Config.WorkingDir}}')" "user=0:0 dir=/srv"
expect_eq "a JSON pointer" "$(S image inspect app:1 --format /Config/Cmd/2)" "echo hi"
expect_eq "one line per image" "$(S image inspect app:1 bb:1 --format '{{.Os}}' | wc -l)" 2
expect_error "an unsupported template" "{{range .Config.Env}} is not supported" S image inspect app:1 --format '{{range .Config.Env}}'
expect_error "a field that is not there" "no field Nope" S image inspect app:1 --format '{{.Nope}}'
expect_error "a pointer to nothing" "nothing at /Config/Nope" S image inspect app:1 --format /Config/Nope
rfc='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$'
expect_eq "history --json: Created in RFC 3339" "$(S history --json app:1 | python3 -c 'import json,sys; print(sorted(json.load(sys.stdin)[0]))')" \
  "['Comment', 'Created', 'CreatedBy', 'Id', 'Size']"
expect_eq "history --format" "$(S history app:1 --format '{{.Created}}' | grep -cvE "$rfc")" 0
expect_eq "ps --format" "$(S ps -a --format '{{.Name}} {{.State}}')" "writer exited"
expect_eq "ps: times in RFC 3339" "$(S ps -a --format '{{.Created}}|{{.FinishedAt}}' | tr '|' '\n' | grep -cvE "$rfc")" 0
S volume create keep >/dev/null
expect_eq "volume inspect: CreatedAt in RFC 3339" "$(S volume inspect keep --format '{{.CreatedAt}}' | grep -cE "$rfc")" 1

# --- shell completions ------------------------------------------------------------------
S completion bash >"$WORK/strata.bash"
complete_bash() {  # complete_bash WORD...: what bash offers for the last word
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _strata; printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' \
    _ "$WORK/strata.bash" "$@"
}
expect_eq "bash: commands" "$(complete_bash strata im)" "image images import "
expect_eq "bash: subcommands" "$(complete_bash strata image i)" "inspect "
expect_eq "bash: a subcommand's options" "$(complete_bash strata image inspect --f)" "--format "
expect_eq "bash: an option's value is a file" "$(cd "$WORK" && complete_bash strata load -i strata.ba)" "strata.bash "
expect_eq "bash: a value that looks like a command is not one" "$(complete_bash strata build -t image --no-c)" "--no-cache "
expect_eq "bash: --root anywhere" "$(complete_bash strata images --root /x -)" "$(complete_bash strata images -)"
S completion zsh >"$WORK/_strata"
expect_ok "zsh: the script parses" zsh -n "$WORK/_strata"
complete_zsh() {
  zsh -c 'compdef() { :; }; _describe() { print -l -- "${(@P)${@[-1]}}"; }; _files() { print FILES; }
          source "$1"; shift; words=("$@"); CURRENT=$#; _strata' _ "$WORK/_strata" "$@" | cut -d: -f1 | sort | tr '\n' ' '
}
expect_eq "zsh: subcommands" "$(complete_zsh strata volume '')" "create inspect ls prune rm "
expect_eq "zsh: options" "$(complete_zsh strata save -)" "--compression --help --output --quiet -h -o -q "
expect_eq "zsh: an option's value is a file" "$(complete_zsh strata save -o '')" "FILES "
finish
