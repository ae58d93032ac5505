#!/bin/bash
# Container lifecycle end to end with runc: signals to an attached run reach
# the container, a second Ctrl-C stops it, the CLI's death changes nothing,
# run -d / logs / stop / kill / wait, rm of a running or mounted container,
# docker's exit statuses, unknown flags refused. Every process and mount this
# test starts is gone at its end, even on failure.
source "$(dirname "$0")/lib.sh"
command -v runc >/dev/null || { echo "runc is missing"; exit 1; }
S() { "$STRATA" "$@"; }
cleanup() {
  for c in $("$STRATA" ps -q 2>/dev/null); do "$STRATA" rm -f "$c" >/dev/null 2>&1; done
  pkill -f "strata-monitor --root $STRATA_ROOT" 2>/dev/null
  grep -o "$WORK[^ ]*" /proc/mounts | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
# wait_for WHAT CMD...: polls up to 10 s until CMD succeeds.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
  fail "$what: timed out"
  return 1
}
state_of() { S ps -a --json | python3 -c "import json,sys; print([c['State'] for c in json.load(sys.stdin) if c['Name']=='$1'][0])"; }
state_is() { [ "$(state_of "$1")" = "$2" ]; }

rootfs=$WORK/rootfs
busybox_rootfs "$rootfs"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\n' >"$rootfs/etc/group"
printf 'not a program\n' >"$rootfs/etc/motd"
tar --numeric-owner -C "$rootfs" -cf "$WORK/busybox.tar" .
expect_ok "import busybox" S import "$WORK/busybox.tar" busybox:latest
loop='trap "echo got TERM; exit 3" TERM; trap "echo got INT; exit 4" INT; while :; do sleep 0.1; done'

# --- exit statuses and refusals as docker's ---------------------------------------------
S run --rm busybox nosuch >/dev/null 2>"$WORK/err"
expect_eq "a missing command: 127" "$?" 127
expect_eq "named in one plain line" "$(cat "$WORK/err")" 'strata: error: exec: "nosuch": executable file not found in $PATH'
S run --rm busybox /etc/motd >/dev/null 2>"$WORK/err"
expect_eq "a file that is no program: 126" "$?" 126
expect_eq "one line" "$(wc -l <"$WORK/err")" 1
S run --bogus busybox true >/dev/null 2>"$WORK/err"
expect_eq "an unknown flag: 125" "$?" 125
expect_eq "named, not taken as the image" "$(cat "$WORK/err")" "strata: error: unknown flag: --bogus"
expect_eq "refused runs left no container" "$(S ps -aq | wc -l)" 0
expect_eq "-i passes standard input" "$(echo piped | S run --rm -i busybox cat)" piped
expect_eq "without -i the command reads nothing" "$(echo piped | S run --rm busybox cat)" ""

# --- docker's default hardening, and the ways out -----------------------------------------
probe='grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status | tr -s "\t" " " | tr "\n" " "; unshare -U true 2>/dev/null && echo userns || echo no-userns'
expect_eq "default: seccomp filter, no user namespaces" "$(S run --rm busybox sh -c "$probe")" "NoNewPrivs: 0 Seccomp: 2 no-userns"
expect_eq "masked /proc paths" "$(S run --rm busybox sh -c 'wc -c </proc/keys')" 0
expect_eq "--privileged: nothing masked" "$(S run --rm --privileged busybox sh -c '[ "$(wc -c </proc/keys)" -gt 0 ] && echo shown')" shown
expect_eq "--security-opt seccomp=unconfined" "$(S run --rm --security-opt seccomp=unconfined busybox sh -c "$probe")" \
  "NoNewPrivs: 0 Seccomp: 0 userns"
expect_eq "--security-opt no-new-privileges" \
  "$(S run --rm --security-opt no-new-privileges busybox sh -c "$probe")" "NoNewPrivs: 1 Seccomp: 2 no-userns"
expect_eq "--privileged" "$(S run --rm --privileged busybox sh -c "$probe")" "NoNewPrivs: 0 Seccomp: 0 userns"
S run --rm --security-opt apparmor=odd busybox true >/dev/null 2>&1
expect_eq "an unknown --security-opt: 125" "$?" 125

# --- signals to an attached run ---------------------------------------------------------
"$STRATA" run --name fwd busybox sh -c "$loop" >"$WORK/fwd.out" 2>&1 &
cli=$!
wait_for "fwd runs" state_is fwd running
kill -TERM "$cli"
wait "$cli"
expect_eq "SIGTERM to run is forwarded: the container's status" "$?" 3
expect_eq "its trap ran" "$(cat "$WORK/fwd.out")" "got TERM"
expect_eq "recorded as exited (3)" "$(S ps -a | grep -c 'Exited (3).*fwd$')" 1
expect_eq "with a real finish time" "$(S ps -a --json | python3 -c "import calendar,json,sys,time; c=[c for c in json.load(sys.stdin) if c['Name']=='fwd'][0]; print(abs(calendar.timegm(time.strptime(c['FinishedAt'], '%Y-%m-%dT%H:%M:%SZ'))-time.time())<60)")" True
expect_eq "its mount is gone" "$(grep -c "$STRATA_ROOT" /proc/mounts)" 0

# Ctrl-C is SIGINT to the terminal's process group: run in a group of its own.
setsid bash -c "exec '$STRATA' run --rm --name ctrlc busybox sh -c 'trap \"\" INT; while :; do sleep 0.1; done'" \
  >/dev/null 2>&1 &
cli=$!
wait_for "ctrlc runs" state_is ctrlc running
kill -INT -- -"$cli"
sleep 0.3
expect_eq "a first Ctrl-C the command ignores: still running" "$(state_of ctrlc)" running
kill -INT -- -"$cli"
wait "$cli"
expect_eq "a second Ctrl-C stops it (SIGKILL after the grace period)" "$?" 137
expect_eq "and --rm removed it" "$(S ps -a | grep -c ctrlc)" 0

# The CLI killed: the run goes on, and its end is recorded.
# (3 s: the checks below run within it even on a loaded machine, where one ps takes ~0.1 s)
"$STRATA" run --name orphan busybox sh -c 'sleep 3; exit 6' >/dev/null 2>&1 &
cli=$!
wait_for "orphan runs" state_is orphan running
kill -KILL "$cli"
expect_eq "ps never says Exited while it runs" "$(state_of orphan)" running
expect_eq "wait gives its status" "$(S wait orphan)" 6
expect_eq "ps -a says how it ended" "$(S ps -a | grep -c 'Exited (6).*orphan$')" 1

# The monitor ended (SIGTERM): it ends the run it owns, records it, unmounts.
id=$(S run -d --name owned busybox sleep 600)
monitor=$(pgrep -f "strata-monitor --root $STRATA_ROOT .*$id")
kill -TERM "$monitor"
wait_for "the monitor goes" bash -c "! kill -0 $monitor 2>/dev/null"
expect_eq "SIGTERM to the monitor: the container ended, recorded" "$(S ps -a | grep -c 'Exited (137).*owned$')" 1
expect_eq "and its mount is gone" "$(grep -c "$STRATA_ROOT/containers/$id" /proc/mounts)" 0
expect_ok "rm" S rm owned

# --- -t: a terminal, its size, its keys --------------------------------------------------
pty_run() { timeout 60 python3 "$(dirname "$0")/pty_run.py" "$@"; }
pty_run 30 100 'expect:# |send:stty size\n|expect:30 100|resize:40:120|send:stty size\n|expect:40 120|send:echo sleep""ing; sleep 60\n|expect:sleeping|wait:0.5|ctrl:c|send:echo after""wards\n|expect:afterwards|send:echo $TERM; tty; exit 7\n' \
  -- "$STRATA" run --rm -it busybox sh >"$WORK/tty.out" 2>&1
status=$?
expect_eq "-it: the container's status" "$status" 7
[ "$status" = 7 ] || sed 's/^/  tty: /' "$WORK/tty.out"
expect_eq "its terminal has the caller's size" "$(grep -c '^30 100' "$WORK/tty.out")" 1
expect_eq "and follows a resize" "$(grep -c '^40 120' "$WORK/tty.out")" 1
expect_eq "Ctrl-C went to the container's sleep, not to strata" "$(grep -c '^/dev/pts/0' "$WORK/tty.out")" 1
expect_eq "TERM=xterm, as docker sets it" "$(grep -c '^xterm' "$WORK/tty.out")" 1
expect_eq "-t without -i: a terminal still" "$(S run --rm -t busybox tty | tr -d '\r')" /dev/pts/0
expect_eq "-t: output through the terminal's line discipline" "$(S run --rm -t busybox echo hi | od -An -c | tr -s ' ')" " h i \r \n"
echo x | S run --rm -it busybox true 2>"$WORK/err"
expect_eq "-it without a terminal: 125" "$?" 125
expect_eq "said as docker says it" "$(cat "$WORK/err")" "strata: error: the input device is not a TTY"
id=$(S run -dt --name bgtty busybox sh -c 'tty; sleep 60')
wait_for "a detached terminal's output reaches the log" grep -q /dev/pts/0 "$STRATA_ROOT/containers/$id/output.log"
expect_ok "stop -t 1 it" S stop -t 1 bgtty
expect_eq "ended" "$(state_of bgtty)" exited
expect_ok "rm" S rm bgtty
expect_eq "no console socket left behind" "$(ls -d /tmp/strata-console-* 2>/dev/null | wc -l)" 0

# --- run -d, logs, stop, kill -------------------------------------------------------------
id=$(S run -d --name bg busybox sh -c "echo started; $loop")
expect_eq "run -d prints the id" "${#id}" 32
expect_eq "and it runs" "$(state_of bg)" running
wait_for "its output reaches the log" grep -q started "$STRATA_ROOT/containers/$id/output.log"
expect_eq "logs" "$(S logs bg)" started
expect_error "rm of a running container is refused" "is running" S rm bg
expect_ok "stop" S stop -t 5 bg
expect_eq "stop sent SIGTERM first" "$(S logs bg | tail -n1)" "got TERM"
expect_eq "exited (3)" "$(S ps -a | grep -c 'Exited (3).*bg$')" 1
expect_ok "start without -a: detached again" S start bg
wait_for "bg runs again" state_is bg running
expect_ok "kill -s INT" S kill -s INT bg
expect_eq "the signal reached it" "$(S wait bg)" 4
expect_error "kill of a stopped container" "is not running" S kill bg
expect_ok "rm" S rm bg

# --- rm -f of a looping container writing to a volume ----------------------------------------
S run -d --name looper -v data:/data busybox sh -c 'while :; do date >>/data/log; sleep 0.1; done' >/dev/null
wait_for "the looper writes" test -s "$STRATA_ROOT/volumes/data/_data/log"
expect_error "its volume cannot go while it runs" "in use" S volume rm data
expect_ok "rm -f stops and removes it" S rm -f looper
expect_eq "gone" "$(S ps -a | grep -c looper)" 0
expect_eq "no monitor left" "$(pgrep -fc "strata-monitor --root $STRATA_ROOT")" 0
expect_eq "no mount left" "$(grep -c "$STRATA_ROOT" /proc/mounts)" 0
before=$(wc -l <"$STRATA_ROOT/volumes/data/_data/log")
sleep 0.3
expect_eq "nothing writes to the volume any more" "$(wc -l <"$STRATA_ROOT/volumes/data/_data/log")" "$before"
expect_ok "the volume can go now" S volume rm data

# --- rm of a mounted container ------------------------------------------------------------------
expect_ok "create" S create --name mounted busybox true
mkdir -p "$WORK/mnt"
expect_ok "mount it" S mount mounted "$WORK/mnt"
expect_error "rm of a mounted container is refused" "is mounted at $WORK/mnt" S rm mounted
expect_ok "rm -f unmounts it first" S rm -f mounted
expect_eq "the mount is gone" "$(findmnt -n "$WORK/mnt" | wc -l)" 0

finish
