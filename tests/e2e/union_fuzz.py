#!/usr/bin/env python3
"""Random operations on a union, for a side-by-side run against kernel overlayfs.

usage: union_fuzz.py MOUNT SEED COUNT
Makes COUNT operations (create, write, truncate, unlink, mkdir, rmdir, rename
with and without NOREPLACE/EXCHANGE, link, symlink, chmod, xattrs, utimes,
reads, stats, listings) on a small set of names, chosen by SEED, and prints
each one's result: ok (with what it read) or the errno's name. The same seed
on two unions over the same layers must print the same lines.
"""
import os, sys, errno, random, ctypes
m, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.chdir(m)
rnd = random.Random(seed)
libc = ctypes.CDLL(None, use_errno=True)
dirs = [".", "d1", "d2", "d1/s", "d2/s", "d3"]
names = ["a", "b", "c", "d", "s"]
def p(): return os.path.normpath(rnd.choice(dirs) + "/" + rnd.choice(names))
def rn2(a, b, fl):
    if libc.renameat2(-100, a.encode(), -100, b.encode(), fl) != 0:
        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
ops = {
 "create": lambda: os.close(os.open(p(), os.O_CREAT | os.O_WRONLY | (os.O_EXCL if rnd.random() < .3 else 0), 0o644)),
 "write": lambda: (lambda fd: (os.pwrite(fd, bytes([65 + rnd.randrange(26)]) * rnd.randrange(1, 50), rnd.randrange(0, 100)), os.close(fd)))(os.open(p(), os.O_WRONLY)),
 "append": lambda: (lambda fd: (os.write(fd, b"x" * rnd.randrange(1, 9)), os.close(fd)))(os.open(p(), os.O_WRONLY | os.O_APPEND)),
 "trunc": lambda: os.truncate(p(), rnd.randrange(0, 40)),
 "unlink": lambda: os.unlink(p()),
 "mkdir": lambda: os.mkdir(p()),
 "rmdir": lambda: os.rmdir(p()),
 "rename": lambda: os.rename(p(), p()),
 "rename_nr": lambda: rn2(p(), p(), 1),
 "exchange": lambda: rn2(p(), p(), 2),
 "link": lambda: os.link(p(), p()),
 "symlink": lambda: os.symlink(rnd.choice(names), p()),
 "chmod": lambda: os.chmod(p(), rnd.choice([0o600, 0o644, 0o755, 0o700])),
 "setxattr": lambda: os.setxattr(p(), "user." + rnd.choice("xy"), b"v" + bytes([48 + rnd.randrange(10)]), follow_symlinks=False),
 "rmxattr": lambda: os.removexattr(p(), "user." + rnd.choice("xy"), follow_symlinks=False),
 "utime": lambda: os.utime(p(), (rnd.randrange(1, 10**9), rnd.randrange(1, 10**9)), follow_symlinks=False),
 "read": lambda: (lambda fd: (os.read(fd, 200), os.close(fd)))(os.open(p(), os.O_RDONLY)),
 "stat": lambda: os.lstat(p()),
 "listdir": lambda: sorted(os.listdir(rnd.choice(dirs))),
}
keys = sorted(ops)
for i in range(n):
    k = rnd.choice(keys)
    try:
        r = ops[k]()
        res = "ok" if k != "listdir" else "ok " + ",".join(r)
        if k == "stat": res = "ok %o %d %d" % (r.st_mode, r.st_size, r.st_nlink if not (r.st_mode & 0o40000) else 0)
        if k == "read": res = "ok"
    except OSError as e:
        res = errno.errorcode.get(e.errno, str(e.errno))
    print(i, k, res)
