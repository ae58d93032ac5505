#include "runtime/seccomp.h"

#include <seccomp.h>
#include <sys/utsname.h>

#include <algorithm>

#include "runtime/seccomp_profile.h"  // generated: kDockerSeccompProfile
#include "strata/text.h"

namespace strata {

using nlohmann::json;

namespace {

// The native architecture as libseccomp names it, and as docker's profile
// names it in "arches" (Go's GOARCH).
struct NativeArch {
  std::string scmp;    // SCMP_ARCH_X86_64
  std::string goarch;  // amd64
};

NativeArch Native() {
  switch (seccomp_arch_native()) {
    case SCMP_ARCH_X86_64: return {"SCMP_ARCH_X86_64", "amd64"};
    case SCMP_ARCH_AARCH64: return {"SCMP_ARCH_AARCH64", "arm64"};
    case SCMP_ARCH_X86: return {"SCMP_ARCH_X86", "386"};
    case SCMP_ARCH_ARM: return {"SCMP_ARCH_ARM", "arm"};
    case SCMP_ARCH_PPC64LE: return {"SCMP_ARCH_PPC64LE", "ppc64le"};
    case SCMP_ARCH_S390X: return {"SCMP_ARCH_S390X", "s390x"};
    case SCMP_ARCH_RISCV64: return {"SCMP_ARCH_RISCV64", "riscv64"};
    default: return {"", ""};
  }
}

// "5.8" <= the running kernel?
bool KernelAtLeast(const std::string& version) {
  struct utsname u;
  if (::uname(&u) != 0) return false;
  auto parts = [](const std::string& v) {
    std::vector<uint64_t> out;
    for (const auto& p : Split(v.substr(0, v.find_first_not_of("0123456789.")), '.'))
      out.push_back(ParseUnsigned(p).value_or(0));
    return out;
  };
  return parts(u.release) >= parts(version);
}

bool Contains(const json& list, const std::string& item) {
  return list.is_array() && std::any_of(list.begin(), list.end(), [&](const json& j) { return j == item; });
}

// Docker's rule: a syscall rule applies when every capability and one
// architecture it includes are there, its minimum kernel runs, and nothing
// it excludes is.
bool Applies(const json& rule, const NativeArch& arch, const std::vector<std::string>& caps) {
  auto has_cap = [&](const json& c) { return std::find(caps.begin(), caps.end(), c) != caps.end(); };
  const json inc = rule.value("includes", json::object()), exc = rule.value("excludes", json::object());
  if (inc.contains("arches") && !inc["arches"].empty() && !Contains(inc["arches"], arch.goarch)) return false;
  if (inc.contains("caps") && !std::all_of(inc["caps"].begin(), inc["caps"].end(), has_cap)) return false;
  if (inc.contains("minKernel") && !KernelAtLeast(inc["minKernel"].get<std::string>())) return false;
  if (exc.contains("arches") && Contains(exc["arches"], arch.goarch)) return false;
  if (exc.contains("caps") && std::any_of(exc["caps"].begin(), exc["caps"].end(), has_cap)) return false;
  return true;
}

}  // namespace

Result<json> DefaultSeccompProfile(const std::vector<std::string>& capabilities) {
  json profile = json::parse(kDockerSeccompProfile, nullptr, false);
  if (!profile.is_object()) return Status::Internal("the built-in seccomp profile does not parse");
  const NativeArch arch = Native();
  if (arch.scmp.empty()) return Status::Unsupported("seccomp: no profile for this machine's architecture");
  try {
    json out = {{"defaultAction", profile.at("defaultAction")}, {"architectures", json::array()}};
    out["defaultErrnoRet"] = profile.value("defaultErrnoRet", 1);  // EPERM, as docker
    for (const json& a : profile.value("archMap", json::array())) {
      if (a.at("architecture") != arch.scmp) continue;
      out["architectures"].push_back(arch.scmp);
      for (const json& sub : a.value("subArchitectures", json::array())) out["architectures"].push_back(sub);
    }
    json syscalls = json::array();
    for (const json& rule : profile.at("syscalls")) {
      if (!Applies(rule, arch, capabilities)) continue;
      json names = json::array();
      for (const json& n : rule.at("names")) {
        if (seccomp_syscall_resolve_name(n.get<std::string>().c_str()) != __NR_SCMP_ERROR) names.push_back(n);
      }
      if (names.empty()) continue;
      json entry = {{"names", names}, {"action", rule.at("action")}};
      if (rule.contains("args") && rule["args"].is_array() && !rule["args"].empty())
        entry["args"] = rule["args"];
      if (rule.contains("errnoRet")) entry["errnoRet"] = rule["errnoRet"];
      syscalls.push_back(std::move(entry));
    }
    out["syscalls"] = std::move(syscalls);
    return out;
  } catch (const json::exception& e) {
    return Status::Internal(std::string("the built-in seccomp profile: ") + e.what());
  }
}

}  // namespace strata
