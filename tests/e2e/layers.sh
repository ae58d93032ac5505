# The three-layer fixture of the mount tests: stack:0, stack:1, stack:2 in
# the store (made by GNU tar from directories, so every directory is
# explicit), and the same layers extracted for kernel overlayfs as
# $WORK/k0 $WORK/k1 $WORK/k2 (lowerdir=$WORK/k2:$WORK/k1:$WORK/k0).

make_stack_image() {
  # Three layers, each made by GNU tar from a directory: every directory is explicit.
  l0=$WORK/l0 l1=$WORK/l1 l2=$WORK/l2
  mkdir -p "$l0"/{etc,bin,data/sub,keep/inner,replace-me} "$l1"/{etc,data,keep,newdir} "$l2"/{etc,keep/inner}
  echo "root:x:0:0" >"$l0/etc/passwd"
  echo "box" >"$l0/etc/hostname"
  printf 'binary' >"$l0/bin/tool" && chmod 4755 "$l0/bin/tool"
  ln -s tool "$l0/bin/alias"
  ln "$l0/bin/tool" "$l0/bin/tool.hard"
  ln "$l0/etc/passwd" "$l0/etc/passwd.link"
  echo "same bytes" >"$l0/data/a" && echo "same bytes" >"$l0/data/b"
  echo old >"$l0/data/sub/old"
  echo inner >"$l0/keep/inner/f"
  echo x >"$l0/replace-me/x"
  mkfifo "$l0/bin/fifo"
  setfattr -n user.origin -v base "$l0/etc/hostname"
  chown 1000:1000 "$l0/data/a"
  echo owned >"$l0/bin/owned" && chown 1000:1000 "$l0/bin/owned"
  mkdir -p "$l0/srv/www" && echo page >"$l0/srv/www/index.html"  # untouched by changes()
  mkdir -p "$l0/io" && seq 1 20000 >"$l0/io/blocks"       # untouched by changes()
  truncate -s 16M "$l0/bin/sparse"                        # holes, kept by tar --sparse
  printf head | dd of="$l0/bin/sparse" conv=notrunc status=none
  printf middle | dd of="$l0/bin/sparse" bs=1M seek=8 conv=notrunc status=none

  echo "layer1" >"$l1/etc/hostname"                      # replaces a lower file
  touch "$l1/etc/.wh.passwd"                              # deletes passwd (passwd.link stays)
  touch "$l1/data/.wh..wh..opq"                           # hides a, b, sub
  echo fresh >"$l1/data/fresh"
  echo "top" >"$l1/newdir/top"
  echo "was a dir" >"$l1/replace-me.tmp" && mv "$l1/replace-me.tmp" "$l1/replace-me"
  echo added >"$l1/keep/added"

  echo "layer2" >"$l2/etc/motd"
  echo inner2 >"$l2/keep/inner/g"
  touch "$l2/.wh.newdir"                                  # deletes a whole directory
  chmod 700 "$l2/keep"                                    # directory metadata from the top

  for i in 0 1 2; do tar --xattrs --numeric-owner --sparse -C "$WORK/l$i" -cf "$WORK/l$i.tar" .; done
  "$STRATA" import "$WORK/l0.tar" stack:0 >/dev/null
  "$STRATA" import "$WORK/l1.tar" stack:1 --from stack:0 >/dev/null
  "$STRATA" import "$WORK/l2.tar" stack:2 --from stack:1 >/dev/null
}

make_kernel_lowers() {
  # The kernel reference: each layer extracted, whiteouts as overlayfs wants them.
  for i in 0 1 2; do
    d=$WORK/k$i
    mkdir -p "$d"
    tar --xattrs --numeric-owner -C "$d" -xpf "$WORK/l$i.tar"
    find "$d" -name '.wh..wh..opq' | while read -r m; do
      setfattr -n trusted.overlay.opaque -v y "$(dirname "$m")" && rm "$m"
    done
    find "$d" -name '.wh.*' | while read -r w; do
      n=$(dirname "$w")/$(basename "$w" | sed 's/^\.wh\.//')
      rm "$w" && mknod "$n" c 0 0
    done
  done
}

# One line per entry: type, mode, owner; for non-directories also size, link
# count, symlink target and (with "times") mtime.
listing() {
  local fmt='%p %y %m %U:%G %s %n %l\n'
  [ "${2:-}" = times ] && fmt='%p %y %m %U:%G %s %n %l %T@\n'
  (cd "$1" && find . -mindepth 1 \( -type d -printf '%p %y %m %U:%G\n' \) -o \( -printf "$fmt" \) | sort)
}

changes() {  # the same changes, run in each mount
  cd "$1" || return 1
  echo new >etc/newfile                      # create
  echo appended >>etc/hostname               # copy-up on write
  chmod 600 bin/tool                         # copy-up on chmod
  chown 1234:5678 keep/inner/f               # copy-up on chown
  rm keep/added                              # whiteout of a lower file
  rm -r data                                 # whiteouts, then of a directory
  mkdir data && echo again >data/again       # made again: opaque
  mv etc/motd etc/motd.moved                 # rename of a lower file
  mv keep keep2                              # a merged directory: renamed, with a redirect
  ln bin/alias bin/alias.hard                # hardlink to a lower entry
  ln -s /etc/hostname sym                    # symlink
  mkfifo fifo2                               # mknod
  truncate -s 2 replace-me                   # truncate
  setfattr -n user.new -v value etc/hostname # xattr
  setfattr -n user.tmp -v 1 etc/hostname && setfattr -x user.tmp etc/hostname
  touch -m -d @1000000000 etc/passwd.link    # utimens
  mkdir -p a/b/c && echo deep >a/b/c/f && rm -rf a/b
  mv etc/newfile newfile-top                 # rename across directories
  echo over >over && mv over newfile-top     # rename over an existing file
  mkdir emptydir && rmdir emptydir
  : >etc/hostname.trunc && echo x >bin/.hidden
  cd - >/dev/null
}

# Descriptors behave as on the kernel's mount: O_TRUNC, a file opened for
# writing and closed unwritten, files unlinked or renamed over while open
# (from below and from above), and a directory read while it is emptied.
descriptors() { python3 - "$1" <<'PY'
import os, sys
m = sys.argv[1]
out = []
fd = os.open(m + "/bin/owned", os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"T")
os.close(fd)
out.append(open(m + "/bin/owned", "rb").read())
os.close(os.open(m + "/etc/passwd.link", os.O_RDWR))
out.append(open(m + "/etc/passwd.link", "rb").read())
fd = os.open(m + "/bin/tool.hard", os.O_RDWR)
os.unlink(m + "/bin/tool.hard")
os.pwrite(fd, b"B", 0)
out.append((os.pread(fd, 16, 0), os.fstat(fd).st_nlink, os.path.exists(m + "/bin/tool.hard")))
os.close(fd)
fd = os.open(m + "/scratch", os.O_CREAT | os.O_RDWR, 0o600)
os.write(fd, b"first")
os.unlink(m + "/scratch")
os.pwrite(fd, b"F", 0)
os.ftruncate(fd, 3)
out.append((os.pread(fd, 16, 0), os.fstat(fd).st_nlink, os.fstat(fd).st_size))
os.close(fd)
with open(m + "/old", "w") as f:
    f.write("old data")
fd = os.open(m + "/old", os.O_RDONLY)
with open(m + "/new", "w") as f:
    f.write("new")
os.rename(m + "/new", m + "/old")
out.append((os.pread(fd, 16, 0), open(m + "/old").read()))
os.close(fd)
os.mkdir(m + "/many")
for i in range(3000):
    open(f"{m}/many/f{i}", "w").close()
seen = []
with os.scandir(m + "/many") as it:
    for e in it:
        seen.append(e.name)
        os.unlink(e.path)
out.append((len(seen), len(set(seen)), os.listdir(m + "/many")))
os.rmdir(m + "/many")
print(out)
PY
}
