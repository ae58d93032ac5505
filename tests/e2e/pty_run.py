#!/usr/bin/env python3
# Runs a command on a fresh pty of a given size, like a user at a terminal:
# pty_run.py ROWS COLS SCRIPT -- COMMAND...
# SCRIPT is steps split by "|": "send:TEXT" (\n for Enter), "ctrl:c" (Ctrl-C),
# "wait:SECONDS", "expect:TEXT" (wait for it in the output, 20 s at most),
# "resize:ROWS:COLS". Prints the whole output, exits with the command's status
# (99 when an expect timed out, 98 when terminated).
import fcntl, os, pty, select, signal, struct, sys, termios, time

rows, cols, script = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
command = sys.argv[sys.argv.index("--") + 1:]

def set_size(fd, r, c):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", r, c, 0, 0))

pid, master = pty.fork()
if pid == 0:
    os.execvp(command[0], command)
set_size(master, rows, cols)
out = b""

def dump_and_exit(signum, frame):  # killed by timeout(1): say what was seen so far
    sys.stdout.write(out.decode(errors="replace"))
    print("\n[pty_run: terminated]")
    sys.exit(98)
signal.signal(signal.SIGTERM, dump_and_exit)

def pump(timeout):
    global out
    r, _, _ = select.select([master], [], [], timeout)
    if not r:
        return True
    try:
        data = os.read(master, 65536)
    except OSError:
        return False
    if not data:
        return False
    out += data
    return True

status = None
for step in script.split("|") if script else []:
    kind, _, arg = step.partition(":")
    if kind == "send":
        os.write(master, arg.replace("\\n", "\r").encode())
    elif kind == "wait":
        end = time.time() + float(arg)
        while time.time() < end:
            pump(0.05)
    elif kind == "ctrl":
        os.write(master, bytes([ord(arg) & 0x1F]))
    elif kind == "expect":
        end = time.time() + 20
        while arg.encode() not in out and time.time() < end:
            if not pump(0.1):
                break
        if arg.encode() not in out:
            sys.stdout.write(out.decode(errors="replace"))
            print("\n[pty_run: no %r in the output]" % arg)
            os.kill(pid, signal.SIGKILL)
            sys.exit(99)
    elif kind == "resize":
        r, c = arg.split(":")
        set_size(master, int(r), int(c))  # the kernel sends SIGWINCH to the foreground group
end = time.time() + 30
while time.time() < end and pump(0.2):
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        status = st
        while pump(0.2):
            pass
        break
if status is None:
    _, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
