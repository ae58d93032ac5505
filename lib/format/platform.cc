// Platforms as OCI spells them, and the host's, mapped from uname's machine
// names to GOARCH names the way containerd's platforms package does.
#include <sys/utsname.h>

#include <algorithm>
#include <iterator>

#include "strata/image.h"
#include "strata/text.h"

namespace strata {

namespace {

Platform FromMachine(const std::string& machine) {
  Platform p{"linux", machine, ""};
  if (machine == "x86_64")
    p.architecture = "amd64";
  else if (machine == "aarch64" || machine == "arm64")
    p.architecture = "arm64";
  else if (machine == "i386" || machine == "i486" || machine == "i586" || machine == "i686")
    p.architecture = "386";
  else if (machine.rfind("armv", 0) == 0 && machine.size() >= 5) {
    p.architecture = "arm";
    p.variant = {'v', machine[4]};  // armv7l -> v7, armv6l -> v6
  } else if (machine == "ppc64le" || machine == "s390x" || machine == "riscv64" || machine == "mips64") {
    p.architecture = machine;
  }
  return p;
}

std::string NormalVariant(const Platform& p) {
  return p.architecture == "arm64" && p.variant == "v8" ? "" : p.variant;
}

bool IsName(const std::string& s) {
  return !s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos;
}

}  // namespace

Platform HostPlatform() {
  struct utsname u;
  if (::uname(&u) != 0) return {"linux", "amd64", ""};
  return FromMachine(u.machine);
}

Result<Platform> ParsePlatform(const std::string& text) {
  std::vector<std::string> parts = Split(text, '/');
  auto bad = [&] {
    return Status::InvalidArgument("bad platform " + text +
                                   " (want os/architecture[/variant], e.g. linux/arm64)");
  };
  if (parts.empty() || parts.size() > 3) return bad();
  for (const auto& part : parts) {
    if (!IsName(part)) return bad();
  }
  // As containerd reads it: one part is an architecture, two are os/arch
  // when the first is an os ("linux/arm64") and arch/variant otherwise ("arm/v7").
  static const char* const kOses[] = {"linux",  "windows", "darwin", "freebsd",
                                      "netbsd", "openbsd", "solaris"};
  bool first_is_os = std::find(std::begin(kOses), std::end(kOses), parts[0]) != std::end(kOses);
  if (parts.size() == 1 || (parts.size() == 2 && !first_is_os)) parts.insert(parts.begin(), "linux");
  Platform p{parts[0], parts[1], parts.size() == 3 ? parts[2] : ""};
  if (p.architecture == "x86_64") p.architecture = "amd64";
  if (p.architecture == "aarch64") p.architecture = "arm64";
  return p;
}

std::string PlatformString(const Platform& p) {
  std::string out = p.os + "/" + p.architecture;
  if (!p.variant.empty()) out += "/" + p.variant;
  return out;
}

bool PlatformMatches(const Platform& want, const Platform& have) {
  if (want.os != have.os || want.architecture != have.architecture) return false;
  std::string a = NormalVariant(want), b = NormalVariant(have);
  return a.empty() || b.empty() || a == b;
}

Status CheckHostCanRun(const Platform& platform, const std::string& what) {
  Platform host = HostPlatform();
  if (PlatformMatches(host, platform)) return Status::OK();
  return Status::Unsupported(what + " is made for " + PlatformString(platform) + " and this machine is " +
                             PlatformString(host) + ": it cannot run here");
}

}  // namespace strata
