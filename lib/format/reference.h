// Image references: "name[:tag]" as Docker spells them.
#pragma once

#include <string>
#include <string_view>

#include "strata/status.h"

namespace strata {

// "busybox" -> "busybox:latest"; refuses what the distribution reference
// grammar refuses. docker.io/library/busybox, library/busybox and busybox are
// one name ("busybox:latest"), and so are localhost/x:1 and x:1 ("x:1").
Result<std::string> NormalizeReference(std::string_view ref);

// A normalized name with its registry spelled out, as containerd names
// images: "busybox:latest" -> "docker.io/library/busybox:latest",
// "team/app:1" -> "docker.io/team/app:1"; "localhost:5000/x:1" stays.
std::string QualifiedReference(const std::string& normalized);

// True for a string that can only be an id or id prefix (lowercase hex).
bool LooksLikeId(std::string_view s);

// Volume and container names, as Docker allows them: [a-zA-Z0-9][a-zA-Z0-9_.-]+.
// `what` ("volume", "container") names the kind in the error.
Status CheckObjectName(const char* what, const std::string& name);

}  // namespace strata
