// Docker's default seccomp profile as an OCI runtime-spec "seccomp" section.
//
// The profile is docker's own default.json, as Debian 12 ships it in
// golang-github-docker-docker-dev 20.10.24 (Apache-2.0), kept as
// runtime/docker-seccomp-default.json and built into the library. Like docker, it
// is resolved for this machine before use: rules for other architectures,
// for capabilities the process lacks, or for newer kernels are dropped, and
// the architectures are the native one and its sub-architectures (libseccomp
// names them); syscall names libseccomp does not know are left out.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "strata/status.h"

namespace strata {

Result<nlohmann::json> DefaultSeccompProfile(const std::vector<std::string>& capabilities);

}  // namespace strata
