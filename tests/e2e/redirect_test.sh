#!/usr/bin/env bash
# Directory renames (overlayfs's redirect_dir) against kernel overlayfs with
# redirect_dir=on over the same layers, entry for entry: a merged directory
# renamed in its directory and across directories, moved again, moved back,
# one inside another; hardlinks, whiteouts and opaque directories inside.
# Checked after the renames, after a remount, with the kernel mounting
# strata's upper directory, and after a rotation (each upper directory
# becomes a lower layer of the next mount, renamed again there); in both of
# strata-fuse's forms (a store image, and -o lowerdir=). Then `strata diff`
# and `strata commit` of a container whose directories were renamed.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/layers.sh"
[ -c /dev/fuse ] || { echo "FAIL: /dev/fuse is missing"; exit 1; }
S() { "$STRATA" "$@"; }
mkdir -p "$WORK"/{img,dirs,ref,check,img2,dirs2,ref2,cmnt,cref}
mounts() { for m in img dirs ref check img2 dirs2 ref2 cmnt cref; do echo "$WORK/$m"; done; }
trap 'for m in $(mounts); do umount "$m" 2>/dev/null; done; rm -rf "$WORK"' EXIT
make_stack_image
make_kernel_lowers
lowers="$WORK/k2:$WORK/k1:$WORK/k0"
fresh() { for d in "$@"; do rm -rf "$WORK/$d" && mkdir -p "$WORK/$d"; done; }

renames() {  # the same renames, through each mount
  python3 - "$1" <<'PY'
import os, sys
m = sys.argv[1]
os.rename(m + "/keep", m + "/keep2")                  # merged from three layers, in its directory
os.rename(m + "/bin", m + "/srv/bin")                  # across directories
os.rename(m + "/keep2", m + "/srv/keep3")              # a renamed one moved again
os.rename(m + "/srv/keep3", m + "/keep")               # and back to its first name
os.rename(m + "/srv/bin", m + "/bin2")
os.rename(m + "/keep/inner", m + "/keep/inner2")       # one inside a moved one
open(m + "/bin2/new", "w").write("new\n")              # a file made in a moved directory
os.unlink(m + "/bin2/alias")                           # a lower file deleted in it
os.link(m + "/bin2/tool", m + "/bin2/tool.third")      # a hardlink made in it
os.unlink(m + "/bin2/fifo")
os.mkdir(m + "/bin2/fifo")                             # a directory where a lower entry was: opaque
open(m + "/bin2/fifo/in", "w").write("in\n")
os.rename(m + "/bin2/tool.hard", m + "/keep/tool.hard")  # a lower hardlink moved out of it
open(m + "/keep/inner2/f", "a").write("more\n")        # a lower file copied up in it
os.unlink(m + "/keep/inner2/g")
os.mkdir(m + "/srv/fresh")                             # a new directory (no redirect needed)
os.rename(m + "/srv/fresh", m + "/fresh")
os.rename(m + "/srv/www", m + "/www")                  # the whole srv/www
import shutil
shutil.rmtree(m + "/www")                              # removed after its move
os.mkdir(m + "/www")                                   # made again where the lower www was: opaque
os.rename(m + "/srv", m + "/srv-moved")                # moved below a new directory of its old name
os.mkdir(m + "/srv")
os.mkdir(m + "/srv/d")
os.rename(m + "/srv-moved", m + "/srv/d/c")
PY
}
again() {  # more renames on a mount whose lower layers hold redirects already
  python3 - "$1" <<'PY'
import os, sys
m = sys.argv[1]
os.rename(m + "/bin2", m + "/etc/bin3")
os.rename(m + "/keep/inner2", m + "/inner-top")
os.rename(m + "/keep", m + "/keep-last")
open(m + "/etc/bin3/later", "w").write("later\n")
PY
}
# The one known difference (docs/ARCHITECTURE.md): etc/passwd.link, whose other
# name a layer deleted, counts the names that remain; overlayfs the lower inode's.
same() {  # WHAT A B: listings and contents of two mounts
  expect_eq "$1: tree" "$(listing "$2" | grep -v passwd.link)" "$(listing "$3" | grep -v passwd.link)"
  expect_eq "$1: contents" "$(cd "$2" && find . -type f -exec md5sum {} + | sort)" \
    "$(cd "$3" && find . -type f -exec md5sum {} + | sort)"
  expect_eq "$1: hardlinks" "$(cd "$2" && find . -type f -links +1 -printf '%p %n\n' | grep -v passwd.link | sort)" \
    "$(cd "$3" && find . -type f -links +1 -printf '%p %n\n' | grep -v passwd.link | sort)"
}
kernel() {  # MOUNTPOINT LOWERS UPPER WORK
  mount -t overlay overlay -o "lowerdir=$2,upperdir=$3,workdir=$4,redirect_dir=on" "$1"
}

fresh u-img w-img u-dirs w-dirs u-ref w-ref
expect_ok "image form" strata_fuse --image stack:2 --upper "$WORK/u-img" --work "$WORK/w-img" "$WORK/img"
expect_ok "lowerdir form" strata_fuse -o "lowerdir=$lowers,upperdir=$WORK/u-dirs,workdir=$WORK/w-dirs" "$WORK/dirs"
kernel "$WORK/ref" "$lowers" "$WORK/u-ref" "$WORK/w-ref"
bin_ino=$(stat -c %i "$WORK/img/bin")
for m in img dirs ref; do renames "$WORK/$m"; done
expect_eq "a moved directory keeps its inode number" "$(stat -c %i "$WORK/img/bin2")" "$bin_ino"
expect_eq "renames of merged directories succeed (no EXDEV)" "$(ls -d "$WORK/img/keep" "$WORK/img/bin2" | wc -l)" 2
same "image form" "$WORK/img" "$WORK/ref"
same "lowerdir form" "$WORK/dirs" "$WORK/ref"
expect_eq "the redirects the kernel writes" \
  "$(cd "$WORK/u-img" && getfattr -R --absolute-names -n trusted.overlay.redirect . 2>/dev/null | grep -v '^$' | paste -sd' ')" \
  "$(cd "$WORK/u-ref" && getfattr -R --absolute-names -n trusted.overlay.redirect . 2>/dev/null | grep -v '^$' | paste -sd' ')"

# Remounted on the same upper directories: the redirects are read back.
for m in img dirs ref; do umount "$WORK/$m"; done
strata_fuse --image stack:2 --upper "$WORK/u-img" --work "$WORK/w-img" "$WORK/img"
strata_fuse -o "lowerdir=$lowers,upperdir=$WORK/u-dirs,workdir=$WORK/w-dirs" "$WORK/dirs"
kernel "$WORK/ref" "$lowers" "$WORK/u-ref" "$WORK/w-ref"
same "image form, remounted" "$WORK/img" "$WORK/ref"
expect_eq "a new directory and the one moved below it have inode numbers of their own" \
  "$(find "$WORK/img" "$WORK/dirs" >/dev/null 2>"$WORK/find.err"; echo $?; cat "$WORK/find.err")" 0
expect_eq "readdir's inode number is stat's for a moved directory" \
  "$(ls -i "$WORK/img" | awk '$2 == "bin2" {print $1}')" "$(stat -c %i "$WORK/img/bin2")"
same "lowerdir form, remounted" "$WORK/dirs" "$WORK/ref"
# The kernel mounts strata's upper directory with the same result.
umount "$WORK/img"
fresh w-check
kernel "$WORK/check" "$lowers" "$WORK/u-img" "$WORK/w-check"
same "kernel over strata's upper" "$WORK/check" "$WORK/ref"
umount "$WORK/check"
umount "$WORK/dirs"
umount "$WORK/ref"

# Rotation: each upper directory becomes the top lower layer; renamed again there.
fresh u-dirs2 w-dirs2 u-ref2 w-ref2
expect_ok "rotated, lowerdir form" \
  strata_fuse -o "lowerdir=$WORK/u-dirs:$lowers,upperdir=$WORK/u-dirs2,workdir=$WORK/w-dirs2" "$WORK/dirs2"
kernel "$WORK/ref2" "$WORK/u-ref:$lowers" "$WORK/u-ref2" "$WORK/w-ref2"
same "rotated" "$WORK/dirs2" "$WORK/ref2"
again "$WORK/dirs2" && again "$WORK/ref2"
same "rotated, renamed again" "$WORK/dirs2" "$WORK/ref2"
umount "$WORK/dirs2"
strata_fuse -o "lowerdir=$WORK/u-dirs:$lowers,upperdir=$WORK/u-dirs2,workdir=$WORK/w-dirs2" "$WORK/dirs2"
same "rotated, remounted" "$WORK/dirs2" "$WORK/ref2"
umount "$WORK/dirs2"

# A container whose directories were renamed: diff names the move, commit
# holds the moved directories whole, and its image shows what the kernel shows.
cid=$(S create --name renamer stack:2 /bin/true)
expect_ok "mount the container" S mount renamer "$WORK/cmnt"
renames "$WORK/cmnt"
expect_ok "umount" S umount "$WORK/cmnt"
S diff renamer >"$WORK/diff"
expect_eq "diff: the old name deleted" "$(grep -cx 'D /bin' "$WORK/diff")" 1
expect_eq "diff: the moved directories added, with what they hold" \
  "$(grep -cxE 'A /(bin2|bin2/tool|bin2/new|bin2/tool.third|fresh)' "$WORK/diff")" 5
expect_ok "commit" S commit renamer renamed:1
fresh u-cref w-cref
kernel "$WORK/cref" "$lowers" "$WORK/u-ref" "$WORK/w-cref"
expect_ok "mount the committed image" S mount renamed:1 "$WORK/img2"
same "committed image" "$WORK/img2" "$WORK/cref"
S umount "$WORK/img2"
# Rotated in the image form: the committed image under a writable mount, renamed again.
fresh u-img2 w-img2 u-cref2 w-cref2
umount "$WORK/cref"
mkdir -p "$WORK/cref"
kernel "$WORK/cref" "$WORK/u-ref:$lowers" "$WORK/u-cref2" "$WORK/w-cref2"
expect_ok "committed image, writable" \
  strata_fuse --image renamed:1 --upper "$WORK/u-img2" --work "$WORK/w-img2" "$WORK/img2"
again "$WORK/img2" && again "$WORK/cref"
same "committed image, renamed again" "$WORK/img2" "$WORK/cref"
umount "$WORK/img2"
umount "$WORK/cref"
kernel "$WORK/cref" "$lowers" "$WORK/u-ref" "$WORK/w-cref"
expect_ok "save it" S save renamed:1 -o "$WORK/renamed.tar"
# load refuses overlay xattrs in layers: the moved directories went out as plain ones.
expect_ok "load it elsewhere: standalone layers" env STRATA_ROOT="$WORK/store-b" "$STRATA" load -i "$WORK/renamed.tar"
STRATA_ROOT=$WORK/store-b S mount renamed:1 "$WORK/img2"
same "the loaded image" "$WORK/img2" "$WORK/cref"
STRATA_ROOT=$WORK/store-b S umount "$WORK/img2"
umount "$WORK/cref"
S rm renamer >/dev/null
finish
