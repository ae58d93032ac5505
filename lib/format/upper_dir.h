// The conventions of an overlayfs upper directory, shared by kernel
// overlayfs and fuse-overlayfs: how a whiteout and an opaque directory look
// on disk, and which extended attributes are the overlay's own.
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>

#include "strata/status.h"

namespace strata::upper {

inline constexpr std::string_view kWhiteoutPrefix = ".wh.";
inline constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

// A 0/0 character device: the kernel's whiteout.
inline bool IsWhiteout(const struct stat& st) {
  return S_ISCHR(st.st_mode) && st.st_rdev == 0;
}

// Creates a whiteout at dirfd/rel: a 0/0 device, or (without CAP_MKNOD) an
// empty `.wh.NAME` file beside it, as fuse-overlayfs does.
Status MakeWhiteout(int dirfd, const std::string& rel);
// Removes the `.wh.NAME` file that marks rel as deleted, if there is one.
// (A 0/0 device at rel itself is swapped away: see OverlayImpl::PlaceNewLocked.)
void RemoveWhiteoutFile(int dirfd, const std::string& rel);
// True when a `.wh.NAME` file marks rel as deleted.
bool HasWhiteoutFile(int dirfd, const std::string& rel);

// `path` is absolute (xattr calls take paths).
bool IsOpaque(const std::string& path);
Status SetOpaque(const std::string& path);
// A moved directory's origin (kernel overlayfs's redirect_dir): the xattr's
// value, "" when it has none.
std::string ReadRedirect(const std::string& path);
// Where an upper entry called `name` with `redirect` ("" for none) has its
// lower part, its directory's being at `dir_origin` ("" for the root): the
// redirect's path when absolute, else the redirect's name, or its own, there.
std::string OriginOf(std::string_view dir_origin, std::string_view name, std::string_view redirect);
Status SetRedirect(const std::string& path, const std::string& origin);

// A regular file kernel overlayfs copied up metadata only (metacopy=on): its
// data is still the lower file's (at its redirect when it has one, an
// absolute path, else at its own path in the layers below).
bool IsMetacopy(const std::string& path);
// Makes a metacopy file whole: `data` (a readable descriptor of the lower
// file's bytes, or -1 for none) written into it in place, its times kept,
// then the marks dropped (the metacopy xattr last, after an fsync, so a crash
// leaves a file that is still a metacopy, never a torn one).
Status CompleteMetacopy(const std::string& path, int data);

// trusted.overlay.*, user.overlay.*, user.fuseoverlayfs.*: never shown to users.
bool IsPrivateXattr(std::string_view name);

}  // namespace strata::upper
