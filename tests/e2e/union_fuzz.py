#!/usr/bin/env python3
"""Random operations on a union, for a side-by-side run against kernel overlayfs.

usage: union_fuzz.py MOUNT SEED COUNT

Makes COUNT operations (create, write, truncate, unlink, mkdir, rmdir, rename
with and without NOREPLACE/EXCHANGE, link, symlink, chmod, xattrs, utimes,
reads, stats, listings) on a few names, chosen by SEED, and prints each one's
result: ok (with what it saw) or the errno's name. The same seed on two unions
over the same layers must print the same lines.
"""
import ctypes
import errno
import os
import random
import stat
import sys

RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
DIRS = [".", "d1", "d2", "d1/s", "d2/s", "d3"]
NAMES = ["a", "b", "c", "d", "s"]

mount, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.chdir(mount)
rnd = random.Random(seed)
libc = ctypes.CDLL(None, use_errno=True)


def path():
    return os.path.normpath(rnd.choice(DIRS) + "/" + rnd.choice(NAMES))


def rename2(old, new, flags):
    if libc.renameat2(-100, old.encode(), -100, new.encode(), flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def with_fd(name, flags, use):
    fd = os.open(name, flags)
    try:
        return use(fd)
    finally:
        os.close(fd)


def create():
    excl = os.O_EXCL if rnd.random() < 0.3 else 0
    os.close(os.open(path(), os.O_CREAT | os.O_WRONLY | excl, 0o644))


def write():
    data = bytes([65 + rnd.randrange(26)]) * rnd.randrange(1, 50)
    offset = rnd.randrange(0, 100)
    with_fd(path(), os.O_WRONLY, lambda fd: os.pwrite(fd, data, offset))


def append():
    data = b"x" * rnd.randrange(1, 9)
    with_fd(path(), os.O_WRONLY | os.O_APPEND, lambda fd: os.write(fd, data))


def show_stat():
    st = os.lstat(path())
    # A directory's size and link count may differ by design (docs/ARCHITECTURE.md).
    is_dir = stat.S_ISDIR(st.st_mode)
    return "%o %d %d" % (st.st_mode, 0 if is_dir else st.st_size, 0 if is_dir else st.st_nlink)


OPERATIONS = {
    "create": create,
    "write": write,
    "append": append,
    "trunc": lambda: os.truncate(path(), rnd.randrange(0, 40)),
    "unlink": lambda: os.unlink(path()),
    "mkdir": lambda: os.mkdir(path()),
    "rmdir": lambda: os.rmdir(path()),
    "rename": lambda: os.rename(path(), path()),
    "rename_noreplace": lambda: rename2(path(), path(), RENAME_NOREPLACE),
    "exchange": lambda: rename2(path(), path(), RENAME_EXCHANGE),
    "link": lambda: os.link(path(), path()),
    "symlink": lambda: os.symlink(rnd.choice(NAMES), path()),
    "chmod": lambda: os.chmod(path(), rnd.choice([0o600, 0o644, 0o755, 0o700])),
    "setxattr": lambda: os.setxattr(path(), "user." + rnd.choice("xy"),
                                    b"v%d" % rnd.randrange(10), follow_symlinks=False),
    "rmxattr": lambda: os.removexattr(path(), "user." + rnd.choice("xy"), follow_symlinks=False),
    "utime": lambda: os.utime(path(), (rnd.randrange(1, 10**9), rnd.randrange(1, 10**9)),
                              follow_symlinks=False),
    "read": lambda: with_fd(path(), os.O_RDONLY, lambda fd: os.read(fd, 200)).hex(),
    "stat": show_stat,
    "listdir": lambda: ",".join(sorted(os.listdir(rnd.choice(DIRS)))),
}

for i in range(count):
    kind = rnd.choice(sorted(OPERATIONS))
    try:
        seen = OPERATIONS[kind]()
        result = "ok" if seen is None else "ok " + str(seen)
    except OSError as e:
        result = errno.errorcode.get(e.errno, str(e.errno))
    print(i, kind, result)
